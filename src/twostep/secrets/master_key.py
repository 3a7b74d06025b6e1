"""The master key that seals the deployment's key material in the database (AES-256-GCM).

It comes from `TWOSTEP_MASTER_KEY` or `TWOSTEP_MASTER_KEY_FILE`. In dev, an SQLite database keeps one
beside its file (`<database>.master-key`, created 0600 on first start), so every process on that database
finds the same one without configuration; memory storage and an SQLite memory database (`:memory:`), which
no other process can see, get a random one per process (never a file on disk); dev on a database server
(PostgreSQL, DynamoDB) uses a published dev key. Staging and prod need the master key configured: it is never
made per folder.

While the master key is replaced (`twostep keys rotate-master-key`), the key being replaced is a previous
master key (`TWOSTEP_MASTER_KEY_PREVIOUS`; in dev on SQLite `<database>.master-key.previous`): it opens a
record it sealed, and never seals one.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from twostep.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from twostep.settings import Settings

logger = logging.getLogger("twostep.secrets")

_AAD = b"twostep key record v1"
MIN_LENGTH = 32


def new_master_key() -> str:
    """A fresh master key: 256 bits from the CSPRNG, URL-safe text."""
    return secrets.token_urlsafe(32)


class MasterKey:
    """Seals and opens the key record; `key_id` names the key without revealing it."""

    def __init__(self, text: str, origin: str) -> None:
        if len(text) < MIN_LENGTH:
            raise ConfigurationError(f"{origin}: the master key must be at least {MIN_LENGTH} characters")
        self.origin = origin  # the setting or file it came from, for error messages
        secret = text.encode()
        self._key = HKDF(hashes.SHA256(), 32, salt=None, info=b"twostep master key v1").derive(secret)
        self.key_id = "mk-" + hmac.new(self._key, b"twostep master key id", hashlib.sha256).hexdigest()[:16]

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(self._key).encrypt(nonce, plaintext.encode(), _AAD)
        return base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str) -> str:
        """Raises: ValueError when this key did not seal it (or it was altered)."""
        raw = base64.urlsafe_b64decode(sealed)
        try:
            return AESGCM(self._key).decrypt(raw[:12], raw[12:], _AAD).decode()
        except InvalidTag as exc:
            raise ValueError("the master key does not open the key record") from exc


# Dev on a database server (PostgreSQL, DynamoDB) has no file of its own to keep a key beside: its keys
# are sealed with this published key, which no staging or prod process uses (they refuse to start there).
DEV_SERVER_MASTER_KEY = "twostep-dev-master-key-not-a-secret-never-use-outside-dev"


def dev_server_master_key() -> MasterKey:
    """The published dev key of dev on a database server (open-only when leaving dev: see `rotate_master_key`)."""
    return MasterKey(DEV_SERVER_MASTER_KEY, "the published dev master key")


# Memory storage lives and dies with its process, so one random key per process serves all of them.
_PROCESS_KEY = new_master_key()


def master_key_for(settings: Settings) -> MasterKey:
    """The configured master key, or dev's; see the module docstring.

    Raises:
        ConfigurationError: none is configured where one is needed, or its file cannot be read or made.
    """
    if settings.master_key is not None:
        return _configured(settings.master_key.get_secret_value(), "TWOSTEP_MASTER_KEY", settings)
    if settings.master_key_file is not None:
        text = _read(settings.master_key_file, "TWOSTEP_MASTER_KEY_FILE")
        return _configured(text, "TWOSTEP_MASTER_KEY_FILE", settings)
    if in_process_only(settings):
        return MasterKey(_PROCESS_KEY, "the process's random master key (a database in this process alone)")
    if settings.stage == "dev" and settings.storage == "sqlite":
        return MasterKey(_dev_key_beside(settings.sqlite_path), "TWOSTEP_SQLITE_PATH")
    if settings.stage == "dev":  # a database server in dev: every dev process agrees without configuration
        logger.info("dev: the keys in the database are sealed with the public dev master key")
        return MasterKey(DEV_SERVER_MASTER_KEY, "TWOSTEP_MASTER_KEY (unset: the public dev master key)")
    raise ConfigurationError(
        f"TWOSTEP_MASTER_KEY: required with TWOSTEP_STORAGE={settings.storage} when "
        f"TWOSTEP_STAGE={settings.stage} (or TWOSTEP_MASTER_KEY_FILE; `twostep keys master-key` makes one)"
    )


def previous_master_keys(settings: Settings) -> tuple[MasterKey, ...]:
    """The master key being replaced, if any: it opens the key record, never seals it.

    Raises:
        ConfigurationError: its file cannot be read, or it is too short.
    """
    if settings.master_key_previous is not None:
        text = settings.master_key_previous.get_secret_value()
        return (_configured(text, "TWOSTEP_MASTER_KEY_PREVIOUS", settings),)
    if settings.master_key_previous_file is not None:
        text = _read(settings.master_key_previous_file, "TWOSTEP_MASTER_KEY_PREVIOUS_FILE")
        return (_configured(text, "TWOSTEP_MASTER_KEY_PREVIOUS_FILE", settings),)
    if uses_dev_key_file(settings) and dev_previous_key_path(settings.sqlite_path).exists():
        text = _read(dev_previous_key_path(settings.sqlite_path), "TWOSTEP_SQLITE_PATH (its .previous key)")
        return (MasterKey(text, "TWOSTEP_SQLITE_PATH (its .master-key.previous file)"),)
    return ()


def _configured(text: str, origin: str, settings: Settings) -> MasterKey:
    """A master key from a setting or its file, refused outside dev when it is the published dev key.

    Raises:
        ConfigurationError: it is the published dev key and the stage is not dev, or it is too short.
    """
    if settings.stage != "dev" and text.strip() == DEV_SERVER_MASTER_KEY:
        # Anyone can read that key in twostep's source: a record sealed with it (or, as a previous key,
        # sealed with it too by `twostep keys rotate`) gives the signing keys to whoever reads the database.
        raise ConfigurationError(
            f"{origin}: the published dev master key is refused when TWOSTEP_STAGE={settings.stage}; "
            "`twostep keys master-key` makes a real one"
        )
    return MasterKey(text, origin)


def refuse_dev_key_outside_dev(settings: Settings) -> None:
    """Refuse to open keys sealed with the published dev key outside dev (see `rotate_master_key`).

    Raises:
        ConfigurationError: the stage is not dev.
    """
    if settings.stage != "dev":
        raise ConfigurationError(
            f"TWOSTEP_STAGE: the database's keys are sealed with the published dev master key, which "
            f"TWOSTEP_STAGE={settings.stage} never opens (anyone may read that key); move them to the new "
            "master key with TWOSTEP_STAGE=dev, then run `twostep keys rotate` before serving"
        )


def uses_dev_key_file(settings: Settings) -> bool:
    """Whether the master key is the dev file beside the SQLite database (none configured)."""
    configured = settings.master_key is not None or settings.master_key_file is not None
    on_file = settings.storage == "sqlite" and not in_process_only(settings)
    return not configured and settings.stage == "dev" and on_file


def in_process_only(settings: Settings) -> bool:
    """Whether the database lives in this process alone (memory storage, or SQLite's `:memory:`): its keys
    die with it, so a key file beside it (`:memory:.master-key` in the working folder) would only be litter
    that a later process on the same setting reads and no database needs."""
    return settings.storage == "memory" or (
        settings.storage == "sqlite" and str(settings.sqlite_path) == ":memory:"
    )


def dev_master_key_path(database: Path) -> Path:
    return database.with_name(database.name + ".master-key")


def dev_previous_key_path(database: Path) -> Path:
    return database.with_name(database.name + ".master-key.previous")


def replace_dev_master_key(database: Path) -> None:
    """Move the dev master key beside `database` to `.previous` and put a new one in its place.

    Each file is written aside (0600, flushed to disk) and renamed into place, the previous one first:
    at every moment the key that seals the record is in one of the two files, so an interrupted
    rotation is finished by running it again.

    Raises:
        ConfigurationError: a file cannot be read or written.
    """
    current = dev_master_key_path(database)
    text = _read(current, "TWOSTEP_SQLITE_PATH (its .master-key file)")
    _write_atomically(dev_previous_key_path(database), text)
    _write_atomically(current, new_master_key())


@contextmanager
def dev_key_files_locked(database: Path) -> Iterator[None]:
    """Hold the lock of the dev key files beside `database` (an advisory lock on their folder, released
    when the process ends however it ends, so a killed rotation leaves no stale lock).

    Raises:
        ConfigurationError: the folder cannot be opened.
    """
    try:
        folder = os.open(database.parent, os.O_RDONLY)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"TWOSTEP_SQLITE_PATH: cannot open {database.parent}: {reason}") from exc
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"TWOSTEP_SQLITE_PATH: cannot write {path}: {reason}") from exc


def _read(path: Path, setting: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigurationError(
            f"{setting}: cannot read {path}: {exc.strerror or type(exc).__name__}"
        ) from exc
    except UnicodeError as exc:
        raise ConfigurationError(
            f"{setting}: cannot read {path}: not a text file (a master key is text)"
        ) from exc


def _dev_key_beside(database: Path) -> str:
    """The dev master key beside the database file, made on first start (write aside, link into place,
    so two processes starting together agree on one)."""
    path = dev_master_key_path(database)
    if path.exists():
        return _read(path, "TWOSTEP_SQLITE_PATH (its .master-key file)")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_master_key() + "\n")
        try:
            os.link(temporary, path)
            logger.info(
                "created a dev master key beside the database; set TWOSTEP_MASTER_KEY outside dev",
                extra={"path": str(path)},
            )
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(
            f"TWOSTEP_SQLITE_PATH: cannot create the dev master key {path}: {reason}"
        ) from exc
    return _read(path, "TWOSTEP_SQLITE_PATH (its .master-key file)")
