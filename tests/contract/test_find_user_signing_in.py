"""`find_user_signing_in`: the account by email and, where one storage request reads both, its enrolled
second factors; what it tells agrees with `find_user_by_email` and `enrolled_factors`."""

from __future__ import annotations

from tests.contract.helpers import NOW, make_user
from tests.contract.test_factors import passkey
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.ports import Storage


def agrees(storage: Storage, email: str) -> EnrolledFactors | None:
    user, enrolled = storage.find_user_signing_in(email)
    assert user == storage.find_user_by_email(email)
    assert user is not None
    assert enrolled is None or enrolled == storage.enrolled_factors(user.id)
    return enrolled


def test_an_unknown_email_finds_nothing(storage: Storage) -> None:
    storage.add_user(make_user(email="someone@example.com"))
    assert storage.find_user_signing_in("nobody@example.com") == (None, None)


def test_an_account_and_its_factors_as_they_change(storage: Storage) -> None:
    user = make_user(email="factors@example.com")
    other = make_user(email="other@example.com", phone="+905555555556")
    storage.add_user(user)
    storage.add_user(other)
    assert agrees(storage, user.email) in (
        None,
        EnrolledFactors(passkeys=False, totp=False, recovery_codes=0),
    )
    storage.add_passkey(passkey(user_id=user.id))
    storage.begin_totp_enrolment(user.id, "sealed", NOW)
    storage.replace_recovery_codes(user.id, ("h1", "h2", "h3"), NOW)
    assert agrees(storage, user.email) in (None, EnrolledFactors(passkeys=True, totp=False, recovery_codes=3))
    assert storage.confirm_totp(user.id, "sealed", 1, NOW)
    assert storage.use_recovery_code(user.id, "h2", NOW)
    assert agrees(storage, user.email) in (None, EnrolledFactors(passkeys=True, totp=True, recovery_codes=2))
    assert agrees(storage, other.email) in (
        None,
        EnrolledFactors(passkeys=False, totp=False, recovery_codes=0),
    )


def test_the_sql_and_memory_backends_read_the_factors_with_the_account(storage: Storage) -> None:
    """Only DynamoDB leaves them to `enrolled_factors` (its passkey query would time who has an account)."""
    user = make_user(email="together@example.com")
    storage.add_user(user)
    _, enrolled = storage.find_user_signing_in(user.email)
    backend = type(storage).__name__
    assert (enrolled is None) == (backend == "DynamoDbStorage"), backend
