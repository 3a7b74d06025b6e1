"""Refresh tokens, the message board, the outbox, counters and the audit trail."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, make_refresh, run_together
from twostep.domain.errors import InvalidInput, StorageUnavailable
from twostep.domain.models import AuditEvent, Message, OutboxEntry
from twostep.domain.ports import Storage


def test_refresh_claim_once(storage: Storage) -> None:
    token = make_refresh()
    storage.add_refresh_token(token)
    claimed = storage.claim_refresh_token(token.token_hash, NOW)
    assert claimed is not None and claimed.used_at == NOW
    assert storage.claim_refresh_token(token.token_hash, NOW) is None
    assert storage.get_refresh_token(token.token_hash).used_at == NOW  # type: ignore[union-attr]


def test_refresh_claim_refuses_expired_and_revoked(storage: Storage) -> None:
    expired, revoked = make_refresh(ttl=10), make_refresh(family="fam-2")
    storage.add_refresh_token(expired)
    storage.add_refresh_token(revoked)
    storage.revoke_family("fam-2", NOW)
    assert storage.claim_refresh_token(expired.token_hash, NOW + timedelta(seconds=10)) is None
    assert storage.claim_refresh_token(revoked.token_hash, NOW) is None
    assert storage.claim_refresh_token("missing", NOW) is None


def test_revoke_family_revokes_only_that_family(storage: Storage) -> None:
    a1, a2, b1 = make_refresh("fam-a"), make_refresh("fam-a"), make_refresh("fam-b")
    for token in (a1, a2, b1):
        storage.add_refresh_token(token)
    storage.revoke_family("fam-a", NOW)
    assert storage.get_refresh_token(a1.token_hash).revoked_at == NOW  # type: ignore[union-attr]
    assert storage.get_refresh_token(a2.token_hash).revoked_at == NOW  # type: ignore[union-attr]
    assert storage.get_refresh_token(b1.token_hash).revoked_at is None  # type: ignore[union-attr]


def test_concurrent_refresh_claims_have_one_winner(storage: Storage) -> None:
    token = make_refresh()
    storage.add_refresh_token(token)
    results = run_together(20, lambda _: storage.claim_refresh_token(token.token_hash, NOW))
    assert len([r for r in results if r is not None and not isinstance(r, BaseException)]) == 1


def _message(i: int, seconds: float) -> Message:
    return Message(
        id=f"m{i:03d}",
        user_id="u",
        author="a@example.com",
        content=f"hello {i}",
        created_at=NOW + timedelta(seconds=seconds),
    )


def test_messages_newest_first_with_cursor(storage: Storage) -> None:
    for i in range(25):
        storage.add_message(_message(i, i))
    storage.add_message(_message(99, 24))  # same instant as m024: the id breaks the tie
    first = storage.list_messages(20)
    assert [m.id for m in first.items[:3]] == ["m099", "m024", "m023"]
    assert len(first.items) == 20 and first.next_cursor
    rest = storage.list_messages(20, first.next_cursor)
    assert [m.id for m in rest.items] == [f"m{i:03d}" for i in range(5, -1, -1)]
    assert rest.next_cursor is None


def test_messages_bad_cursor(storage: Storage) -> None:
    with pytest.raises(InvalidInput):
        storage.list_messages(20, "garbage")


@pytest.mark.parametrize("number", ["inf", "nan", "1e300", "-5.0"])
def test_messages_cursor_of_no_instant(storage: Storage, number: str) -> None:
    """Before, PostgreSQL failed with 500 on these (a datetime out of range, or NaN)."""
    storage.add_message(_message(1, 1))
    with pytest.raises(InvalidInput):
        storage.list_messages(20, f"{number}~m001")


def test_outbox_newest_last_and_filtered(storage: Storage) -> None:
    for i in range(5):
        storage.add_outbox(OutboxEntry(to="+1" if i % 2 else "+2", body=f"b{i}", sent_at=NOW))
    assert [e.body for e in storage.list_outbox(last=3)] == ["b2", "b3", "b4"]
    assert [e.body for e in storage.list_outbox(to="+1", last=10)] == ["b1", "b3"]


def test_outbox_keeps_each_message_channel(storage: Storage) -> None:
    storage.add_outbox(OutboxEntry(to="+1", body="text", sent_at=NOW))
    storage.add_outbox(OutboxEntry(to="+1", body="call", sent_at=NOW, channel="voice"))
    storage.add_outbox(OutboxEntry(to="+1", body="chat", sent_at=NOW, channel="whatsapp"))
    assert [(e.body, e.channel) for e in storage.list_outbox(to="+1")] == [
        ("text", "sms"),
        ("call", "voice"),
        ("chat", "whatsapp"),
    ]


def test_outbox_listed_by_channel_past_the_other_channels(storage: Storage) -> None:
    """`email outbox` read ten times the emails asked for and kept the emails among them, so it showed
    none once more texts than that were sent after them; the storage now lists one channel's newest."""
    storage.add_outbox(OutboxEntry(to="a@example.com", body="mail 1", sent_at=NOW, channel="email"))
    storage.add_outbox(OutboxEntry(to="a@example.com", body="mail 2", sent_at=NOW, channel="email"))
    for i in range(12):
        storage.add_outbox(OutboxEntry(to="+1", body=f"text {i}", sent_at=NOW))
    assert [e.body for e in storage.list_outbox(last=1, channel="email")] == ["mail 2"]
    assert [e.body for e in storage.list_outbox(to="a@example.com", last=5, channel="email")] == [
        "mail 1",
        "mail 2",
    ]
    assert storage.list_outbox(to="+1", last=5, channel="email") == []


