"""A new code is stored once its message went out: the challenge (usable at once), its delivery record and
its `code_sent` event in one write, all or none. It replaces a challenge with the same id; the first
delivery record of a message id stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.contract.helpers import NOW, make_challenge, run_together
from tests.contract.test_deliveries import delivery
from twostep.domain.models import AuditEvent
from twostep.domain.ports import Storage


def sent_event(subject: str, provider: str = "twilio") -> AuditEvent:
    return AuditEvent(
        event="code_sent",
        at=NOW,
        user_id=subject,
        phone_masked="+90*******55",
        ip="203.0.113.9",
        request_id="req-1",
        detail={"purpose": "login", "channel": "sms", "provider": provider},
    )


def test_a_sent_code_is_stored_usable_with_its_record_and_event(storage: Storage) -> None:
    challenge = make_challenge(subject="sent-user")
    record = delivery("SM-sent", challenge.id)
    storage.store_sent_challenge(challenge, (sent_event("sent-user"),), record)
    assert storage.get_challenge(challenge.id) == challenge
    assert storage.get_delivery("twilio", "SM-sent") == record
    assert storage.latest_delivery(challenge.id) == record
    assert storage.list_audit(user_id="sent-user") == [sent_event("sent-user")]
    right = storage.attempt_challenge(challenge.id, NOW, challenge.code_hmac)  # usable at once
    assert right is not None and right.consumed_at == NOW and right.attempts == 1


def test_without_a_record_or_events_only_the_challenge_is_stored(storage: Storage) -> None:
    challenge = make_challenge(subject="bare-user")
    storage.store_sent_challenge(challenge, ())
    assert storage.get_challenge(challenge.id) == challenge
    assert storage.latest_delivery(challenge.id) is None
    assert storage.list_audit(user_id="bare-user") == []


def test_it_replaces_a_challenge_with_the_same_id(storage: Storage) -> None:
    used = make_challenge(subject="again-user", purpose="verify", attempts=2)
    storage.put_challenge(used)
    assert storage.consume_challenge(used.id, NOW)
    fresh = replace(used, code_hmac="h2", created_at=NOW + timedelta(seconds=5), attempts=0)
    storage.store_sent_challenge(fresh, (sent_event("again-user"),), delivery("SM-again", used.id))
    stored = storage.get_challenge(used.id)
    # The attempts counted on the challenge it replaces stay (the next test says why).
    assert stored == replace(fresh, attempts=2) and stored.consumed_at is None


def test_a_code_stored_over_a_placeholder_keeps_the_wrong_tries_counted_on_it(storage: Storage) -> None:
    """A reset's placeholder takes wrong codes while the real code is on its way; a fresh budget once it
    arrived told the guesser the address has an account (an unknown one's placeholder keeps counting)."""
    placeholder = make_challenge(subject="reset-user", purpose="reset", phone="", email="r@example.com")
    storage.put_challenge(placeholder)
    assert storage.count_attempt(placeholder.id, NOW) is not None
    assert storage.count_attempt(placeholder.id, NOW) is not None
    texted = replace(placeholder, code_hmac="h-real", phone="+905555555555", email=None, channel="sms")
    storage.store_sent_challenge(texted, (sent_event("reset-user"),))
    assert storage.get_challenge(placeholder.id) == replace(texted, attempts=2)
    right = storage.attempt_challenge(placeholder.id, NOW, "h-real")
    assert right is not None and right.consumed_at == NOW and right.attempts == 3


def test_the_first_record_of_a_message_id_stays_and_the_rest_is_still_stored(storage: Storage) -> None:
    first = delivery("SM-dup", "earlier-challenge")
    storage.add_delivery(first)
    challenge = make_challenge(subject="dup-user")
    storage.store_sent_challenge(challenge, (sent_event("dup-user"),), delivery("SM-dup", challenge.id))
    assert storage.get_delivery("twilio", "SM-dup") == first
    assert storage.get_challenge(challenge.id) == challenge
    assert storage.list_audit(user_id="dup-user") == [sent_event("dup-user")]


def test_writes_racing_on_one_message_id_each_store_their_challenge_and_event(storage: Storage) -> None:
    """Concurrent stores naming one message id: one record wins, no write is lost or half-done."""
    challenges = [make_challenge(subject=f"racer-{i}") for i in range(6)]

    def store(index: int) -> None:
        c = challenges[index]
        storage.store_sent_challenge(c, (sent_event(c.subject),), delivery("SM-race", c.id))

    results = run_together(len(challenges), store)
    assert results == [None] * len(challenges)
    winner = storage.get_delivery("twilio", "SM-race")
    assert winner is not None and winner.challenge_id in {c.id for c in challenges}
    for c in challenges:
        assert storage.get_challenge(c.id) == c
        assert storage.list_audit(user_id=c.subject) == [sent_event(c.subject)]


def test_writes_racing_on_one_challenge_id_leave_one_whole_code(storage: Storage) -> None:
    """Two creates for one id (a verification's auth_id) at once: the stored code is one of the two,
    whole, and each write's record and event are there (all or none per write)."""
    base = make_challenge(subject="same-id", purpose="verify")
    codes = [replace(base, code_hmac=f"h-{i}") for i in range(4)]

    def store(index: int) -> None:
        storage.store_sent_challenge(
            codes[index], (sent_event("same-id", f"p{index}"),), delivery(f"SM-{index}", base.id)
        )

    assert run_together(len(codes), store) == [None] * len(codes)
    assert storage.get_challenge(base.id) in codes
    assert all(storage.get_delivery("twilio", f"SM-{i}") is not None for i in range(len(codes)))
    assert len(storage.list_audit(user_id="same-id")) == len(codes)
