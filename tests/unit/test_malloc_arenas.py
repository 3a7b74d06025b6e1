"""`twostep serve` sets a small malloc arena limit for itself and its `--workers` (see `malloc_arenas`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.fresh_python import python_output
from tests.live import ServerProcess
from twostep.malloc_arenas import ENV, arena_limit, operator_set_arenas

GLIBC_DEFAULT = 8 * (os.cpu_count() or 1)  # glibc's own limit: 8 arenas per core
THREADS = GLIBC_DEFAULT + 8
# Starts THREADS threads that each malloc and wait, then counts the arenas glibc itself lists
# (malloc_info: one <heap> per arena, the main arena first). Not the memory map: a thread stack can
# look like an arena's heap there, which made the count flaky on a loaded machine.
PROBE = f"""
import ctypes, json, os, sys, tempfile, threading
from twostep.malloc_arenas import limit_malloc_arenas
took = limit_malloc_arenas() if sys.argv[1] == "limit" else None
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
ready, done = threading.Barrier({THREADS} + 1), threading.Event()
def work():
    libc.malloc(4096)
    ready.wait()
    done.wait()
threads = [threading.Thread(target=work) for _ in range({THREADS})]
for thread in threads:
    thread.start()
ready.wait()
handle, path = tempfile.mkstemp()
os.close(handle)
listing = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, listing)
libc.fclose(listing)
with open(path) as report:
    arenas = report.read().count("<heap nr=") - 1
os.unlink(path)
done.set()
print(json.dumps({{"took": took, "arenas": arenas}}))
"""

linux_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc only"
)


def _probe(mode: str, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k != ENV}
    return dict(json.loads(python_output(PROBE, mode, env=clean | env, timeout=60)))


@linux_glibc
def test_threads_share_the_limited_arenas() -> None:
    default = int(str(_probe("default")["arenas"]))
    assert default > arena_limit()  # glibc alone gives these threads an arena each, up to its own limit
    limited = _probe("limit")
    assert limited["took"] is True
    assert limited["arenas"] == arena_limit() - 1  # thread arenas: the main arena is not in the count


@linux_glibc
def test_an_operators_own_limit_wins() -> None:
    assert _probe("limit", **{ENV: "3"}) == {"took": False, "arenas": 2}  # main arena plus two


@linux_glibc
def test_serve_workers_start_with_the_limit(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, serve_args=("--workers", "2")) as server:
        workers = server.worker_pids()
        assert len(workers) == 2
        for pid in workers:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert f"{ENV}={arena_limit()}".encode() in environ


@linux_glibc
def test_an_operators_limit_in_glibc_tunables_wins() -> None:
    tunables = "glibc.malloc.trim_threshold=131072:glibc.malloc.arena_max=3"
    assert _probe("limit", GLIBC_TUNABLES=tunables) == {"took": False, "arenas": 2}


def test_other_glibc_tunables_do_not_hold_the_limit_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")
    assert not operator_set_arenas()
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072:glibc.malloc.arena_max=4")
    assert operator_set_arenas()
