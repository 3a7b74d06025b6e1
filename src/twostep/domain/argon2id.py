"""twostep's Argon2id: the same hashes as argon2-cffi's `PasswordHasher`, computed by the cheapest
path that can take each one.

1. libargon2 compiled for AVX-512F or AVX2 (`argon2_vector`), in a working area each hashing thread
   keeps, where the CPU has those instructions and the build was compiled at install time.
2. libsodium (`argon2_sodium`): AVX2/AVX-512 where the CPU has them; one lane, 16-byte salts.
3. argon2-cffi's libargon2 in a kept working area (`argon2_area`): any lane count.
4. argon2-cffi itself: every other hash (other spellings, variants, larger areas), and its errors.

All four give the same digest for the same password, salt and parameters (the tests compare them
byte for byte), so which path a hash takes changes only its cost.
"""

from __future__ import annotations

import os
from typing import Protocol

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import VerifyMismatchError

from twostep.domain.argon2_area import KeptAreaArgon2
from twostep.domain.argon2_sodium import SodiumArgon2
from twostep.domain.argon2_vector import VectorArgon2


class Argon2Path(Protocol):
    def hash(self, password: bytes, salt: bytes) -> str | None: ...

    def verify(self, encoded: str, password: bytes) -> bool | None: ...

    def computes(self) -> str | None: ...


class Argon2id:
    """Hash and verify on the calling thread (`PasswordHasher` calls these on its hashing threads)."""

    def __init__(self, library: Argon2Hasher) -> None:
        self.library = library  # argon2-cffi's hasher: the parameters, and the last path
        params = (
            library.memory_cost,
            library.time_cost,
            library.parallelism,
            library.salt_len,
            library.hash_len,
        )
        self._paths: tuple[Argon2Path, ...] = (
            VectorArgon2(*params),
            SodiumArgon2(*params),
            KeptAreaArgon2(*params),
        )

    def computed_by(self) -> str:
        """What computes new hashes here, as `twostep serve` reports it at start: the first path that
        takes them (an install without a C compiler, or another CPU, falls to a dearer one)."""
        for path in self._paths:
            name = path.computes()
            if name is not None:
                return name
        return "argon2-cffi"

    def hash(self, password: str) -> str:
        raw, salt = password.encode(), os.urandom(self.library.salt_len)
        for path in self._paths:
            made = path.hash(raw, salt)
            if made is not None:
                return made
        return self.library.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True on a match; raises argon2's errors otherwise, as argon2-cffi's `verify` does (a
        mismatch is VerifyMismatchError whichever path found it)."""
        raw = password.encode()
        for path in self._paths:
            matched = path.verify(stored_hash, raw)
            if matched is True:
                return True
            if matched is False:
                raise VerifyMismatchError("The password does not match the supplied hash")
        return self.library.verify(stored_hash, password)
