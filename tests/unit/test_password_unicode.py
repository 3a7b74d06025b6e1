"""Passwords in Unicode: NFKC before hashing (NIST SP 800-63B-4, 3.1.1.2), hashes made before kept."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type

from twostep.domain.errors import WeakPassword
from twostep.domain.password_spelling import NFKC_MARK, Verified, unmarked
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


class CountedRuns:
    """Counts the Argon2 runs of `hasher`'s checks (each `Argon2id.verify` is one)."""

    def __init__(self, hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs = 0
        verify = hasher._argon2id.verify

        def counted(stored_hash: str, password: str) -> bool:
            self.runs += 1
            return verify(stored_hash, password)

        monkeypatch.setattr(hasher._argon2id, "verify", counted)

    def of(self, work: Callable[..., object], *args: object) -> int:
        """The runs `work(*args)` took."""
        self.runs = 0
        work(*args)
        return self.runs


WRONG_GUESSES = ["wrong harbour lig\uff48t", "the \ufb01rst \ufb02oor", "strange harbour light\u00b2"]


@pytest.mark.parametrize("guess", WRONG_GUESSES)
def test_a_wrong_guess_with_a_compatibility_character_costs_one_run_on_a_new_hash(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch, guess: str
) -> None:
    """Before, a wrong password whose NFC spelling differs from its NFKC one (a full-width letter, the
    ligature fi, a superscript) was checked twice against every hash, an unknown email's dummy too: an
    attacker doubled the Argon2 work of each allowed attempt at any account. A hash made now says it is of
    the NFKC spelling, so only one run; a hash without the mark (made before) still gets the second."""
    new = hasher.hash(PLAIN)
    library = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    before_the_mark = library.hash(unicodedata.normalize("NFC", FULL_WIDTH))
    counted = CountedRuns(hasher, monkeypatch)
    assert new.startswith(NFKC_MARK + "$argon2id$")
    assert counted.of(hasher.check, new, guess) == 1
    assert counted.of(hasher.check, None, guess) == 1  # an unknown email costs what a new one does
    assert counted.of(hasher.check, before_the_mark, guess) == 2
    assert counted.of(hasher.check, new, "wrong harbour light") == 1  # no such character: as before


def test_a_hash_without_the_mark_verifies_as_before_and_is_marked_without_a_run(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hash made before the mark (of either spelling, here or by argon2-cffi elsewhere) still verifies
    every spelling it did; once right, it is stored again with the mark and no Argon2 run, or hashed anew
    when it was of the NFC spelling, and from then on checked once."""
    library = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    of_nfkc, of_nfc = library.hash(PLAIN), library.hash(FULL_WIDTH)
    assert hasher.check(of_nfkc, FULL_WIDTH) is Verified.UNMARKED
    assert hasher.check(of_nfc, FULL_WIDTH) is Verified.EARLIER_SPELLING
    assert hasher.check(of_nfc, PLAIN) is Verified.NO  # as before: the NFC hash never knew the ASCII
    counted = CountedRuns(hasher, monkeypatch)
    assert counted.of(hasher.replacement, of_nfkc, PLAIN, Verified.UNMARKED) == 0
    for stored, verified in [(of_nfkc, Verified.UNMARKED), (of_nfc, Verified.EARLIER_SPELLING)]:
        replaced = hasher.replacement(stored, FULL_WIDTH, verified)
        assert unmarked(replaced)[1]
        assert hasher.check(replaced, FULL_WIDTH) is Verified.YES
        assert hasher.check(replaced, PLAIN) is Verified.YES
        assert counted.of(hasher.check, replaced, WRONG_GUESSES[0]) == 1
    assert hasher.replacement(of_nfkc, PLAIN, Verified.UNMARKED) == NFKC_MARK + of_nfkc


def test_a_marked_hash_with_old_parameters_is_hashed_anew() -> None:
    """The mark is no parameter: a marked hash of older parameters wants a rehash as its bare string does,
    and its replacement has the current ones."""
    old = PasswordHasher(memory_kib=1024, time_cost=1)
    current = PasswordHasher(memory_kib=2048, time_cost=1)
    stored = old.hash(PLAIN)
    assert not old.needs_rehash(stored) and current.needs_rehash(stored)
    replaced = current.replacement(stored, PLAIN, Verified.UNMARKED)
    assert not current.needs_rehash(replaced) and current.check(replaced, PLAIN) is Verified.YES
    assert current.check(NFKC_MARK + "$argon2id$garbage", PLAIN) is Verified.NO
