"""Enough malloc arenas for every thread of `twostep serve`, so the Argon2id working area is never doubled.

Each password check allocates one 19 MiB working area (`TWOSTEP_ARGON2_MEMORY_KIB`) on a hashing thread
and frees it after. glibc gives threads their own malloc arena up to 8 per core (16 on two cores), and then
lets threads share arenas. A loaded server runs more threads than that (AnyIO's 40 request threads, the
hashing threads, asyncio's executor): a request thread sharing the hashing thread's arena carves its small
allocations out of the freed area, the next check cannot reuse it and takes a second 19 MiB. Measured with
`make bench`'s load (16 clients, 19 threads, two cores): peak RSS 101-104 MiB in some runs and 120-122 MiB
in others, the difference one more 19 MiB region in /proc/PID/smaps; with an arena per thread it stayed at
100-103 MiB in every run. An arena a thread owns costs what that thread allocates; no thread is added.

Only glibc has arenas (and `mallopt`); elsewhere this does nothing. An operator's own limit wins: MALLOC_ARENA_MAX, or
`glibc.malloc.arena_max` in GLIBC_TUNABLES.
"""

from __future__ import annotations

import os
import sys

ENV = "MALLOC_ARENA_MAX"
TUNABLES = "GLIBC_TUNABLES"  # `name=value` pairs joined by `:`
ARENA_TUNABLE = "glibc.malloc.arena_max"
M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)
SERVER_ARENAS = 64  # AnyIO's 40 request threads, asyncio's executor (cores + 4), the hashing threads, main


def arena_limit() -> int:
    """glibc's own limit where it is higher (8 per core), otherwise room for every server thread."""
    return max(SERVER_ARENAS, 8 * (os.cpu_count() or 1))


def operator_set_arenas() -> bool:
    """Whether the operator chose an arena limit (MALLOC_ARENA_MAX, or the tunable in GLIBC_TUNABLES)."""
    tunables = os.environ.get(TUNABLES, "")
    named = {pair.partition("=")[0].strip() for pair in tunables.split(":")}
    return ENV in os.environ or ARENA_TUNABLE in named


def spread_malloc_arenas() -> bool:
    """Raise this process's arena limit (before its threads start) and its children's (`--workers`),
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
