"""DynamoDB's TTLs follow TWOSTEP_PURGE_GRACE_SECONDS and TWOSTEP_AUDIT_RETENTION_DAYS, as the other
backends' purge does.

Before, the TTLs were constants: audit events 400 days, used codes, refresh tokens, sessions, delivery
records and prefix blocks a day past their end. With an audit retention of two years DynamoDB deleted
the trail after 400 days, and with a grace of a week a late request got 404 instead of 410 (and a
reused refresh token went unrecognised) a day after the end.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tests.aws.conftest import AwsMode
from tests.contract.helpers import NOW, make_challenge, make_refresh
from tests.contract.test_deliveries import delivery
from tests.contract.test_sessions import make_session
from twostep.domain.models import AuditEvent, OutboxEntry
from twostep.domain.ports import PrefixBlock
from twostep.settings import Settings
from twostep.storage import build_storage
from twostep.storage.dynamodb import DynamoDbStorage
from twostep.storage.dynamodb_client import to_number

pytestmark = pytest.mark.aws

DAY = 86_400


def _storage(monkeypatch: pytest.MonkeyPatch, **environ: str) -> DynamoDbStorage:
    """Built as every entry point builds it (the Lambda handlers too): from the settings."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    storage = build_storage(Settings(_env_file=None))  # type: ignore[call-arg]
    assert isinstance(storage, DynamoDbStorage)
    storage.init_schema()
    return storage


def _kept_after(storage: DynamoDbStorage, pk: str, sk: str, end: datetime) -> float:
    """Seconds between `end` and the item's TTL, in days."""
    item = storage._get(pk, sk)  # private on purpose: the TTL is no part of the port
    assert item is not None, (pk, sk)
    return (int(item["ttl"]) - float(to_number(end))) / DAY


def test_what_ended_is_kept_for_the_grace_and_audit_events_for_the_retention(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _storage(
        monkeypatch, TWOSTEP_PURGE_GRACE_SECONDS=str(7 * DAY), TWOSTEP_AUDIT_RETENTION_DAYS="730"
    )
    challenge = make_challenge()
    storage.put_challenge(challenge)
    session = make_session()
    token = make_refresh(family=session.id)
    storage.add_session(session, token)
    storage.append_audit(AuditEvent("login_succeeded", NOW, user_id="user-1"))
    sent = replace(delivery("SM-kept"), expires_at=NOW + timedelta(days=2))
    storage.add_delivery(sent)
    block = PrefixBlock("+4477009001", NOW, NOW + timedelta(hours=1), 25, 1)
    storage.add_prefix_block(block)
    storage.add_outbox(OutboxEntry("+905555555555", "1234", NOW))

    assert _kept_after(storage, f"CHALLENGE#{challenge.id}", "CHALLENGE", challenge.expires_at) == 7
    assert _kept_after(storage, f"REFRESH#{token.token_hash}", "REFRESH", token.family_expires_at) == 7
    assert _kept_after(storage, f"USER#{session.user_id}", f"SESSION#{session.id}", session.expires_at) == 7
    assert _kept_after(storage, "DELIVERY#twilio#SM-kept", "DELIVERY", sent.expires_at) == 7
    assert _kept_after(storage, "PREFIXBLOCK#+4477009001", "BLOCK", block.until) == 7
    (audit,) = storage._query("PK = :p", {":p": "AUDIT"}, 10)
    assert (int(audit["ttl"]) - float(to_number(NOW))) / DAY == 730
    (outbox,) = storage._query("PK = :p", {":p": "OUTBOX"}, 10)
    assert (int(outbox["ttl"]) - float(to_number(NOW))) / DAY == 7  # at least a week, as before


def test_a_short_grace_and_retention_shorten_the_ttls(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _storage(monkeypatch, TWOSTEP_PURGE_GRACE_SECONDS="3600", TWOSTEP_AUDIT_RETENTION_DAYS="30")
    challenge = make_challenge()
    storage.put_challenge(challenge)
    storage.append_audit(AuditEvent("login_failed", NOW))
    assert _kept_after(storage, f"CHALLENGE#{challenge.id}", "CHALLENGE", challenge.expires_at) == 1 / 24
    (audit,) = storage._query("PK = :p", {":p": "AUDIT"}, 10)
    assert (int(audit["ttl"]) - float(to_number(NOW))) / DAY == 30
