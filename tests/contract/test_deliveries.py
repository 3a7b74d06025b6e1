"""Delivery records on every backend: stored once per message, status only forward, one winner per race."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, run_together
from twostep.domain.ports import Storage
from twostep.domain.receipts import Delivery, DeliveryStatus


def delivery(message_id: str = "SM1", challenge_id: str = "ch-1", minute: int = 0, **kw: object) -> Delivery:
    at = NOW + timedelta(minutes=minute)
    values: dict[str, object] = {
        "provider": "twilio",
        "message_id": message_id,
        "challenge_id": challenge_id,
        "channel": "sms",
        "status": "sent",
        "sent_at": at,
        "updated_at": at,
        "expires_at": at + timedelta(days=2),
    }
    values.update(kw)
    return Delivery(**values)  # type: ignore[arg-type]


def test_a_record_is_stored_once_and_read_back(storage: Storage) -> None:
    first = delivery()
    storage.add_delivery(first)
    storage.add_delivery(delivery(channel="voice"))  # the same message id again: the first record stays
    assert storage.get_delivery("twilio", "SM1") == first
    assert storage.get_delivery("flowroute", "SM1") is None  # another provider's id space
    assert storage.get_delivery("twilio", "SM2") is None


def test_status_moves_forward_to_one_final_status(storage: Storage) -> None:
    storage.add_delivery(delivery())
    later = NOW + timedelta(seconds=5)
    assert storage.advance_delivery("twilio", "SM1", "sent", None, later) is None  # not a later stage
    moved = storage.advance_delivery("twilio", "SM1", "undelivered", "30003", later)
    assert moved is not None and moved.status == "undelivered" and moved.error_code == "30003"
    assert moved.updated_at == later and moved.sent_at == NOW
    # A late `sent` and a contradicting final status change nothing.
    assert storage.advance_delivery("twilio", "SM1", "sent", None, later + timedelta(seconds=1)) is None
    assert storage.advance_delivery("twilio", "SM1", "delivered", None, later + timedelta(seconds=2)) is None
    assert storage.get_delivery("twilio", "SM1") == moved


def test_a_receipt_for_an_unknown_message_changes_nothing(storage: Storage) -> None:
    assert storage.advance_delivery("twilio", "SMnone", "delivered", None, NOW) is None
    assert storage.get_delivery("twilio", "SMnone") is None


def test_the_latest_record_of_a_challenge(storage: Storage) -> None:
    assert storage.latest_delivery("ch-1") is None
    storage.add_delivery(delivery("SM1", minute=0))
    storage.add_delivery(delivery("CA2", minute=1, channel="voice"))
    storage.add_delivery(delivery("SM3", challenge_id="ch-2", minute=2))
    latest = storage.latest_delivery("ch-1")
    assert latest is not None and latest.message_id == "CA2" and latest.channel == "voice"
    storage.advance_delivery("twilio", "CA2", "delivered", None, NOW + timedelta(minutes=3))
    latest = storage.latest_delivery("ch-1")
    assert latest is not None and latest.status == "delivered"


def test_racing_final_receipts_have_exactly_one_winner(storage: Storage) -> None:
    """Two (or more) receipts for one message at once: one conditional write wins, the rest change nothing."""
    storage.add_delivery(delivery())
    statuses: list[DeliveryStatus] = ["delivered", "failed", "undelivered", "delivered", "failed", "sent"] * 2
    results = run_together(
        len(statuses), lambda i: storage.advance_delivery("twilio", "SM1", statuses[i], None, NOW)
    )
    winners = [r for r in results if isinstance(r, Delivery)]
    assert len(winners) == 1, results
    assert all(r is None for r in results if not isinstance(r, Delivery))
    assert winners[0].status != "sent"
    assert storage.get_delivery("twilio", "SM1") == winners[0]


def test_a_late_sent_racing_a_final_never_wins(storage: Storage) -> None:
    storage.add_delivery(delivery())
    statuses: list[DeliveryStatus] = ["sent", "delivered"] * 4
    run_together(len(statuses), lambda i: storage.advance_delivery("twilio", "SM1", statuses[i], None, NOW))
    stored = storage.get_delivery("twilio", "SM1")
    assert stored is not None and stored.status == "delivered"
