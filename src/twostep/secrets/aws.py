"""Key material from AWS Secrets Manager (`TWOSTEP_SECRET_ARN`), read once per container and cached.

The secret's value is `KeyMaterial.to_json()` (create one with `twostep keys generate --json`), or that
with its private parts sealed by KMS (`secrets/aws_sealed.py`), which a rotation writes wherever
`TWOSTEP_KMS_KEY_ID` is set (or the secret was sealed already); SMS provider credentials go in its `extra`
object. A verifier that must not hold private keys (the authorizer) reads only the public keys of a
sealed secret. A store that cannot be reached, a sealed part KMS will not open, or a value that is not
key material, stops start-up with `SecretStoreUnavailable` / `ConfigurationError` instead of serving.
"""

from __future__ import annotations

import json
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
from twostep.secrets import aws_sealed
from twostep.token_settings import TokenSettings

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)

# A rotation whose write lost to another's reads the secret again and rotates from there.
ROTATE_RETRIES = 5
ROTATE_BACKOFF_SECONDS = 0.2
_SUCCESSOR_NAMESPACE = uuid.UUID("5d1e4c1a-2f0b-4f7e-9a8e-7b3c2d1f0e6a")  # names a version's successor

_cache: dict[tuple[str, bool], VersionedKeys] = {}  # by (ARN, public only)
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget cached key material (tests, and a container told that the secret rotated)."""
    with _cache_lock:
        _cache.clear()


class SecretsManagerKeys:
    def __init__(
        self,
        client: Any,
        secret_arn: str,
        kms: Callable[[], Any] | None = None,
        seal_key_id: str | None = None,
        public_only: bool = False,
    ) -> None:
        """`kms`: makes the KMS client that opens (and seals) the private part, on first need.
        `seal_key_id`: the KMS key a rotation seals a plain secret with (None: it stays plain).
        `public_only`: read only the public keys of a sealed secret (the authorizer: no KMS call)."""
        self._client = client
        self._arn = secret_arn
        self._kms_factory, self._kms_client = kms, None
        self._seal_key_id = seal_key_id
        self._public_only = public_only

    @classmethod
    def from_settings(
        cls, settings: TokenSettings, boto_session: Any = None, *, public_only: bool = False
    ) -> SecretsManagerKeys:
        """A key source for `settings.secret_arn`; the clients are made lazily by boto3."""
        if not settings.secret_arn:
            raise ConfigurationError("TWOSTEP_SECRET_ARN is not set.")
        from twostep.aws_session import aws_session

        region = getattr(settings, "aws_region", None)  # the authorizer's settings leave it to boto3
        boto_session = aws_session(boto_session, region, "TWOSTEP_SECRET_ARN")
        return cls(
            boto_session.client("secretsmanager", config=CLIENT_CONFIG),
            settings.secret_arn,
            kms=lambda: boto_session.client("kms", config=CLIENT_CONFIG),
            seal_key_id=getattr(settings, "kms_key_id", None),  # only the full settings have it
            public_only=public_only,
        )

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
            cached = _cache.get(self._cache_key)
        if cached is not None:
            return cached
        fetched = self._fetch()
        with _cache_lock:
            return _cache.setdefault(self._cache_key, fetched)

    @property
    def _cache_key(self) -> tuple[str, bool]:
        return (self._arn, self._public_only)

    def fetch_versioned(self) -> VersionedKeys:
        """The secret as it is now (one GetSecretValue), also kept as the cached copy. Raises: as `load`."""
        fetched = self._fetch()
        with _cache_lock:
            _cache[self._cache_key] = fetched
        return fetched

    def rotate(
        self, clock: Clock, algorithm: Algorithm, rsa_bits: int, activation_delay: timedelta = timedelta(0)
    ) -> KeyMaterial:
        """Store key material with a new current key; the old keys stay published until they expire.

        Running servers pick it up at their next key refresh (`TWOSTEP_KEYS_REFRESH_SECONDS`); the new key
        signs only after `activation_delay`. Each write succeeds only over the version it was made from,
        so two rotations at once both land, one after the other (see `_put_over`). The value written is
        sealed (`aws_sealed`) when the secret was, or when a KMS key is configured, unless it is HS256.

        Raises:
            SecretStoreUnavailable: the secret could not be read or written, or kept changing meanwhile.
            ConfigurationError: the secret's value is not key material.
        """
        for attempt in range(ROTATE_RETRIES):
            read, sealed_with = self._read()
            rotated = read.material.rotated(algorithm, clock.now(), rsa_bits, activation_delay)
            written = self._put_over(read.version, rotated, self._value_of(rotated, sealed_with))
            if written is not None:
                with _cache_lock:
                    _cache[self._cache_key] = VersionedKeys(rotated, written)
                return rotated
            time.sleep(ROTATE_BACKOFF_SECONDS * (attempt + 1))  # the store may answer the old value briefly
        raise SecretStoreUnavailable("The secret kept changing during the rotation; run it again.")

    def _value_of(self, material: KeyMaterial, sealed_with: str | None) -> str:
        """The secret's value for `material`: sealed under the key the secret was sealed with, else the
        configured one; plain without either, or for HS256. Raises: SecretStoreUnavailable (KMS)."""
        key_id = sealed_with or self._seal_key_id
        if key_id is None or not aws_sealed.sealable(material):
            return material.to_json()
        return aws_sealed.seal(material, self._kms(), key_id)

    def _kms(self) -> Any:
        if self._kms_client is None:
            if self._kms_factory is None:
                raise ConfigurationError("TWOSTEP_SECRET_ARN: the secret is sealed and no KMS client is set.")
            self._kms_client = self._kms_factory()
        return self._kms_client

    def _put_over(self, read_version: str, rotated: KeyMaterial, value: str) -> str | None:
        """Write `rotated` (as `value`) as the successor of `read_version`; its version id, or None if another write
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
            self._client.put_secret_value(SecretId=self._arn, SecretString=value, ClientRequestToken=token)
        except (ClientError, BotoCoreError) as exc:
            now = self._fetch()  # the error's code is not documented for this case: look at the secret
            if now.version == token and _kids(now.material) == _kids(rotated):
                return token  # written, but the answer was lost
            if now.version != read_version:
                return None
            raise SecretStoreUnavailable("The secret store could not be written.") from exc
        return token

    def _fetch(self) -> VersionedKeys:
        return self._read()[0]

    def _read(self) -> tuple[VersionedKeys, str | None]:
        """The secret now, and the KMS key its private part is sealed with (None: a plain secret)."""
        try:
            answer = self._client.get_secret_value(SecretId=self._arn)
        except (ClientError, BotoCoreError) as exc:
            raise SecretStoreUnavailable("The secret store could not be read.") from exc
        text = answer.get("SecretString")
        if not text:
            raise ConfigurationError("TWOSTEP_SECRET_ARN: the secret has no string value.")
        version = str(answer.get("VersionId", ""))
        try:
            data = json.loads(text)
            if not aws_sealed.is_sealed(data):
                return VersionedKeys(KeyMaterial.from_json(text), version), None
            key_id = aws_sealed.sealed_key_id(data)
            with _cache_lock:
                cached = _cache.get(self._cache_key)
            if cached is not None and cached.version == version:
                return cached, key_id  # unchanged since the last read: no KMS call at each key refresh
            if self._public_only:
                material = KeyMaterial.from_public_records(data["signing_keys"])
            else:
                material = aws_sealed.open_sealed(data, self._kms())
            return VersionedKeys(material, version), key_id
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
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
