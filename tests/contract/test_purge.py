"""Housekeeping on every backend: what ended is deleted in bounded batches, nothing live is touched."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from tests.contract.helpers import NOW, make_challenge, make_refresh
from tests.contract.test_deliveries import delivery
from tests.contract.test_factors import device
from tests.contract.test_idempotency_keys import record as idempotency_record
from tests.contract.test_sessions import make_session, started
from twostep.container import housekeeping_policy, revocation_window_seconds
from twostep.domain.clock import FixedClock
from twostep.domain.factors import Ceremony
from twostep.domain.models import AuditEvent, OutboxEntry
from twostep.domain.ports import PURGED_KINDS, PrefixBlock, Storage
from twostep.services.challenges import unusable_until_sent
from twostep.services.housekeeping import HousekeepingPolicy, HousekeepingService
from twostep.settings import Settings
from twostep.storage.dynamodb import DynamoDbStorage

DAY = 86_400
PHONE = "+905555555555"


def _service(storage: Storage, batch: int = 500, clock: FixedClock | None = None) -> HousekeepingService:
    policy = HousekeepingPolicy(grace_seconds=DAY, audit_retention_days=90, batch=batch)
    return HousekeepingService(storage, clock or FixedClock(NOW), policy)


def test_purge_deletes_what_ended_and_keeps_what_lives(storage: Storage) -> None:
    old = make_challenge(ttl=-2 * DAY)
    recent = make_challenge(ttl=-60)  # expired a minute ago: still within the grace, still says "expired"
    live = make_challenge(ttl=120)
    for challenge in (old, recent, live):
        storage.put_challenge(challenge)
    ended_session, live_session = make_refresh(ttl=-2 * DAY), make_refresh(family="fam-2", ttl=3600)
    storage.add_refresh_token(ended_session)
    storage.add_refresh_token(live_session)
    storage.increment_counter("ended", 1, NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    storage.increment_counter("live", 1, NOW, NOW + timedelta(minutes=1))
    storage.add_outbox(OutboxEntry(PHONE, "old", NOW - timedelta(days=3)))
    storage.add_outbox(OutboxEntry(PHONE, "new", NOW))
    storage.append_audit(AuditEvent("login_failed", NOW - timedelta(days=91)))
    storage.append_audit(AuditEvent("login_succeeded", NOW - timedelta(days=89)))
    # Sessions: one whose family ended two days ago (listed as revoked then), one still on and revoked now.
    gone = make_session(created_at=NOW - timedelta(days=3), expires_at=NOW - timedelta(days=2))
    storage.add_session(gone, make_refresh(family=gone.id))
    storage.revoke_family(gone.id, NOW - timedelta(days=2))
    on = make_session()
    storage.add_session(on, make_refresh(family=on.id))
    storage.revoke_family(on.id, NOW)
    # Second factors and fraud-guard blocks: one long expired, one expired within the grace, one live.
    for n, (name, seconds) in enumerate((("old", -2 * DAY), ("recent", -60), ("live", 300))):
        until = NOW + timedelta(seconds=seconds)
        storage.put_ceremony(Ceremony(f"cer-{name}", "register", "user-1", "Y2hhbGxlbmdl", until))
        storage.add_remembered_device(replace(device(f"dev-{name}"), expires_at=until))
        storage.add_prefix_block(PrefixBlock(f"+90{n}", until - timedelta(hours=1), until, 50, 0))
        storage.add_delivery(replace(delivery(f"SM-{name}"), expires_at=until))
    # Idempotency keys: one expired an hour ago, one live.
    storage.claim_idempotency_key(idempotency_record("lease-old", key="idem-old", at_second=-DAY - 3600))
    storage.claim_idempotency_key(idempotency_record("lease-live", key="idem-live"))

    housekeeping = _service(storage)
    deleted = housekeeping.purge_once()
    by_backend = housekeeping.left_to_backend
    assert set(deleted) == set(PURGED_KINDS)
    assert deleted == {kind: 0 if kind in by_backend else 1 for kind in PURGED_KINDS}

    if "challenges" not in by_backend:
        assert storage.get_challenge(old.id) is None
    assert storage.get_challenge(recent.id) is not None and storage.get_challenge(live.id) is not None
    if "refresh_tokens" not in by_backend:
        assert storage.get_refresh_token(ended_session.token_hash) is None
    assert storage.get_refresh_token(live_session.token_hash) is not None
    assert storage.get_counter("live", NOW) is not None
    assert [entry.body for entry in storage.list_outbox(to=PHONE)] == ["new"]
    assert [event.event for event in storage.list_audit()] == ["login_succeeded"]
    if "sessions" not in by_backend:
        assert storage.get_session(gone.user_id, gone.id) is None
    assert storage.get_session(on.user_id, on.id) is not None
    listed = {r.session_id for r in storage.list_revocations(NOW - timedelta(days=3))}
    assert listed == ({on.id} if "revocations" not in by_backend else {gone.id, on.id})
    assert storage.take_ceremony("cer-live", NOW) is not None
    assert [d.id for d in storage.list_remembered_devices("user-1", NOW)] == ["dev-live"]
    assert [b.prefix for b in storage.list_prefix_blocks(NOW)] == ["+902"]
    if "deliveries" not in by_backend:
        assert storage.get_delivery("twilio", "SM-old") is None
    assert storage.get_delivery("twilio", "SM-recent") is not None
    assert storage.get_delivery("twilio", "SM-live") is not None
    assert storage.get_idempotency_record("idem-live", NOW) is not None
    assert housekeeping.purge_once() == dict.fromkeys(PURGED_KINDS, 0)  # nothing more to do


def test_one_run_deletes_at_most_a_batch_and_a_full_purge_finishes(storage: Storage) -> None:
    for n in range(7):
        storage.append_audit(AuditEvent("login_failed", NOW - timedelta(days=100, seconds=n)))
        storage.add_outbox(OutboxEntry(PHONE, f"old {n}", NOW - timedelta(days=2, seconds=n)))
    storage.append_audit(AuditEvent("login_succeeded", NOW))
    housekeeping = _service(storage, batch=3)
    first = housekeeping.purge_once()
    assert first["audit"] == 3 and first["outbox"] == 3
    rest = housekeeping.purge_all()
    assert rest["audit"] == 4 and rest["outbox"] == 4
    assert [event.event for event in storage.list_audit()] == ["login_succeeded"]
    assert storage.list_outbox(to=PHONE) == []


def test_a_code_on_its_way_is_kept_until_it_is_armed(storage: Storage) -> None:
    """A resent or an emailed code is stored unusable until its message went out, then armed. Stored with
    an expiry long past, housekeeping (and DynamoDB's TTL) could delete it while its message was on its
    way, and the request answered 410 after the text had gone out. It is kept like a code that just ended."""
    resent = make_challenge()
    storage.put_challenge(resent)
    assert storage.replace_code(resent.id, "the new code's hmac", unusable_until_sent(NOW), NOW) is not None
    emailed = make_challenge(expires_at=unusable_until_sent(NOW))
    storage.put_challenge(emailed)
    on_their_way = (replace(resent, code_hmac="the new code's hmac"), emailed)
    if isinstance(storage, DynamoDbStorage):  # DynamoDB deletes by the item's TTL, a day after its expiry
        for challenge in on_their_way:
            item = storage._get(f"CHALLENGE#{challenge.id}", "CHALLENGE")  # private on purpose
            assert item is not None and int(item["ttl"]) > (NOW + timedelta(hours=1)).timestamp()

    _service(storage, clock=FixedClock(NOW + timedelta(minutes=5))).purge_once()

    for challenge in on_their_way:
        armed = storage.arm_challenge_audited(replace(challenge, expires_at=NOW + timedelta(minutes=2)), ())
        assert armed is not None, f"{challenge.id} was deleted on its way"


def test_a_revocation_is_kept_while_the_sessions_access_tokens_live(storage: Storage) -> None:
    """With a grace shorter than an access token's life (TWOSTEP_PURGE_GRACE_SECONDS=300 and 15-minute
    tokens, both accepted), housekeeping deleted a logout's revocation-list entry after five minutes, and
    a process reading the list afterwards (a restarted worker, a cold Lambda) accepted the session's
    access tokens for ten more. An entry is now kept as long as the list looks back for it."""
    settings = Settings(_env_file=None, purge_grace_seconds=300, access_token_ttl_seconds=900)  # type: ignore[call-arg]
    policy = housekeeping_policy(settings)
    session = started(storage)
    storage.revoke_family(session.id, NOW)  # the logout
    window = timedelta(seconds=revocation_window_seconds(settings))

    def purged_at(moment: datetime) -> dict[str, int]:
        return HousekeepingService(storage, FixedClock(moment), policy).purge_once()

    def listed_at(moment: datetime) -> bool:
        return session.id in {r.session_id for r in storage.list_revocations(moment - window)}

    last_look = NOW + window - timedelta(seconds=1)  # a process starting now still looks back to the logout
    assert purged_at(last_look)["revocations"] == 0
    assert listed_at(last_look)
    later = NOW + window + timedelta(seconds=1)  # every access token of the session has expired
    if "revocations" not in storage.expired_by_backend:
        assert purged_at(later)["revocations"] == 1
        assert not listed_at(later)


def test_a_batch_and_a_listing_of_more_than_a_megabyte_are_whole(storage: Storage) -> None:
    """DynamoDB ends a Query page at 1 MB read, and one Query was made per batch or listing: `audit tail`
    gave fewer events than asked (some 3,000 of `--last 10000`), and a purge run that came back short of
    its batch ended `storage purge` as if nothing were left. Every backend now gives the whole batch."""
    bulky = {"note": "x" * 100_000}  # a dozen of these pass the megabyte; the count is what matters
    for n in range(12):
        storage.append_audit(AuditEvent("login_failed", NOW - timedelta(days=100, seconds=n), detail=bulky))
    listed = len(storage.list_audit(limit=12))
    assert listed == 12
    assert _service(storage, batch=50).purge_all()["audit"] == 12
    assert storage.list_audit() == []
