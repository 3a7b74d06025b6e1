"""Challenges: attempts counted atomically, single use under races, resend keeps the budget."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, make_challenge, run_together
from twostep.domain.ports import Storage


def test_put_and_get(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    assert storage.get_challenge(challenge.id) == challenge
    assert storage.get_challenge("missing") is None


def test_count_attempt_stops_at_budget(storage: Storage) -> None:
    challenge = make_challenge(max_attempts=3)
    storage.put_challenge(challenge)
    counts = [storage.count_attempt(challenge.id, NOW) for _ in range(5)]
    assert [c.attempts if c else None for c in counts] == [1, 2, 3, None, None]
    assert storage.get_challenge(challenge.id).attempts == 3  # type: ignore[union-attr]


def test_count_attempt_refuses_expired_and_consumed(storage: Storage) -> None:
    expired = make_challenge(ttl=10)
    used = make_challenge()
    for challenge in (expired, used):
        storage.put_challenge(challenge)
    assert storage.count_attempt(expired.id, NOW + timedelta(seconds=10)) is None
    assert storage.consume_challenge(used.id, NOW)
    assert storage.count_attempt(used.id, NOW) is None
    assert storage.count_attempt("missing", NOW) is None


def test_consume_only_once(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    assert storage.consume_challenge(challenge.id, NOW)
    assert not storage.consume_challenge(challenge.id, NOW)
    assert storage.get_challenge(challenge.id).consumed_at == NOW  # type: ignore[union-attr]


def test_fifty_concurrent_consumes_have_one_winner(storage: Storage) -> None:
    challenge = make_challenge(max_attempts=100)
    storage.put_challenge(challenge)
    results = run_together(50, lambda _: storage.consume_challenge(challenge.id, NOW))
    assert results.count(True) == 1


def test_fifty_concurrent_attempts_never_exceed_budget(storage: Storage) -> None:
    challenge = make_challenge(max_attempts=5)
    storage.put_challenge(challenge)
    results = run_together(50, lambda _: storage.count_attempt(challenge.id, NOW))
    admitted = [r for r in results if r is not None and not isinstance(r, BaseException)]
    assert len(admitted) == 5
    assert sorted(r.attempts for r in admitted) == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert storage.get_challenge(challenge.id).attempts == 5  # type: ignore[union-attr]


def test_replace_code_keeps_attempts(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    storage.count_attempt(challenge.id, NOW)
    later = NOW + timedelta(seconds=40)
    replaced = storage.replace_code(challenge.id, "h2", later + timedelta(seconds=120), later)
    assert replaced is not None
    assert (replaced.code_hmac, replaced.attempts, replaced.sends, replaced.last_sent_at) == (
        "h2",
        1,
        2,
        later,
    )
    assert replaced.expires_at == later + timedelta(seconds=120)


def test_the_channel_is_stored_and_replaced_with_the_code(storage: Storage) -> None:
    called = make_challenge(channel="voice")
    storage.put_challenge(called)
    assert storage.get_challenge(called.id).channel == "voice"  # type: ignore[union-attr]
    replaced = storage.replace_code(called.id, "h2", NOW + timedelta(seconds=120), NOW, "whatsapp")
    assert replaced is not None and replaced.channel == "whatsapp"
    counted = storage.count_attempt(called.id, NOW)
    assert counted is not None and counted.channel == "whatsapp"
    texted = storage.replace_code(called.id, "h3", NOW + timedelta(seconds=120), NOW)
    assert texted is not None and texted.channel == "sms"  # a resend without a channel is a text


def test_a_logins_credentials_tag_is_stored_and_kept_through_resends_and_attempts(storage: Storage) -> None:
    tag = "0123456789abcdef" * 2
    login = make_challenge(credentials_tag=tag)
    storage.put_challenge(login)
    assert storage.get_challenge(login.id).credentials_tag == tag  # type: ignore[union-attr]
    read, _ = storage.get_challenge_with_account(login.id)
    assert read is not None and read.credentials_tag == tag
    replaced = storage.replace_code(login.id, "h2", NOW + timedelta(seconds=120), NOW)
    counted = storage.count_attempt(login.id, NOW)
    assert (
        replaced is not None
        and counted is not None
        and replaced.credentials_tag == counted.credentials_tag == tag
    )
    untagged = make_challenge(purpose="verify", subject="auth-1")
    storage.put_challenge(untagged)
    assert storage.get_challenge(untagged.id).credentials_tag is None  # type: ignore[union-attr]


def test_replace_code_refuses_consumed(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    storage.consume_challenge(challenge.id, NOW)
    assert storage.replace_code(challenge.id, "h2", NOW + timedelta(seconds=60), NOW) is None
    assert storage.replace_code("missing", "h2", NOW + timedelta(seconds=60), NOW) is None


def test_expire_challenge(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    storage.expire_challenge(challenge.id, NOW)
    assert storage.count_attempt(challenge.id, NOW) is None
    assert storage.get_challenge(challenge.id).expires_at <= NOW  # type: ignore[union-attr]


def test_put_overwrites_same_id(storage: Storage) -> None:
    challenge = make_challenge()
    storage.put_challenge(challenge)
    storage.put_challenge(make_challenge(id=challenge.id, code_hmac="other"))
    assert storage.get_challenge(challenge.id).code_hmac == "other"  # type: ignore[union-attr]
