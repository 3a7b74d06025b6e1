"""A delivery record keeps the language its text was written in, on every backend, so a fallback after a
failed text can use the same one; a record without one (kept before the language was stored) reads as
None."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, make_challenge
from tests.contract.test_deliveries import delivery
from tests.contract.test_store_sent_challenge import sent_event
from twostep.domain.ports import Storage


def test_the_language_round_trips_and_survives_a_receipt(storage: Storage) -> None:
    storage.add_delivery(delivery("SM-tr", "ch-lang", language="tr"))
    stored = storage.get_delivery("twilio", "SM-tr")
    assert stored is not None and stored.language == "tr"
    moved = storage.advance_delivery("twilio", "SM-tr", "failed", "30003", NOW + timedelta(seconds=3))
    assert moved is not None and moved.status == "failed" and moved.language == "tr"
    latest = storage.latest_delivery("ch-lang")
    assert latest is not None and latest.language == "tr"


def test_a_record_without_a_language_reads_as_none(storage: Storage) -> None:
    storage.add_delivery(delivery("SM-none", "ch-nolang"))
    stored = storage.get_delivery("twilio", "SM-none")
    assert stored is not None and stored.language is None
    moved = storage.advance_delivery("twilio", "SM-none", "undelivered", None, NOW + timedelta(seconds=3))
    assert moved is not None and moved.language is None


def test_a_sent_challenge_stores_its_record_with_the_language(storage: Storage) -> None:
    challenge = make_challenge(subject="lang-user")
    record = delivery("SM-de", challenge.id, language="de")
    storage.store_sent_challenge(challenge, (sent_event("lang-user"),), record)
    assert storage.get_delivery("twilio", "SM-de") == record
    latest = storage.latest_delivery(challenge.id)
    assert latest is not None and latest.language == "de"
