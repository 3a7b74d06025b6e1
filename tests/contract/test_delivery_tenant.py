"""A delivery record keeps the verification API tenant its code was sent for, on every backend, so the
automatic fallback after a failed text acts for that tenant (its caps, its template); a record without
one (an account's code, or one kept before the tenant was stored) reads as None."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, make_challenge
from tests.contract.test_deliveries import delivery
from tests.contract.test_store_sent_challenge import sent_event
from twostep.domain.ports import Storage


def test_the_tenant_round_trips_and_survives_a_receipt(storage: Storage) -> None:
    storage.add_delivery(delivery("SM-shop", "ch-tenant", language="de", tenant="shop"))
    stored = storage.get_delivery("twilio", "SM-shop")
    assert stored is not None and (stored.tenant, stored.language) == ("shop", "de")
    moved = storage.advance_delivery("twilio", "SM-shop", "undelivered", "30003", NOW + timedelta(seconds=3))
    assert moved is not None and moved.status == "undelivered" and moved.tenant == "shop"
    latest = storage.latest_delivery("ch-tenant")
    assert latest is not None and latest.tenant == "shop"


def test_a_record_without_a_tenant_reads_as_none(storage: Storage) -> None:
    storage.add_delivery(delivery("SM-none", "ch-notenant"))
    stored = storage.get_delivery("twilio", "SM-none")
    assert stored is not None and stored.tenant is None
    moved = storage.advance_delivery("twilio", "SM-none", "failed", None, NOW + timedelta(seconds=3))
    assert moved is not None and moved.tenant is None


def test_a_sent_challenge_stores_its_record_with_the_tenant(storage: Storage) -> None:
    challenge = make_challenge(subject="tenant-user")
    record = delivery("SM-bank", challenge.id, tenant="bank")
    storage.store_sent_challenge(challenge, (sent_event("tenant-user"),), record)
    assert storage.get_delivery("twilio", "SM-bank") == record
