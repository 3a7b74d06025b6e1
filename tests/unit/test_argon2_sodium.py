"""Argon2id through libsodium (`domain.argon2_sodium`) and twostep's choice of path (`domain.argon2id`)
give argon2-cffi's own hashes and answers, byte for byte; so do the kept-area paths, for verifying."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher as LibraryHasher
from argon2 import Type
from argon2.exceptions import VerifyMismatchError
from argon2.low_level import hash_secret

from twostep.domain import argon2_sodium, argon2_vector
from twostep.domain.argon2_area import KeptAreaArgon2, encode, unb64
from twostep.domain.argon2_sodium import SodiumArgon2
from twostep.domain.argon2_vector import VectorArgon2, vector_library
from twostep.domain.argon2id import Argon2id
from twostep.domain.passwords import PasswordHasher

VECTORISED = argon2_sodium.vectorised  # before the fixture below replaces it
DERIVE = argon2_sodium.derive_function  # cached: its answer depends on `vectorised`
SMALL = {"memory_kib": 64, "time_cost": 2, "parallelism": 1}  # cheap parameters for many cases


def _library_hash(password: bytes, salt: bytes, memory_kib: int, time_cost: int, length: int = 32) -> str:
    return hash_secret(password, salt, time_cost, memory_kib, 1, length, Type.ID).decode()


def _library(memory_kib: int = 64, time_cost: int = 2, parallelism: int = 1) -> LibraryHasher:
    return LibraryHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID)


@pytest.fixture(autouse=True)
def _sodium_path_on_any_cpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """These tests compare libsodium's digests, also on a CPU where twostep would not take its path."""
    monkeypatch.setattr(argon2_sodium, "vectorised", lambda machine, cpuinfo: True)
    DERIVE.cache_clear()
    yield
    DERIVE.cache_clear()


def test_libsodium_is_there() -> None:
    assert argon2_sodium.derive_function() is not None  # a dependency: its absence would hide the path


@pytest.mark.parametrize(
    ("machine", "cpuinfo", "taken"),
    [
        ("x86_64", "processor\t: 0\nflags\t\t: fpu sse2 ssse3 avx avx2 avx512f\n", True),
        ("AMD64", "flags\t: sse2 avx2\n", True),
        ("x86_64", "flags\t\t: fpu sse2 ssse3 avx\n", False),  # no AVX2: libsodium's SSSE3 code
        ("x86_64", "flags\t\t: avx2_vnni\n", False),  # a whole flag, not a prefix
        ("x86_64", "", False),  # no /proc/cpuinfo to tell
        ("aarch64", "Features\t: fp asimd avx2\n", False),  # no vector Argon2 in libsodium on arm64
    ],
)
def test_libsodium_is_taken_only_where_its_argon2_is_vectorised(
    machine: str, cpuinfo: str, taken: bool
) -> None:
    assert VECTORISED(machine, cpuinfo) is taken


def test_hashes_equal_argon2_cffis_byte_for_byte_over_many_inputs() -> None:
    rng = random.Random(29)
    for _ in range(300):
        memory_kib, time_cost = rng.choice([8, 9, 16, 40, 64, 100, 256]), rng.randint(1, 3)
        length = rng.choice([16, 32, 33, 64])
        password = rng.randbytes(rng.randint(0, 80))  # NUL bytes and invalid UTF-8 included
        salt = rng.randbytes(16)
        path = SodiumArgon2(memory_kib, time_cost, 1, 16, length)
        assert path.hash(password, salt) == _library_hash(password, salt, memory_kib, time_cost, length)


NO_VECTOR_BUILD = "no libargon2 vector build runs here (see test_argon2_vector)"
PATHS = [
    SodiumArgon2,
    KeptAreaArgon2,
    pytest.param(VectorArgon2, marks=pytest.mark.skipif(vector_library() is None, reason=NO_VECTOR_BUILD)),
]
PathType = type[SodiumArgon2 | KeptAreaArgon2]


@pytest.mark.parametrize("path_type", PATHS)
def test_verify_matches_the_librarys_answer(path_type: PathType) -> None:
    rng = random.Random(11)
    path = path_type(salt_len=16, hash_len=32, **SMALL)
    for _ in range(200):
        password = rng.randbytes(rng.randint(1, 40))
        stored = _library_hash(password, rng.randbytes(16), 64, 2)
        assert path.verify(stored, password) is True
        other = password + b"x" if rng.random() < 0.5 else password[:-1]
        assert path.verify(stored, other) is False


