"""The deployment's key material kept in its database, sealed with the master key: one key set for every
process and host, whatever folder each was started from.

The first process to start creates the record (one conditional write: the others read the winner's);
a key file of earlier versions (`TWOSTEP_JWT_KEY_FILE`) is moved in at that moment. From then on, a
process whose master key, key file or key settings disagree with the record refuses to start with one
line naming the setting: two key sets in one deployment make right codes wrong and valid tokens invalid.

A master-key rotation (`reseal`) writes the same key material sealed with the new master key, over the
version it read, as `rotate` does: the two never lose one another. A process may hold the key being
replaced as a previous master key (it opens a record with it, and never seals with it alone). A rotation
run while one is given seals the record with it too (`secrets/sealings.py`), so running servers that hold
only that key read the new signing key; a running process that can open no sealing keeps the keys it
read last and says so once per record version. Starting, re-sealing and rotating need the record's own
master key (or, during the rotation, the previous one that is it): a process holding only the replaced key
never starts on it, nor writes it back under that key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from twostep.domain.clock import Clock
from twostep.domain.errors import ConfigurationError, StorageUnavailable
from twostep.domain.keys import Algorithm, KeyMaterial, VersionedKeys
from twostep.domain.ports import KeyRecord, KeyStore
from twostep.secrets.local import LocalKeyFile
from twostep.secrets.master_key import MasterKey
from twostep.secrets.sealings import seal_under, sealing_by, sealing_ids

logger = logging.getLogger("twostep.keys")

ROTATE_RETRIES = 5


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What this process expects of the key set (from its settings)."""

    algorithm: Algorithm
    rsa_bits: int
    legacy_file: Path | None  # a key file of earlier versions, moved in or compared
    overrides: Callable[[KeyMaterial], KeyMaterial]  # TWOSTEP_OTP_HMAC_KEY / TWOSTEP_JWT_HS256_SECRET
    key_from_setting: bool = False  # the signing key is TWOSTEP_JWT_HS256_SECRET's (overrides applies it)


