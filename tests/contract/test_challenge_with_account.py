"""`get_challenge_with_account`: a sign-in's challenge and its account as it is now, in one request
where the backend can; what it tells agrees with `get_challenge` and `get_user`."""

from __future__ import annotations

from tests.contract.helpers import NOW, make_challenge, make_user, prove
from twostep.domain.identity import E164
from twostep.domain.ports import Storage


def test_an_unknown_challenge_finds_nothing(storage: Storage) -> None:
    assert storage.get_challenge_with_account("no-such-challenge") == (None, None)


def test_a_sign_in_challenge_comes_with_its_account_as_it_is_now(storage: Storage) -> None:
    user = make_user(email="with@example.com", locale="tr")
    storage.add_user(user)
    challenge = make_challenge(subject=user.id)
    storage.put_challenge(challenge)
    assert storage.get_challenge_with_account(challenge.id) == (challenge, user)
    assert prove(storage, user.id, E164("+905555555555"))
    assert storage.set_user_locale(user.id, None)
    read, account = storage.get_challenge_with_account(challenge.id)
    assert read == storage.get_challenge(challenge.id)
    assert account == storage.get_user(user.id)
    assert account is not None and account.phone_verified and account.locale is None


def test_a_deleted_account_reads_as_none(storage: Storage) -> None:
    user = make_user(email="gone@example.com")
    storage.add_user(user)
    challenge = make_challenge(subject=user.id)
    assert storage.delete_user(user.id, NOW)
    # The deletion erases the account's codes; one stored as it committed (a sign-in's password step
    # that read the account just before) outlives it, and names no account.
    storage.put_challenge(challenge)
    assert storage.get_challenge_with_account(challenge.id) == (challenge, None)


def test_only_a_sign_in_challenge_names_an_account(storage: Storage) -> None:
    user = make_user(email="named@example.com")
    storage.add_user(user)
    verification = make_challenge(purpose="verify", subject=user.id)  # an auth_id that looks like one
    storage.put_challenge(verification)
    assert storage.get_challenge_with_account(verification.id) == (verification, None)