@pytest.mark.parametrize("path_type", PATHS)
def test_a_changed_digest_salt_or_parameter_fails(path_type: PathType) -> None:
    path = path_type(salt_len=16, hash_len=32, **SMALL)
    stored = path.hash(b"correct horse", b"s" * 16)
    assert stored is not None
    _, salt_text, digest_text = stored.rsplit("$", 2)
    digest = bytearray(unb64(digest_text))
    digest[-1] ^= 0x80
    assert path.verify(encode(64, 2, 1, unb64(salt_text), bytes(digest)), b"correct horse") is False
    assert path.verify(encode(64, 2, 1, b"t" * 16, unb64(digest_text)), b"correct horse") is False
    assert path.verify(stored.replace("t=2", "t=3"), b"correct horse") is False
    assert path.verify(stored.replace("m=64", "m=32"), b"correct horse") is False


@pytest.mark.parametrize(
    "stored",
    [
        "not-a-hash",
        "$argon2i$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # variant
        "$argon2id$v=19$m=64,t=2,p=2$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # two lanes
        "$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # 8-byte salt
        "$argon2id$v=19$m=128,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # bigger area
        "$argon2id$v=19$m=064,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # spelling
        "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGlnZXN0ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # refused
        "$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZGln",  # digest shorter than libsodium's minimum
        "$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Z",  # base64 that does not decode
    ],
)
def test_other_encodings_are_left_to_the_next_path(stored: str) -> None:
    assert SodiumArgon2(salt_len=16, hash_len=32, **SMALL).verify(stored, b"password") is None


def test_without_libsodium_every_hash_is_left_to_the_next_path(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = _library_hash(b"password", b"s" * 16, 64, 2)
    monkeypatch.setattr(argon2_sodium, "derive_function", lambda: None)
    path = SodiumArgon2(salt_len=16, hash_len=32, **SMALL)
    assert path.hash(b"password", b"s" * 16) is None
    assert path.verify(stored, b"password") is None
    argon2id = Argon2id(_library())  # another path answers, with the same digests
    assert argon2id.verify(stored, "password") is True
    assert argon2id.verify(argon2id.hash("password"), "password") is True


def test_each_path_hashes_what_the_library_verifies_and_verifies_what_it_hashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    library = _library()
    for paths in ("vector", "sodium", "kept", "library"):  # each time the path before it is gone
        if paths == "sodium":
            monkeypatch.setattr(argon2_vector, "vector_library", lambda: None)
        if paths == "kept":
            monkeypatch.setattr(argon2_sodium, "derive_function", lambda: None)
        if paths == "library":
            monkeypatch.setattr(KeptAreaArgon2, "library", lambda self: None)
        argon2id = Argon2id(library)
        made = argon2id.hash("ünïcode pass")
        assert library.verify(made, "ünïcode pass")
        assert argon2id.verify(library.hash("ünïcode pass"), "ünïcode pass") is True
        with pytest.raises(VerifyMismatchError):
            argon2id.verify(made, "another pass")


def test_two_lanes_take_a_kept_area_with_the_same_answers() -> None:
    library = _library(parallelism=2)
    argon2id = Argon2id(library)
    made = argon2id.hash("two lanes")
    assert "p=2" in made and library.verify(made, "two lanes")
    with pytest.raises(VerifyMismatchError):
        argon2id.verify(made, "one lane")


def test_a_stored_hash_whose_base64_does_not_decode_is_a_mismatch_not_a_crash() -> None:
    hasher = PasswordHasher(memory_kib=64, time_cost=2)
    try:
        assert hasher.verify("$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Z", "password") is False
    finally:
        hasher.close()


def test_computed_by_names_the_first_path_that_takes_new_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    library = _library()
    built = vector_library()
    if built is not None:  # a vector build runs here (see test_argon2_vector)
        assert Argon2id(library).computed_by() == built.name
        assert built.name.startswith("libargon2 built for AVX")
    monkeypatch.setattr(argon2_vector, "vector_library", lambda: None)
    assert Argon2id(library).computed_by() == "libsodium"
    assert Argon2id(_library(parallelism=2)).computed_by() == "argon2-cffi's libargon2"  # one lane only
    monkeypatch.setattr(argon2_sodium, "derive_function", lambda: None)
    assert Argon2id(library).computed_by() == "argon2-cffi's libargon2"
    monkeypatch.setattr(KeptAreaArgon2, "library", lambda self: None)
    assert Argon2id(library).computed_by() == "argon2-cffi"
