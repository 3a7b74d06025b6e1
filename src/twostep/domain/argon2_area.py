"""Argon2id whose working area each hashing thread keeps, outside malloc, from one check to the next.

libargon2 mallocs its working area (19 MiB by default) for every check and frees it after. In a
threaded server the freed area goes back to the hashing thread's malloc arena, where other threads
sharing that arena carve small allocations out of it; the next check then cannot reuse it and takes
a second area (`malloc_arenas` used to give every thread its own arena against that, at ~3-7 MiB of
arena overhead under the bench load). Here the area is an anonymous mmap a hashing thread keeps for
its life, handed to libargon2 through its allocation callbacks: never in an arena, never doubled,
and no page faults per check (an mmap per check costs ~9 ms of CPU on a ~20 ms check).

The results are Argon2's own: `argon2_ctx` computes the digest; hashes are encoded exactly as
argon2-cffi encodes them, and verification compares digests in constant time. Only hashes in that
exact encoding with at most the configured memory take this path; any other (older parameters
spelled differently, another variant, a larger area) is left to argon2-cffi's own `verify`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import mmap
import re
import threading
from dataclasses import dataclass
from typing import Any

from argon2 import Type
from argon2.exceptions import HashingError
from argon2.low_level import ARGON2_VERSION, core, error_to_str, ffi

# The encoding argon2-cffi writes ($argon2id$v=19$m=...,t=...,p=...$salt$digest, unpadded base64).
ENCODED = re.compile(
    r"\$argon2id\$v=19\$m=([0-9]+),t=([0-9]+),p=([0-9]+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)"
)
ARGON2_OK = 0
ARGON2_MEMORY_ALLOCATION_ERROR = -22  # argon2.h; what the allocation callback answers when mmap fails


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def encode(memory_kib: int, time_cost: int, parallelism: int, salt: bytes, digest: bytes) -> str:
    return f"$argon2id$v=19$m={memory_kib},t={time_cost},p={parallelism}${b64(salt)}${b64(digest)}"


@dataclass(frozen=True)
class Encoded:
    """An encoded Argon2id hash taken apart: its parameters, salt and digest."""

    memory_kib: int
    time_cost: int
    parallelism: int
    salt: bytes
    digest: bytes


def parse(encoded: str) -> Encoded | None:
    """The parts of `encoded` when it is spelled exactly as argon2-cffi writes it; None otherwise
    (another variant or version, other spellings of the numbers, padding, base64 that does not decode)."""
    found = ENCODED.fullmatch(encoded)
    if found is None:
        return None
    try:
        salt, digest = unb64(found[4]), unb64(found[5])
    except binascii.Error:
        return None
    parts = Encoded(int(found[1]), int(found[2]), int(found[3]), salt, digest)
    canonical = encode(parts.memory_kib, parts.time_cost, parts.parallelism, salt, digest)
    return parts if canonical == encoded else None


class _Areas(threading.local):
    area: mmap.mmap | None = None


_areas = _Areas()


def _kept_area(size: int) -> mmap.mmap:
    """This thread's area, made (or grown) on first need."""
    area = _areas.area
    if area is None or len(area) < size:
        if area is not None:
            area.close()
        area = _areas.area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_HUGEPAGE"):  # Linux: ~6% less CPU per check (fewer TLB misses), same RSS
            area.madvise(mmap.MADV_HUGEPAGE)
    return area


