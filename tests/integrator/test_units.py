"""Transaction binding, RateLimit header fields, test numbers and the compat setting, without a server."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import http_sf
import pytest
from pydantic import ValidationError

from tests.conftest import settings_for_tests
from twostep.api.ratelimit_headers import ratelimit_headers
from twostep.domain.errors import InvalidInput, RateLimited
from twostep.domain.otp import CodeHasher, is_bound
from twostep.domain.transaction import Transaction, binding_of
from twostep.policies import FLOWROUTE_VERIFY_TEMPLATE, verify_policy
from twostep.services.test_numbers import FixedCodeNumbers
from twostep.settings import describe_validation_error

KEY = b"k" * 32


@pytest.mark.parametrize(
    "amount", ["49.90 EUR", "0 EUR", "1200 JPY", "0.125 BHD", "999999999999999.99 USD", "7.5 CHF"]
)
def test_amounts_in_the_strict_format_are_accepted(amount: str) -> None:
    assert Transaction.from_request(amount, "ACME") == Transaction(amount, "ACME")


@pytest.mark.parametrize(
    "amount",
    [
        "49,90 EUR",  # decimal comma
        "49.90EUR",  # no space
        "49.90  EUR",  # two spaces
        " 49.90 EUR",
        "-1 EUR",
        "+1 EUR",
        "01 EUR",  # leading zero
        "1.2345 EUR",  # four decimals
        "1. EUR",
        ".5 EUR",
        "1,000 EUR",
        "1e3 EUR",
        "49.90 eur",
        "49.90 EURO",
        "49.90",
        "EUR 49.90",
        "\uff11\uff12 EUR",  # fullwidth digits
        "1000000000000000 EUR",  # 16 integer digits
        "",
    ],
)
def test_other_amounts_are_refused_naming_the_field(amount: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Transaction.from_request(amount, "ACME")
    assert refused.value.field == "amount"


@pytest.mark.parametrize(
    "payee", ["", " ACME", "ACME ", "A\nB", "tab\there", "{code}", "x" * 65, "\u200bACME"]
)
def test_bad_payees_are_refused_naming_the_field(payee: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Transaction.from_request("1 EUR", payee)
    assert refused.value.field == "payee"


def test_amount_and_payee_go_together() -> None:
    assert Transaction.from_request(None, None) is None
    for amount, payee, missing in (("1 EUR", None, "payee"), (None, "ACME", "amount")):
        with pytest.raises(InvalidInput) as refused:
            Transaction.from_request(amount, payee)
        assert refused.value.field == missing


def test_one_amount_binds_alike_however_its_decimals_are_written() -> None:
    assert Transaction("49.90 EUR", "ACME").binding() == Transaction("49.9 EUR", "ACME").binding()
    assert Transaction("100 EUR", "ACME").binding() == Transaction("100.000 EUR", "ACME").binding()
    assert Transaction("0.00 EUR", "ACME").binding() == Transaction("0 EUR", "ACME").binding()
    assert Transaction("49.90 EUR", "ACME").binding() != Transaction("49.90 USD", "ACME").binding()
    assert Transaction("100 EUR", "ACME").binding() != Transaction("10 EUR", "ACME").binding()
    # NFC: the same name typed with a combining accent binds like the precomposed one
    assert Transaction("1 EUR", "Caf\u00e9").binding() == Transaction("1 EUR", "Cafe\u0301").binding()


def test_bindings_are_length_prefixed_so_no_split_collides() -> None:
    pairs = [("1 EUR", "2|3"), ("1 EUR", "2"), ("1 EUR", "3|1 EUR|2")]
    bindings = {Transaction(amount, payee).binding() for amount, payee in pairs}
    assert len(bindings) == len(pairs)
    # a payee that spells out another binding's tail cannot reproduce it
    tail = Transaction("1 EUR", "x").binding().split("|", 1)[1]
    assert Transaction("1 EUR", tail).binding() != Transaction("1 EUR", "x").binding()


def test_codes_stored_before_binding_existed_still_match() -> None:
    hasher = CodeHasher(KEY)
    old = hmac.new(KEY, b"v:abc\x00123456", hashlib.sha256).hexdigest()  # the format of earlier releases
    assert hasher.digest("v:abc", "123456") == old
    assert hasher.matches("v:abc", "123456", old, binding_of(None))
    bound = hasher.digest("v:abc", "123456", Transaction("1 EUR", "ACME").binding())
    assert bound != old
    assert is_bound(bound) and not is_bound(old)  # recognisable as bound, though nothing else is stored
    assert not hasher.matches("v:abc", "123456", bound)
    assert not hasher.matches("v:abc", "123456", bound, Transaction("1 EUR", "ACMF").binding())
    assert hasher.matches("v:abc", "123456", bound, Transaction("1.00 EUR", "ACME").binding())


def test_ratelimit_fields_are_structured_fields_named_by_the_limit() -> None:
    headers = ratelimit_headers(RateLimited("ip_login_rate", 42, quota=60, window=60))
    assert http_sf.parse(headers["RateLimit-Policy"].encode(), tltype="list") == [
        ("ip_login_rate", {"q": 60, "w": 60})
    ]
    assert http_sf.parse(headers["RateLimit"].encode(), tltype="list") == [
        ("ip_login_rate", {"r": 0, "t": 42})
    ]
    locked = ratelimit_headers(RateLimited("second_factor_locked", 86400, quota=100))
    assert http_sf.parse(locked["RateLimit-Policy"].encode(), tltype="list") == [
        ("second_factor_locked", {"q": 100})
    ]
    odd = ratelimit_headers(RateLimited('x"; evil=1', 5))  # never a name that is not a stable name
    assert http_sf.parse(odd["RateLimit"].encode(), tltype="list") == [("rate_limit", {"r": 0, "t": 5})]


def test_test_numbers_parse_and_are_refused_in_prod(tmp_path: Path) -> None:
    numbers = FixedCodeNumbers.parse(["+14155550100:246810", " +4915112345678:1234 "])
    assert numbers.code_for("+14155550100") == "246810"
    assert numbers.code_for("+4915112345678") == "1234"
    assert numbers.code_for("+14155552671") is None
    for bad in ("+14155550100", "+14155550100:12", "+14155550100:12345678901", "0800:123456", "x:123456"):
        with pytest.raises(ValidationError) as refused:
            settings_for_tests(tmp_path, test_numbers=bad)
        assert describe_validation_error(refused.value).startswith("TWOSTEP_TEST_NUMBERS: ")
    with pytest.raises(ValidationError) as in_prod:
        settings_for_tests(tmp_path, stage="prod", sms_providers=["sns"], test_numbers="+14155550100:246810")
    line = describe_validation_error(in_prod.value)
    assert "TWOSTEP_TEST_NUMBERS" in line and "prod" in line and "\n" not in line


def test_compat_mode_setting(tmp_path: Path) -> None:
    assert settings_for_tests(tmp_path).verify_compat == "twostep"
    compat = settings_for_tests(tmp_path, verify_compat="flowroute")
    assert verify_policy(compat).template == FLOWROUTE_VERIFY_TEMPLATE
    own = settings_for_tests(tmp_path, verify_compat="flowroute", verify_template="{code} hi")
    assert verify_policy(own).template == "{code} hi"
    assert settings_for_tests(tmp_path, verify_compat="").verify_compat == "twostep"
    with pytest.raises(ValidationError):
        settings_for_tests(tmp_path, verify_compat="twilio")