class StoredKeys:
    """A `KeySource` over the storage's key record."""

    def __init__(
        self,
        store: KeyStore,
        master: MasterKey,
        clock: Clock,
        policy: KeyPolicy,
        previous: tuple[MasterKey, ...] = (),
    ) -> None:
        self._store, self._master, self._clock, self._policy = store, master, clock, policy
        self._previous = previous  # open only: a record is always sealed with `master`
        self._unreadable_version: int | None = None  # the record version already reported unreadable

    def load(self) -> VersionedKeys:
        """Raises: ConfigurationError (see the module docstring), StorageUnavailable."""
        record = self._store.get_key_record()
        if record is None:
            record = self._create()
        opener = self._own_opener(record)
        material = self._open(record, opener)
        self._check_agreement(material)
        if opener is not self._master:
            logger.warning(
                "the database's keys are still sealed with the previous master key; run "
                "`twostep keys rotate-master-key`",
                extra={"master_key_id": record.master_key_id, "setting": opener.origin},
            )
        return VersionedKeys(self._policy.overrides(material), str(record.version))

    def changed_since(self, version: str) -> VersionedKeys | None:
        """The record when its version is not `version`; None when it is, or when this process's master
        keys cannot open it (re-sealed with a master key this process was not given: it keeps the keys
        it read last until it is restarted with the new one)."""
        record = self._store.get_key_record()
        if record is None or str(record.version) == version:
            return None
        opener = self._any_opener(record)
        if opener is None:
            self._report_unreadable(record)
            return None
        return VersionedKeys(self._policy.overrides(self._open(record, opener)), str(record.version))

    def reseal(self) -> str | None:
        """Seal the key record with this process's master key alone (the key material itself unchanged);
        the id(s) of the master key(s) that sealed it before, or None when it already was (or there is
        none). A record a rotation also sealed with the previous master key loses that sealing here.

        Raises:
            ConfigurationError: none of this process's master keys opens it;
            StorageUnavailable: it kept changing meanwhile.
        """
        for _ in range(ROTATE_RETRIES):
            record = self._store.get_key_record()
            if record is None:
                return None
            sealers = sealing_ids(record.sealed, record.master_key_id)
            if sealers == (self._master.key_id,):
                return None
            resealed = self._sealed(self._open(record, self._own_opener(record)), record.version + 1)
            if self._store.put_key_record(resealed, record.version):
                return ", ".join(key_id for key_id in sealers if key_id != self._master.key_id)
        raise StorageUnavailable("The key record kept changing; try the master-key rotation again.")

    @property
    def master_key_id(self) -> str:
        return self._master.key_id

    @property
    def master_key_origin(self) -> str:
        return self._master.origin

    def _report_unreadable(self, record: KeyRecord) -> None:
        if self._unreadable_version == record.version:
            return
        self._unreadable_version = record.version
        logger.error(
            "the database's keys were sealed with another master key; this process keeps the keys it read "
            f"last until it is restarted with the deployment's master key ({self._master.origin})",
            extra={"master_key_id": record.master_key_id, "this_master_key_id": self._master.key_id},
        )

    def rotate(self, activation_delay: timedelta) -> KeyMaterial:
        """A new signing key, published now and signing after `activation_delay`.

        Raises:
            ConfigurationError: the record cannot be opened; StorageUnavailable: it kept changing meanwhile.
        """
        for _ in range(ROTATE_RETRIES):
            record = self._store.get_key_record() or self._create()
            material = self._open(record, self._own_opener(record))
            rotated = self._next_keys(material, self._clock.now(), activation_delay)
            sealed = self._sealed(rotated, record.version + 1, also_previous=True)
            if self._store.put_key_record(sealed, record.version):
                return rotated
        raise StorageUnavailable("The key record kept changing; try the rotation again.")

    def _next_keys(self, material: KeyMaterial, now: datetime, activation_delay: timedelta) -> KeyMaterial:
        """The rotated key set. A key that a setting configures (`TWOSTEP_JWT_HS256_SECRET`) is not made
        here: the setting's new value becomes the deployment's key at once (each process signs and
        verifies with the setting alone, so every one is restarted with the new value anyway).

        Raises:
            ConfigurationError: the setting still names the key the database signs with.
        """
        if not self._policy.key_from_setting:
            return material.rotated(self._policy.algorithm, now, self._policy.rsa_bits, activation_delay)
        configured = self._policy.overrides(material).current
        if configured.kid == material.current.kid:
            raise ConfigurationError(
                "TWOSTEP_JWT_HS256_SECRET: the HS256 key comes from this setting; set a new secret, then "
                "run this again to make it the deployment's (and restart every process with it)"
            )
        return material.adopted(configured, now)

    def _create(self) -> KeyRecord:
        legacy = self._legacy_material()
        now = self._clock.now()
        material = legacy or KeyMaterial.generate(self._policy.algorithm, now, self._policy.rsa_bits)
        record = self._sealed(self._policy.overrides(material), 1)
        if self._store.put_key_record(record, None):
            return record
        winner = self._store.get_key_record()  # another process created it at the same moment
        if winner is None:
            raise StorageUnavailable("The key record could not be created.")
        return winner

    def _sealed(self, material: KeyMaterial, version: int, *, also_previous: bool = False) -> KeyRecord:
        """`material` sealed with this process's master key; `also_previous`: with its previous ones too
        (new key material, which servers not yet restarted with the new master key must read)."""
        others = self._previous if also_previous else ()
        sealed = seal_under(material.to_json(), self._master, others)
        return KeyRecord(version, sealed, self._master.key_id, self._clock.now())

    def _any_opener(self, record: KeyRecord) -> MasterKey | None:
        """A master key of this process that sealed `record` (its own key's sealing, or another's)."""
        sealers = sealing_ids(record.sealed, record.master_key_id)
        return next((k for k in (self._master, *self._previous) if k.key_id in sealers), None)

    def _own_opener(self, record: KeyRecord) -> MasterKey:
        """The master key of this process (current or previous) that is the record's own, by its id.

        Raises:
            ConfigurationError: none is (a process holding only a master key the record was re-sealed
            away from may read an extra sealing while it runs, but never starts or writes on it).
        """
        opener = next((k for k in (self._master, *self._previous) if k.key_id == record.master_key_id), None)
        if opener is None:
            raise ConfigurationError(
                f"{self._master.origin}: the database's keys are sealed with another master key "
                f"({record.master_key_id}, this one is {self._master.key_id}); every process of a "
                "deployment needs the same master key (after `twostep keys rotate-master-key`, the new one; "
                "while the record is re-sealed, the one being replaced as TWOSTEP_MASTER_KEY_PREVIOUS)"
            )
        return opener

    def _open(self, record: KeyRecord, opener: MasterKey) -> KeyMaterial:
        """Raises: ConfigurationError (`opener` does not open its sealing)."""
        sealing = sealing_by(record.sealed, record.master_key_id, opener.key_id)
        try:
            if sealing is None:
                raise ValueError("no sealing by this master key")
            return KeyMaterial.from_json(opener.open(sealing))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"{opener.origin}: the master key does not open the database's keys"
            ) from exc

    def _legacy_material(self) -> KeyMaterial | None:
        path = self._policy.legacy_file
        if path is None or not (path.exists() or path.is_symlink()):
            return None
        return LocalKeyFile(path, self._policy.algorithm, self._policy.rsa_bits).read()

    def _check_agreement(self, material: KeyMaterial) -> None:
        """Raises: ConfigurationError naming what disagrees with the database's keys."""
        legacy = self._legacy_material()
        if legacy is not None and not _same_keys(self._policy.overrides(legacy), material):
            raise ConfigurationError(
                f"TWOSTEP_JWT_KEY_FILE: {self._policy.legacy_file} holds other keys than the database "
                "(which every process shares); remove or move the file"
            )
        applied = self._policy.overrides(material)
        if applied.otp_hmac_key != material.otp_hmac_key:
            raise ConfigurationError(
                "TWOSTEP_OTP_HMAC_KEY: differs from the code HMAC key the database holds for every process"
            )
        if self._policy.key_from_setting and applied.current.kid != material.current.kid:
            raise ConfigurationError(
                "TWOSTEP_JWT_HS256_SECRET: differs from the HS256 key the database holds for every process "
                "(to change it, run `twostep keys rotate` with the new value, then restart every process)"
            )
        refuse_other_algorithm(self._policy.algorithm, material, self._clock.now())


