"""`enrolled_factors`: what a sign-in needs to know of an account's second factors, in one request."""

from __future__ import annotations

from tests.contract.helpers import NOW
from tests.contract.test_factors import passkey
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.ports import Storage

NOTHING = EnrolledFactors(passkeys=False, totp=False, recovery_codes=0)


def test_an_account_without_factors(storage: Storage) -> None:
    assert storage.enrolled_factors("user-1") == NOTHING


def test_each_factor_is_told_and_only_the_owners(storage: Storage) -> None:
    storage.add_passkey(passkey(user_id="user-1"))
    storage.begin_totp_enrolment("user-1", "sealed", NOW)
    storage.replace_recovery_codes("user-1", ("h1", "h2", "h3"), NOW)
    assert storage.enrolled_factors("user-1") == EnrolledFactors(passkeys=True, totp=False, recovery_codes=3)
    assert storage.confirm_totp("user-1", "sealed", 1, NOW)
    assert storage.use_recovery_code("user-1", "h2", NOW)
    assert storage.enrolled_factors("user-1") == EnrolledFactors(passkeys=True, totp=True, recovery_codes=2)
    assert storage.enrolled_factors("user-2") == NOTHING


def test_removed_factors_are_gone(storage: Storage) -> None:
    storage.add_passkey(passkey(user_id="user-1"))
    storage.begin_totp_enrolment("user-1", "sealed", NOW)
    assert storage.confirm_totp("user-1", "sealed", 1, NOW)
    assert storage.delete_passkey("user-1", "cred-1")
    assert storage.delete_totp("user-1")
    assert storage.enrolled_factors("user-1") == NOTHING
