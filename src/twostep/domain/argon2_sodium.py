"""Argon2id through libsodium (PyNaCl), which computes it with the widest vector unit the CPU has.

argon2-cffi's libargon2 is built to run on any x86-64, so it compresses Argon2's blocks with SSE2.
libsodium detects AVX2 and AVX-512F when it starts and uses them; this path is taken only where it
has them (`vectorised`). On the bench's machine (AMD EPYC with AVX-512) one check at twostep's
parameters (19 MiB, t=2, p=1) costs ~12.5 ms of CPU through libsodium against ~16.3 ms through
libargon2 in a kept area (`argon2_area`). That is although libsodium maps a fresh working area for
every check and pays ~7 ms of that in page faults: no libsodium API lets a caller hand it an area.
libargon2 compiled for the same instructions keeps its area and costs ~5-6 ms (`argon2_vector`), so
this path answers only where no such build was compiled (an install without a C compiler).

The digests are Argon2id's own (version 1.3, one lane: all libsodium computes). `crypto_pwhash`
derives the digest from the password, salt and parameters of an encoded hash, and verification
compares digests in constant time, as in `argon2_area`. Only hashes spelled exactly as argon2-cffi
writes them, with one lane, a 16-byte salt (the only length libsodium takes) and at most the
configured area take this path. The caller gives every other hash to the next path.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable

from twostep.domain.argon2_area import Argon2Parameters, encode, parse
from twostep.domain.cpu_features import cpu_flags, read_cpuinfo, x86_64

SALT_BYTES = 16  # crypto_pwhash_SALTBYTES

Derive = Callable[[bytes, bytes, int, int, int], bytes]


def vectorised(machine: str, cpuinfo: str) -> bool:
    """Whether libsodium computes Argon2 with vector code on this CPU: x86-64 with AVX2 (it also takes
    AVX-512F). Elsewhere (arm64, older x86) it runs portable code, as libargon2 does, and its fresh
    working area per check makes it the dearer path."""
    return x86_64(machine) and "avx2" in cpu_flags(cpuinfo)


@functools.cache
def derive_function() -> Derive | None:
    """libsodium's Argon2id, loaded on first use, not when this module is imported: the Lambda
    handlers' cold start and the commands that never hash do not pay for it. None where PyNaCl is not
    installed or libsodium's Argon2 would not be vectorised (see `vectorised`)."""
    import platform  # here, not at the top: most processes that import this module never hash

    if not vectorised(platform.machine(), read_cpuinfo()):
        return None
    try:
        from nacl.bindings import crypto_pwhash_alg, crypto_pwhash_ALG_ARGON2ID13
    except ImportError:
        return None

    def derive(password: bytes, salt: bytes, memory_kib: int, time_cost: int, length: int) -> bytes:
        return crypto_pwhash_alg(
            length, password, salt, time_cost, memory_kib * 1024, crypto_pwhash_ALG_ARGON2ID13
        )

    return derive


def digest(password: bytes, salt: bytes, memory_kib: int, time_cost: int, length: int) -> bytes | None:
    """The one-lane Argon2id digest, or None where libsodium is missing or refuses the parameters."""
    derive = derive_function()
    if derive is None:
        return None
    try:
        return derive(password, salt, memory_kib, time_cost, length)
    except (ValueError, TypeError, RuntimeError, OverflowError):
        return None  # out of libsodium's limits, or no memory for the area: the next path answers


class SodiumArgon2(Argon2Parameters):
    """Hash and verify like argon2-cffi's `PasswordHasher` (Argon2id, same encoding), via libsodium."""

    def hash(self, password: bytes, salt: bytes) -> str | None:
        """The encoded hash; None where this path cannot make it (more lanes, another salt length,
        no libsodium): the caller uses the next path."""
        if self.parallelism != 1 or len(salt) != SALT_BYTES:
            return None
        made = digest(password, salt, self.memory_kib, self.time_cost, self.hash_len)
        return None if made is None else encode(self.memory_kib, self.time_cost, 1, salt, made)

    def computes(self) -> str | None:
        """What computes this path's new hashes; None where it would leave them to the next path."""
        taken = self.parallelism == 1 and self.salt_len == SALT_BYTES and derive_function() is not None
        return "libsodium" if taken else None

    def verify(self, encoded: str, password: bytes) -> bool | None:
        """Whether `password` matches; None when `encoded` is not for this path (see the module doc)."""
        parts = parse(encoded)
        if (
            parts is None
            or parts.parallelism != 1
            or len(parts.salt) != SALT_BYTES
            or parts.memory_kib > self.memory_kib
        ):
            return None
        got = digest(password, parts.salt, parts.memory_kib, parts.time_cost, len(parts.digest))
        return None if got is None else hmac.compare_digest(got, parts.digest)
