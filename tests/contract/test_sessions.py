"""Sessions, the revocation list, and what account deletion leaves behind, on every storage."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from tests.contract.helpers import NOW, make_refresh, make_user, run_together
from twostep.domain.models import AuditEvent, Message, Session
from twostep.domain.ports import Storage


def make_session(user_id: str = "user-1", *, ttl: int = 3600, **kw: object) -> Session:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "user_id": user_id,
        "created_at": NOW,
        "expires_at": NOW + timedelta(seconds=ttl),
        "auth_time": NOW,
        "amr": ("pwd", "sms"),
        "last_used_at": NOW,
        "client": "Firefox on Linux",
        "ip": "203.0.113.0/24",
    }
    values.update(kw)
    return Session(**values)  # type: ignore[arg-type]


def started(storage: Storage, user_id: str = "user-1", **kw: object) -> Session:
    """A session with its first refresh token, as a sign-in stores it."""
    session = make_session(user_id, **kw)
    storage.add_session(session, make_refresh(family=session.id, user_id=user_id))
    return session


def test_a_new_session_is_listed_and_read_back(storage: Storage) -> None:
    session = started(storage)
    assert storage.get_session("user-1", session.id) == session
    assert storage.list_sessions("user-1", NOW) == [session]
    assert storage.get_session("someone-else", session.id) is None  # never another user's
    assert storage.list_sessions("someone-else", NOW) == []


def test_the_first_token_is_stored_with_the_session(storage: Storage) -> None:
    session = make_session()
    token = make_refresh(family=session.id)
    storage.add_session(session, token)
    claimed = storage.claim_refresh_token(token.token_hash, NOW)
    assert claimed is not None and claimed.family_id == session.id


def test_sessions_list_newest_first_without_ended_or_expired_ones(storage: Storage) -> None:
    old = started(storage, created_at=NOW - timedelta(minutes=5))
    new = started(storage, created_at=NOW + timedelta(minutes=1))
    ended = started(storage)
    started(storage, ttl=10)  # expired by the time of the listing below
    assert storage.revoke_family(ended.id, NOW)
    assert [s.id for s in storage.list_sessions("user-1", NOW + timedelta(seconds=20))] == [new.id, old.id]


def test_touch_sets_last_used(storage: Storage) -> None:
    session = started(storage)
    later = NOW + timedelta(minutes=3)
    touched = storage.touch_session("user-1", session.id, later)
    assert touched is not None and touched.last_used_at == later
    assert storage.get_session("user-1", session.id).last_used_at == later  # type: ignore[union-attr]
    assert storage.touch_session("user-1", "missing", later) is None
    assert storage.touch_session("someone-else", session.id, later) is None


def test_revoking_ends_the_session_its_tokens_and_lists_it(storage: Storage) -> None:
    session = started(storage)
    rotated = make_refresh(family=session.id)
    storage.add_refresh_token(rotated)
    other = started(storage)
    when = NOW + timedelta(seconds=5)
    assert storage.revoke_family(session.id, when)
    assert storage.claim_refresh_token(rotated.token_hash, when) is None
    assert storage.get_session("user-1", session.id).revoked_at == when  # type: ignore[union-attr]
    listed = storage.list_revocations(NOW)
    assert [(r.session_id, r.revoked_at) for r in listed] == [(session.id, when)]
    assert storage.get_session("user-1", other.id).revoked_at is None  # type: ignore[union-attr]


def test_revoking_twice_or_unknown_reports_nothing_ended(storage: Storage) -> None:
    session = started(storage)
    assert storage.revoke_family(session.id, NOW)
    assert not storage.revoke_family(session.id, NOW + timedelta(seconds=1))
    assert not storage.revoke_family("never-issued", NOW)
    assert [r.session_id for r in storage.list_revocations(NOW)] == [session.id]


def test_the_revocation_list_reads_from_a_moment_on(storage: Storage) -> None:
    early, late = started(storage), started(storage)
    storage.revoke_family(early.id, NOW)
    storage.revoke_family(late.id, NOW + timedelta(minutes=10))
    assert {r.session_id for r in storage.list_revocations(NOW - timedelta(seconds=1))} == {early.id, late.id}
    assert [r.session_id for r in storage.list_revocations(NOW + timedelta(minutes=5))] == [late.id]
    assert storage.list_revocations(NOW + timedelta(minutes=11)) == []


def test_a_family_from_before_sessions_can_still_be_ended(storage: Storage) -> None:
    token = make_refresh(family="legacy")
    storage.add_refresh_token(token)
    assert storage.revoke_family("legacy", NOW)
    assert [r.session_id for r in storage.list_revocations(NOW)] == ["legacy"]
    assert storage.claim_refresh_token(token.token_hash, NOW) is None


def test_concurrent_revocations_of_one_session_have_one_winner(storage: Storage) -> None:
    session = started(storage)
    results = run_together(10, lambda _: storage.revoke_family(session.id, NOW))
    assert results.count(True) == 1, results
    assert [r.session_id for r in storage.list_revocations(NOW)] == [session.id]


def test_a_refresh_racing_a_revocation_never_outlives_it(storage: Storage) -> None:
    """Claim and revoke at once: either the claim lost, or it won before the session was listed."""
    for _ in range(5):
        session = started(storage)
        token = make_refresh(family=session.id)
        storage.add_refresh_token(token)
        results = run_together(
            2,
            lambda i, t=token, s=session: (
                storage.claim_refresh_token(t.token_hash, NOW) if i == 0 else storage.revoke_family(s.id, NOW)
            ),
        )
        assert results[1] is True
        assert storage.claim_refresh_token(token.token_hash, NOW) is None
        assert session.id in {r.session_id for r in storage.list_revocations(NOW)}


def test_deleting_a_user_ends_and_lists_every_session_and_forgets_devices(storage: Storage) -> None:
    user = make_user()
    storage.add_user(user)
    first, second = started(storage, user.id), started(storage, user.id)
    storage.revoke_family(first.id, NOW)  # ended earlier: stays listed once
    assert storage.delete_user(user.id, NOW + timedelta(seconds=1))
    assert storage.list_sessions(user.id, NOW) == []
    assert {r.session_id for r in storage.list_revocations(NOW)} == {first.id, second.id}
    for session in (first, second):
        kept = storage.get_session(user.id, session.id)
        assert kept is None or (kept.client is None and kept.ip is None and kept.revoked_at is not None)


def test_anonymised_messages_keep_their_text_under_a_neutral_author(storage: Storage) -> None:
    mine = Message("m1", "user-1", "me@example.com", "hello", NOW)
    theirs = Message("m2", "user-2", "you@example.com", "hi", NOW + timedelta(seconds=1))
    storage.add_message(mine)
    storage.add_message(theirs)
    assert storage.anonymise_messages("user-1", "Deleted account", "deleted-x") == 1
    listed = {m.id: m for m in storage.list_messages(10).items}
    assert listed["m1"] == replace(mine, user_id="deleted-x", author="Deleted account")
    assert listed["m2"] == theirs
    assert storage.anonymise_messages("user-1", "Deleted account", "deleted-x") == 0


def test_pseudonymised_audit_keeps_events_but_nothing_personal(storage: Storage) -> None:
    event = AuditEvent(
        "login_succeeded", NOW, user_id="user-1", email_hash="e", phone_masked="+90*", ip="203.0.113.7"
    )
    storage.append_audit(event)
    storage.append_audit(replace(event, user_id="user-2"))
    assert storage.pseudonymise_audit("user-1", "deleted-x") == 1
    assert storage.list_audit(user_id="user-1") == []
    (kept,) = storage.list_audit(user_id="deleted-x")
    assert (kept.event, kept.email_hash, kept.phone_masked, kept.ip) == ("login_succeeded", None, None, None)
    assert storage.list_audit(user_id="user-2")[0].ip == "203.0.113.7"


STEP = (
    AuditEvent(event="code_verified", at=NOW, user_id="user-1", detail={"factor": "sms"}),
    AuditEvent(event="login_succeeded", at=NOW, user_id="user-1", detail={"factors": "pwd,sms"}),
)


def test_a_session_is_stored_with_its_steps_audit_events(storage: Storage) -> None:
    session = make_session()
    token = make_refresh(family=session.id)
    storage.add_session(session, token, STEP)
    assert storage.get_session("user-1", session.id) == session
    assert storage.get_refresh_token(token.token_hash) == token
    assert storage.list_audit(user_id="user-1") == list(STEP)


def test_a_refused_session_keeps_none_of_its_audit_events(storage: Storage) -> None:
    """The session's first token is already taken: a backend that refuses it stores nothing of the step,
    audit events included (one that takes it stores all)."""
    first = make_session()
    token = make_refresh(family=first.id)
    storage.add_session(first, token)
    second = make_session()
    try:
        storage.add_session(second, replace(token, family_id=second.id), STEP)
        refused = False
    except Exception:  # each backend refuses a taken token its own way
        refused = True
    assert storage.list_audit(user_id="user-1") == ([] if refused else list(STEP))
    assert (storage.get_session("user-1", second.id) is None) == refused
