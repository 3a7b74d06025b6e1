"""A JSON key file: what earlier versions kept per folder, and what the authorizer reads outside AWS.

`twostep serve` keeps its keys in the database (`secrets/stored.py`) and only moves such a file in.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from twostep.domain.clock import Clock
from twostep.domain.errors import ConfigurationError
from twostep.domain.keys import Algorithm, KeyMaterial

logger = logging.getLogger("twostep.secrets")


class LocalKeyFile:
    def __init__(self, path: Path, algorithm: Algorithm, rsa_bits: int) -> None:
        self._path = Path(path)
        self._algorithm = algorithm
        self._rsa_bits = rsa_bits

    def load(self, clock: Clock) -> KeyMaterial:
        """Read the key file, creating it when missing.

        A newest key of another algorithm is read as it is, never rotated away: the reader (the
        authorizer) only verifies, with the keys of its own algorithm, and a rotation here would retire
        the key that processes configured with that algorithm sign with.

        Raises:
            ConfigurationError: the file cannot be read, parsed or written.
        """
        if not self._path.exists():
            with self._writing("create"):
                self._create(KeyMaterial.generate(self._algorithm, clock.now(), self._rsa_bits))
        return self._read()

    @contextlib.contextmanager
    def _writing(self, verb: str) -> Iterator[None]:
        """A folder that cannot be written (missing, a file, read-only) is a configuration problem."""
        try:
            yield
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if exc.filename and str(exc.filename) != str(self._path):
                reason = f"{reason}: {exc.filename}"
            raise ConfigurationError(
                f"TWOSTEP_JWT_KEY_FILE: cannot {verb} key file {self._path}: {reason}"
            ) from exc

    def read(self) -> KeyMaterial:
        """The file's key material as it is. Raises: ConfigurationError."""
        return self._read()

    def _read(self) -> KeyMaterial:
        try:
            return KeyMaterial.from_json(self._path.read_text())
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__  # "Is a directory", "Permission denied"
            raise ConfigurationError(
                f"TWOSTEP_JWT_KEY_FILE: cannot read key file {self._path}: {reason}"
            ) from exc
        except (ValueError, KeyError) as exc:
            raise ConfigurationError(
                f"TWOSTEP_JWT_KEY_FILE: cannot read key file {self._path}: not a twostep key file (JSON)"
            ) from exc

    def _create(self, material: KeyMaterial) -> None:
        """Write aside, then link into place: two processes starting together agree on one key file."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_name(f".{self._path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(material.to_json())
        try:
            os.link(temporary, self._path)
            logger.info("created a new key file", extra={"path": str(self._path)})
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
