"""libargon2's vector builds (`domain.argon2_vector`): chosen by the CPU's instructions, and giving
argon2-cffi's own hashes and answers, byte for byte, in every build this CPU can run."""

from __future__ import annotations

import platform
import random
import threading
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest
from argon2 import Type
from argon2.low_level import hash_secret

from twostep.domain import argon2_area, argon2_vector
from twostep.domain.argon2_area import Libargon2, encode
from twostep.domain.argon2_vector import BUILDS, VectorArgon2, build_file, chosen_build
from twostep.domain.cpu_features import cpu_flags, read_cpuinfo, x86_64

FOLDER = Path(argon2_vector.__file__).parent
FLAGS = cpu_flags(read_cpuinfo())
# The builds this CPU can run; `make install` compiles both on x86-64 (setup.py, with the C compiler the
# Makefile installs).
RUNNABLE = [name for name, needs in BUILDS if x86_64(platform.machine()) and needs in FLAGS]
NO_BUILD_HERE = "no libargon2 vector build runs here: not x86-64, or a CPU without AVX2"
SMALL = {"memory_kib": 64, "time_cost": 2, "parallelism": 1}


def _library_hash(password: bytes, salt: bytes, memory_kib: int, time_cost: int, parallelism: int) -> str:
    return hash_secret(password, salt, time_cost, memory_kib, parallelism, 32, Type.ID).decode()


def _loaded(name: str) -> Libargon2:
    path = build_file(name, FOLDER)
    assert path is not None, f"libargon2_{name} was not compiled: run `make install` (it needs a C compiler)"
    library = argon2_vector.load(path)
    assert library is not None
    return library


@pytest.mark.skipif(not RUNNABLE, reason=NO_BUILD_HERE)
def test_the_widest_build_this_cpu_runs_is_loaded() -> None:
    assert build_file(RUNNABLE[0], FOLDER) is not None, "not compiled: `make install` needs a C compiler"
    assert argon2_vector.vector_library() is not None
    assert chosen_build(platform.machine(), read_cpuinfo(), FOLDER) == build_file(RUNNABLE[0], FOLDER)


@pytest.mark.parametrize(
    ("machine", "cpuinfo", "built", "chosen"),
    [
        ("x86_64", "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n", ("avx2", "avx512"), "avx512"),
        ("x86_64", "flags\t\t: fpu sse2 avx2\n", ("avx2", "avx512"), "avx2"),
        ("AMD64", "flags\t: sse2 avx2 avx512f\n", ("avx2",), "avx2"),  # only the narrower one was built
        ("x86_64", "flags\t\t: fpu sse2 avx avx512_fp16\n", ("avx2", "avx512"), None),  # whole flags only
        ("x86_64", "flags\t\t: fpu sse2 avx2 avx512f\n", (), None),  # compiled without a compiler: none
        ("x86_64", "", ("avx2", "avx512"), None),  # no /proc/cpuinfo to tell
        ("aarch64", "Features\t: fp asimd avx2 avx512f\n", ("avx2", "avx512"), None),
    ],
)
def test_a_build_is_chosen_only_where_the_cpu_has_its_instructions(
    tmp_path: Path, machine: str, cpuinfo: str, built: tuple[str, ...], chosen: str | None
) -> None:
    for name in built:
        (tmp_path / f"libargon2_{name}{EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    expected = None if chosen is None else tmp_path / f"libargon2_{chosen}{EXTENSION_SUFFIXES[0]}"
    assert chosen_build(machine, cpuinfo, tmp_path) == expected


def test_a_file_that_does_not_load_is_no_build(tmp_path: Path) -> None:
    broken = tmp_path / f"libargon2_avx2{EXTENSION_SUFFIXES[0]}"
    broken.write_bytes(b"not a shared library")
    assert argon2_vector.load(broken) is None


@pytest.mark.skipif(not RUNNABLE, reason=NO_BUILD_HERE)
@pytest.mark.parametrize("name", RUNNABLE)
def test_each_build_hashes_as_argon2_cffi_byte_for_byte(name: str) -> None:
    library = _loaded(name)
    rng = random.Random(23)
    for _ in range(300):
        memory_kib, time_cost = rng.choice([8, 16, 40, 64, 100, 256]), rng.randint(1, 3)
        parallelism = rng.choice([1, 1, 2, 4])
        memory_kib = max(memory_kib, 8 * parallelism)
        password = rng.randbytes(rng.randint(0, 80))  # NUL bytes and invalid UTF-8 included
        salt = rng.randbytes(rng.choice([8, 16, 24]))
        params = {"memory_kib": memory_kib, "time_cost": time_cost, "parallelism": parallelism}
        made = encode(
            memory_kib, time_cost, parallelism, salt, library.digest(password, salt, length=32, **params)
        )
        assert made == _library_hash(password, salt, memory_kib, time_cost, parallelism)


@pytest.mark.skipif(not RUNNABLE, reason=NO_BUILD_HERE)
def test_at_twostep_parameters_the_digest_is_argon2_cffis() -> None:
    path = VectorArgon2(19456, 2, 1, 16, 32)
    salt = bytes(range(16))
    assert path.hash(b"correct horse battery", salt) == _library_hash(
        b"correct horse battery", salt, 19456, 2, 1
    )


@pytest.mark.skipif(not RUNNABLE, reason=NO_BUILD_HERE)
def test_threads_hash_at_once_in_their_own_areas() -> None:
    path = VectorArgon2(salt_len=16, hash_len=32, **SMALL)
    results: dict[int, list[bool]] = {}

    def work(index: int) -> None:
        password = f"password {index}".encode()
        stored = _library_hash(password, bytes([index]) * 16, 64, 2, 1)
        results[index] = [path.verify(stored, password) is True for _ in range(40)]
        results[index].append(path.verify(stored, password + b"!") is False)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(all(answers) for answers in results.values()) and len(results) == 4


def test_without_a_build_the_path_declines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(argon2_vector, "vector_library", lambda: None)
    path = VectorArgon2(salt_len=16, hash_len=32, **SMALL)
    assert path.hash(b"password", b"s" * 16) is None
    assert path.verify(_library_hash(b"password", b"s" * 16, 64, 2, 1), b"password") is None


def test_the_kept_area_path_still_computes_with_argon2_cffis_own_library() -> None:
    assert argon2_area.KeptAreaArgon2(salt_len=16, hash_len=32, **SMALL).library() is argon2_area.ARGON2_CFFI
