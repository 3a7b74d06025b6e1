"""Passwords made of nothing but the account's or the service's words, a repeat or a run (NIST SP
800-63B-4, 3.1.1.2: "context-specific words, such as the name of the service, the username").

Whole-password matches only, after trivial variations (letter case, separators, digits or punctuation
around it): a long passphrase that merely contains such a part stays allowed, since NIST warns against
composition rules.
"""

from __future__ import annotations

import string
import unicodedata

SHORTEST_CORE = 4  # a shorter core ("x" of "1234567x!!") is what surrounds it, judged on its own
LONGEST_REPEATED_UNIT = 4  # "abababab", "abcabcabc", "12341234"; a repeated word ("horsehorse") is not one
_AROUND = string.digits + string.punctuation + " "

# Runs read left to right; each is also refused backwards. Keyboard rows run on into the next row
# ("qwertyuiopas"), as people type them; the number row ends in 0, the counting one begins with it.
_SEQUENCES = (
    string.ascii_lowercase,
    string.digits,
    "1234567890qwertyuiopasdfghjklzxcvbnm",  # QWERTY
    "1234567890qwertzuiopasdfghjklyxcvbnm",  # QWERTZ
    "1234567890azertyuiopqsdfghjklmwxcvbn",  # AZERTY
    # The scripts of the other languages twostep speaks, where one keyboard is the common one.
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",  # the Russian alphabet
    "1234567890йцукенгшщзхъфывапролджэячсмитьбю",  # noqa: RUF001 (Russian ЙЦУКЕН)
    "1234567890ضصثقفغعهخحجدشسيبلاتنمكطئءؤرلاىةوزظ",  # noqa: RUF001 (Arabic 101, in key order)
)


def ascii_digits(text: str) -> str:
    """`text` with the digits of every script (١٢٣, ۱۲۳, १२३) as ASCII digits: `١٢٣٤٥٦٧٨` is the listed
    `12345678` and a run of the digits, whichever digits a keyboard types. (NFKC keeps them apart.)"""
    return "".join(str(unicodedata.decimal(char)) if char.isdecimal() else char for char in text)


def _squashed(text: str) -> str:
    """Only the letters and digits: `alice.walker`, `Alice Walker` and `alice_walker` read the same."""
    return "".join(char for char in text if char.isalnum())


def variants(lowered: str) -> tuple[str, ...]:
    """`lowered` and its cores: without punctuation around it, then without digits around it too."""
    return (_squashed(lowered.strip(string.punctuation + " ")), _squashed(lowered.strip(_AROUND)))


def is_repeat(text: str) -> bool:
    """One character, or a unit of at most `LONGEST_REPEATED_UNIT`, repeated (at least twice) to the end."""
    return any(
        len(text) >= 2 * size and text == text[:size] * (len(text) // size)
        for size in range(1, LONGEST_REPEATED_UNIT + 1)
        if len(text) % size == 0
    )


def is_run(text: str) -> bool:
    """A stretch of the alphabet, the digits or a keyboard's rows, either way, wrapping round."""
    for sequence in _SEQUENCES:
        cycle = sequence * (len(text) // len(sequence) + 2)
        if text in cycle or text[::-1] in cycle:
            return True
    return False


def is_guessable(lowered: str, context_words: tuple[str, ...]) -> bool:
    """True when `lowered` (a password in lower case) is a context word, a repeat or a run, give or take
    letter case, separators and digits or punctuation around it."""
    words = {_squashed(word.lower()) for word in context_words} - {""}
    forms = (lowered, *variants(lowered))
    if any(form in words for form in forms):
        return True
    return any(
        (form == lowered or len(form) >= SHORTEST_CORE) and (is_repeat(form) or is_run(form))
        for form in forms
    )