def test_counter_increments_and_expires(storage: Storage) -> None:
    end = NOW + timedelta(seconds=60)
    assert storage.increment_counter("k", 1, NOW, end) == 1
    assert storage.increment_counter("k", 2, NOW, end + timedelta(seconds=99)) == 3
    live = storage.get_counter("k", NOW)
    assert live is not None and live.value == 3 and live.expires_at == end  # expiry kept
    assert storage.get_counter("k", end) is None
    assert storage.increment_counter("k", 1, end, end + timedelta(seconds=60)) == 1  # restarts after expiry
    storage.delete_counter("k")
    assert storage.get_counter("k", NOW) is None


def test_counters_read_together_leave_out_missing_and_expired_ones(storage: Storage) -> None:
    soon, later = NOW + timedelta(seconds=10), NOW + timedelta(seconds=60)
    storage.increment_counter("account-lock:u1", 1, NOW, later)
    storage.increment_counter("otp-fail:u1", 3, NOW, later)
    storage.increment_counter("short", 1, NOW, soon)
    keys = ["account-lock:u1", "otp-fail:u1", "short", "never-counted"]
    assert {k: c.value for k, c in storage.get_counters(keys, NOW).items()} == {
        "account-lock:u1": 1,
        "otp-fail:u1": 3,
        "short": 1,
    }
    assert storage.get_counters(keys, soon) == {
        "account-lock:u1": storage.get_counter("account-lock:u1", soon),
        "otp-fail:u1": storage.get_counter("otp-fail:u1", soon),
    }
    assert storage.get_counters(["never-counted"], NOW) == {}
    assert storage.get_counters([], NOW) == {}


def test_concurrent_increments_are_all_counted(storage: Storage) -> None:
    end = NOW + timedelta(seconds=60)
    results = run_together(50, lambda _: storage.increment_counter("hot", 1, NOW, end))
    assert sorted(results) == list(range(1, 51))  # type: ignore[type-var]
    assert storage.get_counter("hot", NOW).value == 50  # type: ignore[union-attr]


def test_audit_append_and_filter(storage: Storage) -> None:
    base = AuditEvent(event="login_failed", at=NOW, user_id="u1", ip="127.0.0.1", detail={"k": "v"})
    storage.append_audit(base)
    storage.append_audit(replace(base, event="code_sent", user_id="u2"))
    storage.append_audit(replace(base, event="code_verified"))
    assert [e.event for e in storage.list_audit()] == ["login_failed", "code_sent", "code_verified"]
    assert [e.event for e in storage.list_audit(user_id="u1", limit=1)] == ["code_verified"]
    assert storage.list_audit(limit=1)[0].detail == {"k": "v"}


