"""Canonical identity: every look-alike of a registered email is refused or is the same account."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import register
from twostep.domain.errors import InvalidInput
from twostep.domain.identity import normalise_email

ACCENTED = "jos\u00e9@example.com"  # é as one code point (NFC)
# (look-alike, 409 = maps to the existing account, 400 = refused)
LOOKALIKES = [
    ("jos\u0065\u0301@example.com", 409),  # é as e + combining acute (NFD)
    ("JOS\u00c9@Example.COM", 409),  # other case
    ("\uff4a\uff4f\uff53\u00e9@example.com", 409),  # full-width letters (NFKC)
    ("j\u043es\u00e9@example.com", 400),  # Cyrillic o (U+043E) among Latin letters
    ("jos\u200b\u00e9@example.com", 400),  # zero-width space
    ("jos\u00e9\u202e@example.com", 400),  # right-to-left override
    ("\u200fjos\u00e9@example.com", 400),  # right-to-left mark
    ("jos\u00e9@exam\u200dple.com", 400),  # zero-width joiner in the domain
]
IDN = "anna@m\u00fcnchen.de"
PUNYCODE = "anna@xn--mnchen-3ya.de"


@pytest.mark.parametrize(("lookalike", "status"), LOOKALIKES)
def test_each_lookalike_is_refused_or_the_same_account(
    client: TestClient, lookalike: str, status: int
) -> None:
    register(client, ACCENTED)
    body = {"email": lookalike, "password": "another good passphrase", "firstName": "X", "lastName": "Y"}
    answer = client.post("/register", json=body | {"phoneNumber": "+905555555556"})
    assert answer.status_code == status, answer.text
    if status == 409:
        assert answer.json()["code"] == "account_exists"


@pytest.mark.parametrize(("first", "second"), [(IDN, PUNYCODE), (PUNYCODE, IDN)])
def test_an_idn_domain_and_its_punycode_are_one_address(client: TestClient, first: str, second: str) -> None:
    register(client, first)
    body = {"email": second, "password": "another good passphrase", "firstName": "X", "lastName": "Y"}
    body["phoneNumber"] = "+905555555556"
    assert client.post("/register", json=body).status_code == 409


def test_canonical_form() -> None:
    assert normalise_email(" Anna@M\u00dcNCHEN.de ") == PUNYCODE
    assert normalise_email("STRASSE@example.com") == normalise_email("stra\u00dfe@example.com")
    assert normalise_email("\u5c71\u7530\u305f\u308d\u3046@example.jp")  # Han with Hiragana is one script
    for bad in ("", "no-at-sign", "a@b", "a@@b.co", "a b@example.com", "x" * 300 + "@example.com"):
        with pytest.raises(InvalidInput):
            normalise_email(bad)
