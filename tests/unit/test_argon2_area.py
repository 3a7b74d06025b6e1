"""Argon2id in kept working areas (`domain.argon2_area`) gives argon2-cffi's own hashes and answers."""

from __future__ import annotations

import random
import threading

import pytest
from argon2 import PasswordHasher as LibraryHasher
from argon2 import Type
from argon2.low_level import hash_secret

from twostep.domain import argon2_area
from twostep.domain.argon2_area import KeptAreaArgon2
from twostep.domain.password_spelling import unmarked
from twostep.domain.passwords import PasswordHasher

SMALL = {"memory_kib": 64, "time_cost": 2, "parallelism": 1}  # cheap parameters for many cases


def _library_hash(password: bytes, salt: bytes, memory_kib: int, time_cost: int, parallelism: int) -> str:
    return hash_secret(password, salt, time_cost, memory_kib, parallelism, 32, Type.ID).decode()


def test_hashes_equal_argon2_cffis_byte_for_byte_over_many_inputs() -> None:
    rng = random.Random(19)
    for _ in range(400):
        memory_kib = rng.choice([8, 16, 40, 64, 100, 256])
        time_cost, parallelism = rng.randint(1, 3), rng.choice([1, 1, 2])
        memory_kib = max(memory_kib, 8 * parallelism)
        password = rng.randbytes(rng.randint(0, 80))
        salt = rng.randbytes(rng.choice([8, 16, 24]))
        kept = KeptAreaArgon2(memory_kib, time_cost, parallelism, len(salt), 32)
        assert kept.hash(password, salt) == _library_hash(password, salt, memory_kib, time_cost, parallelism)


@pytest.mark.parametrize(
    "stored",
    [
        "not-a-hash",
        "$argon2i$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # another variant
        "$argon2id$m=64,t=2,p=1$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # no version
        "$argon2id$v=19$m=064,t=2,p=1$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # not canonical
        "$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0=",  # padded
        "$argon2id$v=19$m=128,t=2,p=1$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # bigger area
        "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # refused by libargon2
        "$argon2id$v=19$m=64,t=2,p=1$c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # salt too short
        "$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0$Z",  # base64 that does not decode
    ],
)
def test_other_encodings_are_left_to_the_library(stored: str) -> None:
    assert KeptAreaArgon2(salt_len=16, hash_len=32, **SMALL).verify(stored, b"password") is None


def test_each_thread_keeps_one_area_and_grows_it_when_asked_for_more() -> None:
    seen: dict[str, list[object]] = {}

    def work(name: str) -> None:
        areas = seen.setdefault(name, [])
        for memory_kib in (64, 64, 32, 128):
            argon2_area.ARGON2_CFFI.digest(
                b"pw", b"s" * 16, memory_kib=memory_kib, time_cost=1, parallelism=1, length=32
            )
            areas.append(argon2_area._areas.area)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for areas in seen.values():
        assert areas[0] is areas[1] is areas[2]  # kept, also for a smaller request
        assert areas[3] is not areas[0] and len(areas[3]) == 128 * 1024  # type: ignore[arg-type]
    assert seen["a"][0] is not seen["b"][0]


def test_password_hasher_reads_hashes_the_library_made_and_the_library_reads_its() -> None:
    hasher = PasswordHasher(memory_kib=64)
    library = LibraryHasher(time_cost=2, memory_cost=64, parallelism=1, type=Type.ID)
    ours = hasher.hash("correct horse battery")
    assert library.verify(unmarked(ours)[0], "correct horse battery")  # once without the NFKC mark
    assert hasher.verify(library.hash("correct horse battery"), "correct horse battery")
    # Spelled another way (argon2i): argon2-cffi's own verify answers, with the same results.
    argon2i = LibraryHasher(time_cost=2, memory_cost=64, parallelism=1, type=Type.I)
    assert hasher.verify(argon2i.hash("correct horse battery"), "correct horse battery")
    assert not hasher.verify(argon2i.hash("correct horse battery"), "wrong horse battery")
    # A larger area than the configured one: the library's path too.
    bigger = LibraryHasher(time_cost=2, memory_cost=128, parallelism=1, type=Type.ID)
    assert hasher.verify(bigger.hash("correct horse battery"), "correct horse battery")
    assert not hasher.verify(bigger.hash("correct horse battery"), "wrong")
    hasher.close()