def refuse_other_algorithm(wanted: Algorithm, material: KeyMaterial, now: datetime) -> None:
    """Refuse a start whose pinned algorithm is not the shared keys' signing key's: such a process would
    start, then answer every sign-in 503 (it signs and verifies only with keys of its own algorithm).

    Raises:
        ConfigurationError: naming the setting and the rotation that changes the algorithm.
    """
    signing = material.signing_key(now)
    if signing.algorithm != wanted:
        raise ConfigurationError(_algorithm_change(wanted, signing.algorithm, material, now))


def _algorithm_change(wanted: Algorithm, signing: Algorithm, material: KeyMaterial, now: datetime) -> str:
    """The refusal of a process whose pinned algorithm is not the signing key's, with the way out.

    A rotation with the default activation delay does not help: the key it adds signs only after the
    delay (until then every start is refused again), and servers still pinned to the old algorithm
    would sign with it and refuse their own tokens. Only a rotation without delay, then every process
    restarted with the new setting, changes the algorithm.
    """
    pending = next((k for k in material.signing_keys if k.algorithm == wanted and not k.active_at(now)), None)
    when = (
        f" (the {wanted} key a rotation added signs from {pending.activates_at.isoformat()})"
        if pending is not None and pending.activates_at is not None
        else ""
    )
    return (
        f"TWOSTEP_JWT_ALGORITHM: {wanted}, but the shared keys sign with {signing}{when}; every process "
        f"pins one algorithm, so change it everywhere at once: `TWOSTEP_JWT_ALGORITHM={wanted} twostep keys "
        f"rotate --activation-delay 0`, then restart every server with it"
    )


def _same_keys(a: KeyMaterial, b: KeyMaterial) -> bool:
    """The same code HMAC key, and every key of `a` known to `b` (a file that is older than a rotation
    agrees; a file from another deployment or folder does not)."""
    known = {key.kid for key in b.signing_keys}
    return a.otp_hmac_key == b.otp_hmac_key and a.current.kid in known
