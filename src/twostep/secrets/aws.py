"""Key material from AWS Secrets Manager (`TWOSTEP_SECRET_ARN`), read once per container and cached.

The secret's value is `KeyMaterial.to_json()` (create one with `twostep keys generate --json`); SMS
provider credentials go in its `extra` object. A store that cannot be reached, or a value that is not
key material, stops start-up with `SecretStoreUnavailable` / `ConfigurationError` instead of serving.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from twostep.domain.clock import Clock
from twostep.domain.errors import ConfigurationError, SecretStoreUnavailable
from twostep.domain.keys import Algorithm, KeyMaterial, VersionedKeys
from twostep.token_settings import TokenSettings

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)

# A rotation whose write lost to another's reads the secret again and rotates from there.
ROTATE_RETRIES = 5
ROTATE_BACKOFF_SECONDS = 0.2
_SUCCESSOR_NAMESPACE = uuid.UUID("5d1e4c1a-2f0b-4f7e-9a8e-7b3c2d1f0e6a")  # names a version's successor

_cache: dict[str, VersionedKeys] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget cached key material (tests, and a container told that the secret rotated)."""
    with _cache_lock:
        _cache.clear()


class SecretsManagerKeys:
    def __init__(self, client: Any, secret_arn: str) -> None:
        self._client = client
        self._arn = secret_arn

    @classmethod
    def from_settings(cls, settings: TokenSettings, boto_session: Any = None) -> SecretsManagerKeys:
        """A key source for `settings.secret_arn`; the client is made lazily by boto3."""
        if not settings.secret_arn:
            raise ConfigurationError("TWOSTEP_SECRET_ARN is not set.")
        from twostep.aws_session import aws_session

        region = getattr(settings, "aws_region", None)  # the authorizer's settings leave it to boto3
        boto_session = aws_session(boto_session, region, "TWOSTEP_SECRET_ARN")
        return cls(boto_session.client("secretsmanager", config=CLIENT_CONFIG), settings.secret_arn)

    def load(self, clock: Clock) -> KeyMaterial:
        """The key material, from the cache after the first call in this process.

        Raises:
            SecretStoreUnavailable: Secrets Manager could not be reached or refused the read.
            ConfigurationError: the secret's value is not key material.
        """
        del clock  # keys are made by `twostep keys generate`, never on a request path
        return self.load_versioned().material

    def load_versioned(self) -> VersionedKeys:
        """`load` with the secret's version id. Raises: as `load`."""
        with _cache_lock:
            cached = _cache.get(self._arn)
        if cached is not None:
            return cached
        fetched = self._fetch()
        with _cache_lock:
            return _cache.setdefault(self._arn, fetched)

    def fetch_versioned(self) -> VersionedKeys:
        """The secret as it is now (one GetSecretValue), also kept as the cached copy. Raises: as `load`."""
        fetched = self._fetch()
        with _cache_lock:
            _cache[self._arn] = fetched
        return fetched

    def rotate(
        self, clock: Clock, algorithm: Algorithm, rsa_bits: int, activation_delay: timedelta = timedelta(0)
    ) -> KeyMaterial:
        """Store key material with a new current key; the old keys stay published until they expire.

        Running servers pick it up at their next key refresh (`TWOSTEP_KEYS_REFRESH_SECONDS`); the new key
        signs only after `activation_delay`. Each write succeeds only over the version it was made from,
        so two rotations at once both land, one after the other (see `_put_over`).

        Raises:
            SecretStoreUnavailable: the secret could not be read or written, or kept changing meanwhile.
            ConfigurationError: the secret's value is not key material.
        """
        for attempt in range(ROTATE_RETRIES):
            read = self._fetch()
            rotated = read.material.rotated(algorithm, clock.now(), rsa_bits, activation_delay)
            written = self._put_over(read.version, rotated)
            if written is not None:
                with _cache_lock:
                    _cache[self._arn] = VersionedKeys(rotated, written)
                return rotated
            time.sleep(ROTATE_BACKOFF_SECONDS * (attempt + 1))  # the store may answer the old value briefly
        raise SecretStoreUnavailable("The secret kept changing during the rotation; run it again.")

    def _put_over(self, read_version: str, rotated: KeyMaterial) -> str | None:
        """Write `rotated` as the successor of `read_version`; its version id, or None if another write
        got there first.

        PutSecretValue has no condition, but a version's id (its ClientRequestToken) can be used once:
        deriving it from the version read makes a second successor of one version fail, where a plain
        write would replace the other rotation's new key (tokens it signed would then fail everywhere,
        or a leaked key's emergency rotation would be silently undone).

        Raises:
            SecretStoreUnavailable: the write failed, and not because another rotation won.
        """
        token = str(uuid.uuid5(_SUCCESSOR_NAMESPACE, f"{self._arn}\n{read_version}"))
        try:
            self._client.put_secret_value(
                SecretId=self._arn, SecretString=rotated.to_json(), ClientRequestToken=token
            )
        except (ClientError, BotoCoreError) as exc:
            now = self._fetch()  # the error's code is not documented for this case: look at the secret
            if now.version == token and _kids(now.material) == _kids(rotated):
                return token  # written, but the answer was lost
            if now.version != read_version:
                return None
            raise SecretStoreUnavailable("The secret store could not be written.") from exc
        return token

    def _fetch(self) -> VersionedKeys:
        try:
            answer = self._client.get_secret_value(SecretId=self._arn)
        except (ClientError, BotoCoreError) as exc:
            raise SecretStoreUnavailable("The secret store could not be read.") from exc
        text = answer.get("SecretString")
        if not text:
            raise ConfigurationError("TWOSTEP_SECRET_ARN: the secret has no string value.")
        try:
            return VersionedKeys(KeyMaterial.from_json(text), str(answer.get("VersionId", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                "TWOSTEP_SECRET_ARN: the secret is not twostep key material "
                "(create it with `twostep keys generate --json`)."
            ) from exc


def _kids(material: KeyMaterial) -> set[str]:
    return {key.kid for key in material.signing_keys}


class SecretsManagerSource:
    """A `KeySource` over the secret: read once at start, then re-read at every key refresh."""

    def __init__(
        self,
        keys: SecretsManagerKeys,
        overrides: Callable[[KeyMaterial], KeyMaterial],
        algorithm: Algorithm,
        clock: Clock,
    ) -> None:
        self._keys, self._overrides, self._algorithm, self._clock = keys, overrides, algorithm, clock

    def load(self) -> VersionedKeys:
        """The keys at start. Raises: as `SecretsManagerKeys.load`; ConfigurationError also when the
        secret signs with another algorithm than `TWOSTEP_JWT_ALGORITHM` (as the database's keys do)."""
        from twostep.secrets.stored import refuse_other_algorithm

        found = self._keys.load_versioned()
        material = self._overrides(found.material)
        refuse_other_algorithm(self._algorithm, material, self._clock.now())
        return VersionedKeys(material, found.version)

    def changed_since(self, version: str) -> VersionedKeys | None:
        found = self._keys.fetch_versioned()
        if found.version == version:
            return None
        return VersionedKeys(self._overrides(found.material), found.version)
