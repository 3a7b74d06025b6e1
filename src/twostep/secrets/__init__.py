"""Where key material comes from: the database sealed with the master key (`secrets/stored.py`), or
Secrets Manager on AWS (`TWOSTEP_SECRET_ARN`); the authorizer alone still reads a key file outside AWS.

Loaded once per process by the container (once per Lambda container), then re-read every
`TWOSTEP_KEYS_REFRESH_SECONDS` by the server (`services/keyring.py`), never per request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from twostep.domain.clock import Clock
from twostep.domain.errors import ConfigurationError
from twostep.domain.keys import Algorithm, KeyMaterial, hs256_key_from_secret
from twostep.domain.ports import KeySource, KeyStore
from twostep.secrets.local import LocalKeyFile
from twostep.token_settings import TokenSettings

if TYPE_CHECKING:  # pydantic and the key record stay out of the authorizer's cold start
    from twostep.secrets.master_key import MasterKey
    from twostep.secrets.stored import StoredKeys
    from twostep.settings import Settings


def load_key_material(
    settings: TokenSettings, clock: Clock, *, boto_session: Any = None, public_only: bool = False
) -> KeyMaterial:
    """The key material with settings-level overrides (HS256 secret, code HMAC key) applied.

    `public_only`: of a secret whose private part is sealed by KMS, only the public keys (a verifier).

    Raises:
        SecretStoreUnavailable: the secret store could not be read.
    """
    if settings.secret_arn:
        try:
            from twostep.secrets.aws import SecretsManagerKeys
        except ImportError:
            raise ConfigurationError("TWOSTEP_SECRET_ARN needs boto3: pip install 'twostep[aws]'") from None

        keys = SecretsManagerKeys.from_settings(settings, boto_session=boto_session, public_only=public_only)
        material = keys.load(clock)
    else:
        algorithm: Algorithm = settings.jwt_algorithm  # type: ignore[assignment]  # validated by settings
        material = LocalKeyFile(settings.jwt_key_file, algorithm, settings.jwt_rsa_bits).load(clock)
    return _with_overrides(material, settings, clock)


def key_source_for(
    settings: Settings, store: KeyStore, clock: Clock, *, boto_session: Any = None
) -> KeySource:
    """The configured shared key source: the secret when `TWOSTEP_SECRET_ARN` is set, else the database.

    Raises:
        ConfigurationError: no master key where one is needed, or its file cannot be read or made.
    """

    def overrides(material: KeyMaterial) -> KeyMaterial:
        return _with_overrides(material, settings, clock)

    if settings.secret_arn:
        from twostep.secrets.aws import SecretsManagerKeys, SecretsManagerSource

        keys = SecretsManagerKeys.from_settings(settings, boto_session)
        return SecretsManagerSource(keys, overrides, settings.jwt_algorithm, clock)
    return stored_keys(settings, store, clock)


def stored_keys(
    settings: Settings, store: KeyStore, clock: Clock, also_opening: tuple[MasterKey, ...] = ()
) -> StoredKeys:
    """The key record in the database; `also_opening`: more master keys that only open it.

    Raises: ConfigurationError (the master key).
    """
    from twostep.secrets.master_key import master_key_for, previous_master_keys
    from twostep.secrets.stored import KeyPolicy, StoredKeys

    algorithm: Algorithm = settings.jwt_algorithm
    policy = KeyPolicy(
        algorithm=algorithm,
        rsa_bits=settings.jwt_rsa_bits,
        legacy_file=settings.jwt_key_file,
        overrides=lambda material: _with_overrides(material, settings, clock),
        key_from_setting=algorithm == "HS256" and settings.jwt_hs256_secret is not None,
    )
    previous = (*previous_master_keys(settings), *also_opening)
    return StoredKeys(store, master_key_for(settings), clock, policy, previous)


def rotate_keys(settings: Settings, clock: Clock, activation_delay: timedelta) -> KeyMaterial:
    """A new signing key in the shared key source (the secret, or the database's key record).

    Raises:
        ConfigurationError, SecretStoreUnavailable, StorageUnavailable.
    """
    algorithm: Algorithm = settings.jwt_algorithm
    if settings.secret_arn:  # AWS: rotate the secret's value (needs secretsmanager:PutSecretValue)
        from twostep.secrets.aws import SecretsManagerKeys

        source = SecretsManagerKeys.from_settings(settings)
        return source.rotate(clock, algorithm, settings.jwt_rsa_bits, activation_delay)
    from twostep.storage import build_storage

    storage = build_storage(settings)
    try:
        storage.init_schema()
        return stored_keys(settings, storage, clock).rotate(activation_delay)
    finally:
        storage.close()


@dataclass(frozen=True, slots=True)
class MasterKeyRotation:
    """What `rotate_master_key` did: the id of the master key that sealed the keys before (None: they
    were sealed with the configured one already) and of the one that seals them now."""

    replaced: str | None
    sealing: str
    origin: str  # where the sealing key comes from (a setting), for the command's answer
    new_dev_key: bool = False  # a new dev master key was written beside the SQLite database
    from_dev_key: bool = False  # the keys were sealed with the published dev key (dev on a database server)


def rotate_master_key(settings: Settings, clock: Clock) -> MasterKeyRotation:
    """Re-seal the database's key record with the configured master key (in dev on SQLite without one,
    with a new key written beside the database first; see `master_key.replace_dev_master_key`). Keys sealed
    with the published dev key (dev on PostgreSQL or DynamoDB without one) are opened with it.

    Raises:
        ConfigurationError: no configured master key opens the record; StorageUnavailable.
    """
    from twostep.secrets.master_key import dev_key_files_locked, uses_dev_key_file
    from twostep.storage import build_storage

    storage = build_storage(settings)
    try:
        storage.init_schema()
        if not uses_dev_key_file(settings):
            return _reseal(settings, storage, clock, new_dev_key=False)
        # Two runs at once would each move the key file aside, the second pushing the key that seals the
        # record out of both files: one waits for the other.
        with dev_key_files_locked(settings.sqlite_path):
            return _reseal(settings, storage, clock, new_dev_key=True)
    finally:
        storage.close()


def _reseal(settings: Settings, store: KeyStore, clock: Clock, *, new_dev_key: bool) -> MasterKeyRotation:
    """`rotate_master_key`'s work; `new_dev_key`: the dev key file beside the database is replaced first,
    unless the record is still sealed with `.previous` (an unfinished rotation: re-sealing finishes it)."""
    from twostep.secrets.master_key import replace_dev_master_key

    record = store.get_key_record()
    if record is None:
        raise ConfigurationError(
            "the database holds no keys yet: the first start makes them, sealed with the configured master key"
        )
    if _sealed_with_dev_server_key(settings, record.master_key_id):
        return _reseal_from_dev_key(settings, store, clock)
    keys = stored_keys(settings, store, clock)
    new_dev_key = new_dev_key and record.master_key_id == keys.master_key_id
    if new_dev_key:
        replace_dev_master_key(settings.sqlite_path)
        keys = stored_keys(settings, store, clock)
    return MasterKeyRotation(keys.reseal(), keys.master_key_id, keys.master_key_origin, new_dev_key)


def _sealed_with_dev_server_key(settings: Settings, master_key_id: str) -> bool:
    """Whether the record is sealed with the published dev key while this run has a real master key."""
    from twostep.secrets.master_key import dev_server_master_key, master_key_for

    dev = dev_server_master_key()
    return master_key_id == dev.key_id and master_key_for(settings).key_id != dev.key_id


def _reseal_from_dev_key(settings: Settings, store: KeyStore, clock: Clock) -> MasterKeyRotation:
    """Leave dev on a database server: the published dev key (which sealed the record because no master
    key was configured) opens it, so the operator never types a published key. Only this way: the dev key
    opens here and never seals, and no process is ever given it as a previous key."""
    from twostep.secrets.master_key import dev_server_master_key, refuse_dev_key_outside_dev

    refuse_dev_key_outside_dev(settings)
    keys = stored_keys(settings, store, clock, also_opening=(dev_server_master_key(),))
    replaced = keys.reseal()
    return MasterKeyRotation(replaced, keys.master_key_id, keys.master_key_origin, from_dev_key=True)


# Settings a deployment may keep in the secret's `extra` besides the providers' own (the provider
# registry lists those).
SERVICE_SECRET_SETTINGS = frozenset(
    {"verify_api_keys", "verify_tenants", "receipt_secret"}  # receipt_secret: the Flowroute receipt URL's
)


def secret_settings() -> frozenset[str]:
    """Every setting the secret's `extra` may set; the registry is read only here (not on cold start)."""
    from twostep.channels import registry

    return SERVICE_SECRET_SETTINGS | registry.secret_settings()


