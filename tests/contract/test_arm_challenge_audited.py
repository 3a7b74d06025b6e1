"""A delivered code is armed together with its `code_sent` event: one write, the event stored only
when the arm succeeded (never for a replaced, used or missing challenge)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.contract.helpers import NOW, make_challenge, run_together
from twostep.domain.models import AuditEvent, Challenge
from twostep.domain.ports import Storage
from twostep.services.challenges import unusable_until_sent

EXPIRY = NOW + timedelta(minutes=2)
UNSENT = unusable_until_sent(NOW)  # stored unusable until its message went out


def sent_event(subject: str, at_seconds: int = 0) -> AuditEvent:
    return AuditEvent(
        event="code_sent",
        at=NOW + timedelta(seconds=at_seconds),
        user_id=subject,
        phone_masked="+90*******55",
        ip="203.0.113.9",
        request_id="req-1",
        detail={"purpose": "login", "channel": "sms", "provider": "console"},
    )


def test_an_armed_code_is_stored_with_its_event(storage: Storage) -> None:
    challenge = make_challenge(subject="armed-user")
    storage.put_challenge(replace(challenge, expires_at=UNSENT))
    armed = storage.arm_challenge_audited(challenge, (sent_event("armed-user"),))
    assert armed is not None and armed.id == challenge.id and armed.expires_at == EXPIRY
    assert storage.list_audit(user_id="armed-user") == [sent_event("armed-user")]
    stored = storage.get_challenge(challenge.id)
    assert stored is not None and stored.expires_at == EXPIRY and stored.code_hmac == challenge.code_hmac
    counted = storage.count_attempt(challenge.id, NOW)  # usable now
    assert counted is not None and counted.attempts == 1


def test_a_refused_arm_stores_no_event(storage: Storage) -> None:
    challenge = make_challenge(subject="refused-user")
    storage.put_challenge(replace(challenge, expires_at=UNSENT))
    other_code = replace(challenge, code_hmac="another code's hmac")
    assert storage.arm_challenge_audited(other_code, (sent_event("refused-user"),)) is None
    assert (
        storage.arm_challenge_audited(replace(challenge, id="no-such"), (sent_event("refused-user"),)) is None
    )
    stored = storage.get_challenge(challenge.id)
    assert stored is not None and stored.expires_at == UNSENT  # still unusable
    assert storage.consume_challenge(challenge.id, NOW)
    assert storage.arm_challenge_audited(challenge, (sent_event("refused-user"),)) is None
    assert storage.list_audit(user_id="refused-user") == []


def test_several_events_are_stored_in_order_and_none_arms_alone(storage: Storage) -> None:
    challenge = make_challenge(subject="many-user")
    storage.put_challenge(replace(challenge, expires_at=UNSENT))
    events = (sent_event("many-user"), sent_event("many-user", 1))
    assert storage.arm_challenge_audited(challenge, events) is not None
    assert storage.list_audit(user_id="many-user") == list(events)
    again = make_challenge(subject="plain-user")
    storage.put_challenge(replace(again, expires_at=UNSENT))
    armed = storage.arm_challenge_audited(again, ())
    assert armed is not None and armed.expires_at == EXPIRY
    assert storage.list_audit(user_id="plain-user") == []


def replace_while_arming(storage: Storage, challenge: Challenge) -> list[Challenge | BaseException | None]:
    """A resend's `replace_code` and the arm of the code it replaces, released at once."""

    def act(index: int) -> Challenge | None:
        if index == 0:
            return storage.replace_code(challenge.id, "newer code's hmac", UNSENT, NOW)
        return storage.arm_challenge_audited(challenge, (sent_event(challenge.subject),))

    return run_together(2, act)


def test_a_code_replaced_while_it_is_armed_is_audited_only_if_it_armed(storage: Storage) -> None:
    for round_ in range(4):
        challenge = make_challenge(subject=f"race-user-{round_}")
        storage.put_challenge(replace(challenge, expires_at=UNSENT))
        replaced, armed = replace_while_arming(storage, challenge)
        assert isinstance(replaced, Challenge) and not isinstance(armed, BaseException)
        # The event is there exactly when the old code armed (before the replace made it unusable).
        events = storage.list_audit(user_id=challenge.subject)
        assert events == ([sent_event(challenge.subject)] if armed is not None else [])
        stored = storage.get_challenge(challenge.id)
        assert stored is not None and stored.code_hmac == "newer code's hmac"
        assert stored.expires_at == UNSENT
