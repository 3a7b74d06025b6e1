"""Passwords made of the account's or the service's words, a repeat or a run (NIST SP 800-63B-4, 3.1.1.2)."""

from __future__ import annotations

import pytest

from twostep.domain.errors import WeakPassword
from twostep.domain.password_policy import password_policy

EMAIL = "alice.walker@example.com"
POLICY = password_policy(require_second_factor=True, org_name="AcmeBank")


@pytest.mark.parametrize(
    "password",
    [
        "Alice.Walker2024",  # the email's local part, in another case, digits after it
        "alice.walker!!",
        "!!ALICE WALKER!!",  # a space for the dot
        "alice_walker_1990",
        "alice.walker@example.com1",  # the whole address
        "Twostep2024!",  # the service's name
        "!!twostep!!",
        "#1 twostep",
        "acmebank123",  # the configured name
        "2024 Acme-Bank",
        "aaaaaaaaaaaa",  # one character repeated
        "!!!!!!!!!!!!",
        "aaaaaaaaa123",
        "abababababab",  # a short unit repeated
        "12121212",
        "abcabcabcabc",
        "ab-ab-ab-ab-ab",
        "123456789012",  # runs, either way, wrapping round
        "abcdefghijkl",
        "xyzabcdefgh",
        "qwertyuiopas",
        "qwertzuiop12",
        "azertyuiop!!",
        "zyxwvutsrq",
        "987654321098",
        "poiuytrewq",
        "ZXCVBNM,./",
        "9876543210!!",
        "asdfghjkl;'",
    ],
)
def test_context_words_repeats_and_runs_are_refused(password: str) -> None:
    """Before, each of these passed (only the email, the org name and a list of common passwords, each
    exactly, were refused): the account's own email with a year after it, the service's name with `!`
    round it, `aaaaaaaaaaaa`, `abababababab`, `qwertyuiopas`, `zyxwvutsrq`."""
    with pytest.raises(WeakPassword, match="too common or easy to guess") as refused:
        POLICY.check(password, email=EMAIL)
    assert refused.value.field == "password"


@pytest.mark.parametrize(
    "password",
    [
        "alice walker loves paris",  # contains the local part, but is a passphrase
        "my twostep account is safe",  # contains the service's name
        "acmebank pays my rent on time",
        "abcdefgh is a song I like",  # contains a run
        "qwerty keyboards are loud",
        "aaaaaaaa plus a real sentence",  # contains a repeat
        "horsehorsehorse",  # a word repeated: its unit is longer than a keystroke pattern
        "correct horse battery staple",
        "Tr0ub4dor&3-long",
        "1234 Maple Street, Apt 5",
        "walker.alice.example",
    ],
)
def test_passwords_that_merely_contain_such_a_part_are_allowed(password: str) -> None:
    POLICY.check(password, email=EMAIL)


def test_the_words_compared_are_the_account_s_own() -> None:
    """Another account's address is no context word here: the answer says nothing about other accounts."""
    POLICY.check("bob.builder2024", email=EMAIL)
    with pytest.raises(WeakPassword):
        POLICY.check("bob.builder2024", email="bob.builder@example.com")


def test_an_email_of_digits_refuses_itself_but_not_every_number() -> None:
    """A core of digits only strips to nothing: it matches its own digits, never every number."""
    with pytest.raises(WeakPassword):
        POLICY.check("20240517", email="20240517@example.com")
    POLICY.check("58203917", email="20240517@example.com")


@pytest.mark.parametrize(
    "password",
    [
        "йцукенгшщзхъфыва",  # the top row of a Russian keyboard, on into the next
        "ФЫВАПРОЛДЖЭ2024!",  # noqa: RUF001
        "абвгдеёжзийклмно",  # the Russian alphabet
        "ضصثقفغعهخحجدشسيب",  # the top row of an Arabic keyboard, on into the next
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥",  # Arabic-Indic digits counting up
        "۱۲۳۴۵۶۷۸",  # Persian digits: the listed 12345678
        "१२३४५६७८९०१२",  # Devanagari digits
    ],
)
def test_runs_in_the_other_scripts_twostep_speaks_are_refused(password: str) -> None:
    """Before, runs were read on Latin keyboards and ASCII digits only: a Russian keyboard row, the Russian
    alphabet, an Arabic keyboard row and the digits counting up in Arabic-Indic, Persian or Devanagari
    digits were all taken, though the docs promise a run of the alphabet, the digits or a keyboard row is not."""
    with pytest.raises(WeakPassword, match="too common or easy to guess"):
        POLICY.check(password, email=EMAIL)


@pytest.mark.parametrize(
    "password",
    ["мой пароль очень длинный", "كلمة السر الطويلة جدا", "СобакаКошкаМышь2024", "عام ٢٠٢٤ كان جيدا"],  # noqa: RUF001
)
def test_passphrases_in_those_scripts_are_taken(password: str) -> None:
    POLICY.check(password, email=EMAIL)