def settings_with_secret_credentials(settings: Settings, extra: dict[str, str]) -> Settings:
    """Settings with the secret's provider credentials applied (the secret wins over the environment).

    Names are setting names in any case, with or without the `TWOSTEP_` prefix; other names are ignored.

    Raises:
        ConfigurationError: a value from the secret is not valid for its setting.
    """
    from pydantic import ValidationError

    from twostep.settings import Settings, describe_validation_error

    allowed = secret_settings()
    updates = {}
    for name, value in extra.items():
        field = name.lower().removeprefix("twostep_")
        if field in allowed:
            updates[field] = value
    if not updates:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **updates})
    except ValidationError as exc:
        raise ConfigurationError(f"TWOSTEP_SECRET_ARN: {describe_validation_error(exc)}") from exc


def _with_overrides(material: KeyMaterial, settings: TokenSettings, clock: Clock) -> KeyMaterial:
    if settings.jwt_algorithm == "HS256" and settings.jwt_hs256_secret is not None:
        key = hs256_key_from_secret(settings.jwt_hs256_secret.get_secret_value().encode(), clock.now())
        material = replace(material, signing_keys=(key,))
    if settings.otp_hmac_key is not None:
        material = replace(material, otp_hmac_key=settings.otp_hmac_key.get_secret_value().encode())
    return material
