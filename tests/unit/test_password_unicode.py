"""Passwords in Unicode: NFKC before hashing (NIST SP 800-63B-4, 3.1.1.2), hashes made before kept."""

from __future__ import annotations

import unicodedata

import pytest
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type

from twostep.domain.errors import WeakPassword
from twostep.domain.passwords import PasswordHasher, check_password_rules


def full_width(text: str) -> str:
    """`text` as a full-width keyboard (an East Asian input method's default) types it."""
    return "".join("\u3000" if char == " " else chr(ord(char) + 0xFEE0) for char in text)


FULL_WIDTH = full_width("strange harbour light")

PLAIN = "strange harbour light"
LIGATURE = "the \ufb01rst \ufb02oor o\ufb03ce"  # "the first floor office" as a word processor pastes it


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(memory_kib=1024, time_cost=1)


@pytest.mark.parametrize(
    ("set_as", "typed"), [(FULL_WIDTH, PLAIN), (PLAIN, FULL_WIDTH), (LIGATURE, "the first floor office")]
)
def test_compatibility_spellings_of_one_password_verify_each_other(
    hasher: PasswordHasher, set_as: str, typed: str
) -> None:
    """Before, passwords were NFC-normalised only: one set on a full-width keyboard (or pasted with a
    ligature) failed when typed on an ordinary one, though NIST SP 800-63B-4 asks NFKC or NFKD."""
    assert hasher.verify(hasher.hash(set_as), typed)
    assert not hasher.verify(hasher.hash(set_as), typed + "x")


@pytest.mark.parametrize(
    "typed", [FULL_WIDTH, LIGATURE, "café au lait, s'il vous plaît", "plain ascii words"]
)
def test_a_hash_made_before_nfkc_keeps_verifying(hasher: PasswordHasher, typed: str) -> None:
    """A hash made of the NFC spelling (every hash before NFKC) still verifies the password as typed then,
    and no other password; an unknown email (no hash) still never verifies."""
    library = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    earlier = library.hash(unicodedata.normalize("NFC", typed))
    assert hasher.verify(earlier, typed)
    assert hasher.verify(earlier, unicodedata.normalize("NFD", typed))  # decomposed accents, as before
    assert not hasher.verify(earlier, typed + "x")
    assert not hasher.verify(None, typed)


def test_a_common_password_in_full_width_is_refused() -> None:
    """Before, the blocklist compared the password as typed: `password123` in full-width letters passed."""
    with pytest.raises(WeakPassword, match="too common"):
        check_password_rules(full_width("password123"))


@pytest.mark.parametrize(
    "typed",
    [
        "\ufdfa",  # one character, 18 after NFKC
        "\u3300\u3301\u3302\u3303",  # four squared katakana words, 15 after NFKC
        "\ufb03\ufb04\ufb00x\u2474\u2475",  # six characters, 15 after NFKC
    ],
)
def test_a_short_password_nfkc_makes_long_is_too_short(typed: str) -> None:
    """Before, the minimum counted the NFKC form: one typed character (U+FDFA, 18 characters after NFKC)
    passed the 15-character minimum where a password may be the only factor."""
    with pytest.raises(WeakPassword, match="at least 15 characters"):
        check_password_rules(typed, min_length=15)


def test_a_password_typed_decomposed_counts_its_composed_characters() -> None:
    """Accents typed as separate combining marks count once each character they compose, as before."""
    with pytest.raises(WeakPassword, match="at least 15 characters"):
        check_password_rules(unicodedata.normalize("NFD", "été à côté"), min_length=15)
    check_password_rules(full_width("strange harbour light"), min_length=15)  # typed 21, NFKC 21