class Libargon2:
    """A loaded libargon2: its cffi declarations (`ffi`), its `argon2_ctx`, and the allocation callbacks
    that hand it the calling thread's kept area. Every build takes the same context and gives the same
    digests; they differ in the instructions they compute with (`argon2_vector`)."""

    def __init__(self, ffi: Any, argon2_ctx: Any, name: str) -> None:
        self.ffi = ffi
        self._argon2_ctx = argon2_ctx
        self.name = name  # which build, as `twostep serve` reports it

    @functools.cached_property
    def callbacks(self) -> tuple[Any, Any] | None:
        """The C callbacks, made on first use; None where the platform refuses executable closures
        (some hardened systems): then the next path does the work."""
        ffi = self.ffi

        def allocate(memory: Any, size: int) -> int:
            memory[0] = ffi.cast("uint8_t *", ffi.from_buffer(_kept_area(size)))
            return ARGON2_OK

        def release(memory: Any, size: int) -> None:
            """Keep the area (libargon2 has wiped it already)."""

        try:
            return (
                ffi.callback("int(uint8_t **, size_t)", allocate, error=ARGON2_MEMORY_ALLOCATION_ERROR),
                ffi.callback("void(uint8_t *, size_t)", release),
            )
        except (MemoryError, OSError):
            return None

    def digest(
        self, password: bytes, salt: bytes, *, memory_kib: int, time_cost: int, parallelism: int, length: int
    ) -> bytes:
        """Argon2id (version 1.3) of `password` in this thread's kept area; HashingError where
        libargon2 refuses the parameters or the callbacks cannot be made (see `callbacks`)."""
        made = self.callbacks
        if made is None:
            raise HashingError("libargon2's allocation callbacks are not available here")
        ffi = self.ffi
        out = ffi.new("uint8_t[]", length)
        pwd = ffi.from_buffer(password)
        salt_buffer = ffi.from_buffer(salt)
        context = ffi.new(
            "argon2_context *",
            {
                "out": out,
                "outlen": length,
                "pwd": ffi.cast("uint8_t *", pwd),
                "pwdlen": len(password),
                "salt": ffi.cast("uint8_t *", salt_buffer),
                "saltlen": len(salt),
                "t_cost": time_cost,
                "m_cost": memory_kib,
                "lanes": parallelism,
                "threads": parallelism,
                "version": ARGON2_VERSION,
                "allocate_cbk": made[0],
                "free_cbk": made[1],
                "flags": 0,  # ARGON2_DEFAULT_FLAGS: the caller's password and secret stay untouched
            },
        )
        result = self._argon2_ctx(context, Type.ID.value)
        if result != ARGON2_OK:
            raise HashingError(error_to_str(result))  # the error codes are libargon2's, in every build
        return bytes(ffi.buffer(out, length))


# argon2-cffi's own libargon2, built for any x86-64 (SSE2) or for the platform's generic instructions.
ARGON2_CFFI = Libargon2(ffi, core, "argon2-cffi's libargon2")


@dataclass(frozen=True)
class Argon2Parameters:
    """What a hashing path makes new hashes with (argon2-cffi's `PasswordHasher` names them the same)."""

    memory_kib: int
    time_cost: int
    parallelism: int
    salt_len: int
    hash_len: int


class KeptAreaArgon2(Argon2Parameters):
    """Hash and verify like argon2-cffi's `PasswordHasher` (Argon2id, same encoding), in kept areas."""

    def library(self) -> Libargon2 | None:
        """The libargon2 this path computes with; None where it has none (the caller takes the next)."""
        return ARGON2_CFFI

    def _usable(self) -> Libargon2 | None:
        """`library()`, where it is there and its callbacks can be made; None otherwise."""
        library = self.library()
        return None if library is None or library.callbacks is None else library

    def computes(self) -> str | None:
        """What computes this path's new hashes; None where it would leave them to the next path."""
        library = self._usable()
        return None if library is None else library.name

    def hash(self, password: bytes, salt: bytes) -> str | None:
        """The encoded hash; None where this path has no usable library (the caller uses the next path)."""
        library = self._usable()
        if library is None:
            return None
        params = {"memory_kib": self.memory_kib, "time_cost": self.time_cost, "parallelism": self.parallelism}
        made = library.digest(password, salt, length=self.hash_len, **params)
        return encode(self.memory_kib, self.time_cost, self.parallelism, salt, made)

    def verify(self, encoded: str, password: bytes) -> bool | None:
        """Whether `password` matches; None when `encoded` is not for this path (see the module doc)."""
        parts = parse(encoded)
        library = self._usable()
        if library is None or parts is None or parts.memory_kib > self.memory_kib:
            return None  # no usable library, not the canonical spelling, or a larger area than the kept one
        try:
            got = library.digest(
                password,
                parts.salt,
                memory_kib=parts.memory_kib,
                time_cost=parts.time_cost,
                parallelism=parts.parallelism,
                length=len(parts.digest),
            )
        except (HashingError, OverflowError):
            return None  # parameters libargon2 (or a C integer) refuses: argon2-cffi's verify says how
        return hmac.compare_digest(got, parts.digest)