def test_audit_events_appended_together_keep_their_order_and_fields(storage: Storage) -> None:
    storage.append_audit(AuditEvent(event="login_failed", at=NOW, user_id="u1"))
    together = [
        AuditEvent(
            event="code_verified", at=NOW, user_id="u1", ip="192.0.2.1", request_id="r", detail={"f": "sms"}
        ),
        AuditEvent(event="phone_verified", at=NOW, user_id="u1", phone_masked="+90*******55"),
        AuditEvent(
            event="login_succeeded", at=NOW, user_id="u1", email_hash="abc", detail={"factors": "pwd,sms"}
        ),
    ]
    storage.append_audits(together)
    storage.append_audits([])  # nothing to write is no error
    storage.append_audits([AuditEvent(event="code_sent", at=NOW, user_id="u2")])
    assert storage.list_audit(user_id="u1") == [
        AuditEvent(event="login_failed", at=NOW, user_id="u1"),
        *together,
    ]
    assert [e.event for e in storage.list_audit()][-1] == "code_sent"


def test_ping(storage: Storage) -> None:
    storage.ping()


def test_audit_events_appended_together_are_stored_all_or_none(storage: Storage) -> None:
    """A step's events go in one write: when the backend refuses one of them (DynamoDB: an item past
    its 400 KB), none of the step's events is kept."""
    huge = AuditEvent(event="code_sent", at=NOW, user_id="u3", detail={"big": "x" * 500_000})
    step = [
        AuditEvent(event="code_verified", at=NOW, user_id="u3"),
        huge,
        AuditEvent(event="login_succeeded", at=NOW, user_id="u3"),
    ]
    try:
        storage.append_audits(step)
    except StorageUnavailable:
        assert storage.list_audit(user_id="u3") == []
    else:
        assert [e.event for e in storage.list_audit(user_id="u3")] == [
            "code_verified",
            "code_sent",
            "login_succeeded",
        ]


def test_refresh_claim_refuses_a_token_issued_before_the_idle_cutoff_and_leaves_it_unspent(
    storage: Storage,
) -> None:
    """Before, a claim could not refuse a token by its issue time: a session's refresh token left unused for
    hours refreshed until the session's absolute end, as no storage knew an idle lifetime."""
    idle, fresh = make_refresh(), make_refresh(family="fam-2")
    fresh = replace(fresh, created_at=NOW + timedelta(minutes=20))
    storage.add_refresh_token(idle)
    storage.add_refresh_token(fresh)
    later = NOW + timedelta(minutes=31)
    cutoff = later - timedelta(minutes=30)  # the session's idle lifetime: 30 minutes
    assert storage.claim_refresh_token(idle.token_hash, later, cutoff) is None
    assert storage.claim_refresh_token(idle.token_hash, later, NOW) is None  # issued at the cutoff: idle
    unspent = storage.get_refresh_token(idle.token_hash)
    assert unspent is not None and unspent.used_at is None and unspent.revoked_at is None
    assert unspent.created_at == NOW  # what the service reads to tell idle from ended
    claimed = storage.claim_refresh_token(fresh.token_hash, later, cutoff)
    assert claimed is not None and claimed.used_at == later
    assert storage.claim_refresh_token(idle.token_hash, later) is not None  # no idle lifetime: as before


def test_concurrent_claims_of_an_idle_token_all_refused(storage: Storage) -> None:
    token = make_refresh()
    storage.add_refresh_token(token)
    later = NOW + timedelta(hours=1)
    cutoff = later - timedelta(minutes=30)
    results = run_together(10, lambda _: storage.claim_refresh_token(token.token_hash, later, cutoff))
    assert results == [None] * 10
    assert storage.get_refresh_token(token.token_hash).used_at is None  # type: ignore[union-attr]
