"""Few malloc arenas for `twostep serve`: its threads' small allocations share them instead of each
thread holding an arena of its own.

glibc gives threads their own malloc arena up to 8 per core (16 on two cores). Each arena keeps its
own free memory, so a server running 16-19 threads (AnyIO's request threads, the hashing threads,
asyncio's executor) holds that much more than one whose threads share. Measured with the bench's load
(`make bench`'s server and load, 16 clients): peak RSS 102-105 MiB with an arena per thread (the earlier
limit of 64), 98 MiB with 2 arenas, no measurable CPU difference per sign-in.

Sharing arenas used to double the Argon2id working area (a thread sharing the hashing thread's arena
carved small allocations out of the freed 19 MiB, and the next check took a second one); the working
area is now kept outside malloc by each hashing thread (`domain.argon2_area`), so that cannot happen.

Only glibc has arenas (and `mallopt`); elsewhere this does nothing. An operator's own limit wins:
MALLOC_ARENA_MAX, or `glibc.malloc.arena_max` in GLIBC_TUNABLES.
"""

from __future__ import annotations

import os
import sys

ENV = "MALLOC_ARENA_MAX"
TUNABLES = "GLIBC_TUNABLES"  # `name=value` pairs joined by `:`
ARENA_TUNABLE = "glibc.malloc.arena_max"
M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)
SERVER_ARENAS = 2  # the main arena and one the other threads share


def arena_limit() -> int:
    """The arena limit `twostep serve` sets for itself and its workers."""
    return SERVER_ARENAS


def operator_set_arenas() -> bool:
    """Whether the operator chose an arena limit (MALLOC_ARENA_MAX, or the tunable in GLIBC_TUNABLES)."""
    tunables = os.environ.get(TUNABLES, "")
    named = {pair.partition("=")[0].strip() for pair in tunables.split(":")}
    return ENV in os.environ or ARENA_TUNABLE in named


def limit_malloc_arenas() -> bool:
    """Set this process's arena limit (before its threads start) and its children's (`--workers`),
    unless the operator set one already. True when glibc took the new limit."""
    if operator_set_arenas() or not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # not glibc (musl has no mallopt)
        return False
    limit = arena_limit()
    os.environ[ENV] = str(limit)  # uvicorn's worker processes start new interpreters: glibc reads it there
    return bool(mallopt(M_ARENA_MAX, limit))
