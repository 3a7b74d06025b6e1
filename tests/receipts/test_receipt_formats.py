"""What the providers' receipts say, read without a server: Twilio's signature and statuses, Flowroute's
DLR documents (the shapes of their documentation), and what an unreadable receipt gets."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.receipts import InvalidReceipt, Receipt
from twostep.sms import flowroute_receipts, sns_receipts, twilio_receipts

# JSON nested beyond Python's recursion limit: json.loads raises RecursionError, not ValueError.
NESTED = "[" * 20_000 + "]" * 20_000  # within the 64 KiB body limit

# The worked example of Twilio's webhook security guide (auth token 12345).
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_FORM = [
    ("To", "+18005551212"),
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("Caller", "+12349013030"),
]


def test_the_twilio_signature_matches_twilios_published_example() -> None:
    assert twilio_receipts.signature(TWILIO_URL, TWILIO_FORM, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_receipts.signature_matches(TWILIO_URL, TWILIO_FORM, "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    tampered = [*TWILIO_FORM[:2], ("Digits", "9999"), *TWILIO_FORM[3:]]
    assert not twilio_receipts.signature_matches(
        TWILIO_URL, tampered, "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    other_url = TWILIO_URL.replace("bar=2", "bar=3")
    assert not twilio_receipts.signature_matches(
        other_url, TWILIO_FORM, "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert not twilio_receipts.signature_matches(
        TWILIO_URL, TWILIO_FORM, "54321", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert not twilio_receipts.signature_matches(TWILIO_URL, TWILIO_FORM, "12345", "")


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"MessageSid": "SM1", "MessageStatus": "queued"}, Receipt("twilio", "SM1", "sent")),
        ({"MessageSid": "SM1", "MessageStatus": "sent"}, Receipt("twilio", "SM1", "sent")),
        ({"MessageSid": "SM1", "MessageStatus": "delivered"}, Receipt("twilio", "SM1", "delivered")),
        ({"MessageSid": "SM1", "MessageStatus": "read"}, Receipt("twilio", "SM1", "delivered")),
        (
            {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"},
            Receipt("twilio", "SM1", "undelivered", "30003"),
        ),
        (
            {"SmsSid": "SM1", "SmsStatus": "failed", "ErrorCode": "30008"},
            Receipt("twilio", "SM1", "failed", "30008"),
        ),
        ({"CallSid": "CA1", "CallStatus": "ringing"}, Receipt("twilio", "CA1", "sent")),
        ({"CallSid": "CA1", "CallStatus": "completed"}, Receipt("twilio", "CA1", "delivered")),
        ({"CallSid": "CA1", "CallStatus": "no-answer"}, Receipt("twilio", "CA1", "undelivered")),
        ({"CallSid": "CA1", "CallStatus": "busy"}, Receipt("twilio", "CA1", "undelivered")),
    ],
)
def test_twilio_statuses(form: dict[str, str], expected: Receipt) -> None:
    assert twilio_receipts.parse_callback(list(form.items())) == expected


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"MessageSid": "SM1"},
        {"MessageStatus": "delivered"},
        {"MessageSid": "SM/../1", "MessageStatus": "sent"},
    ],
)
def test_a_twilio_callback_without_sid_or_status_is_invalid(form: dict[str, str]) -> None:
    with pytest.raises(InvalidReceipt):
        twilio_receipts.parse_callback(list(form.items()))


def flowroute_dlr(status: str, code: str | None = None, level: int = 2, **data: object) -> dict[str, object]:
    return {
        "data": {
            "attributes": {
                "body": "123456 is your code",
                "level": level,
                "status": status,
                "status_code": code,
                "status_code_description": "as the carrier said",
                "timestamp": "2026-01-01T12:00:00.00Z",
            },
            "id": "mdr2-39cadeace66e11e7aff806cd7f24ba2d",
            "links": {
                "related": "https://api.flowroute.com/v2.1/messages/mdr2-39cadeace66e11e7aff806cd7f24ba2d"
            },
            "type": "delivery_receipt",
            **data,
        }
    }


@pytest.mark.parametrize(
    ("status", "code", "expected", "error_code"),
    [
        ("smsc submit", None, "sent", None),
        ("message buffered", "1003", "sent", None),
        ("delivered", "1000", "delivered", None),
        ("delivery success", None, "delivered", None),
        ("smsc reject", "1101", "failed", "1101"),
        ("delivery failed", "1203", "undelivered", "1203"),
        ("undeliverable", "1204", "undelivered", "1204"),
        ("expired", None, "undelivered", None),
    ],
)
def test_flowroute_statuses(status: str, code: str | None, expected: str, error_code: str | None) -> None:
    receipt = flowroute_receipts.parse_receipt(flowroute_dlr(status, code))
    assert receipt == Receipt("flowroute", "mdr2-39cadeace66e11e7aff806cd7f24ba2d", expected, error_code)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {"data": []},
        {"data": {"id": "mdr2-1"}},
        flowroute_dlr("delivered", type="message"),
        flowroute_dlr("delivered", id=17),
        flowroute_dlr(""),
    ],
)
def test_a_flowroute_document_that_is_no_receipt_is_invalid(document: object) -> None:
    with pytest.raises(InvalidReceipt):
        flowroute_receipts.parse_receipt(document)


def test_the_flowroute_secret_is_compared_whole() -> None:
    secret = "s" * 32
    assert flowroute_receipts.secret_matches(secret, secret)
    assert not flowroute_receipts.secret_matches(secret[:-1], secret)
    assert not flowroute_receipts.secret_matches(secret + "x", secret)
    assert (
        flowroute_receipts.callback_url("https://a.example/", secret)
        == f"https://a.example/receipts/flowroute/{secret}"
    )


def test_an_authenticated_flowroute_receipt_nested_too_deeply_is_invalid(
    make_container: Callable[..., Container],
) -> None:
    """The route caught ValueError only: RecursionError from json.loads answered 500."""
    secret = "r" * 32
    container = make_container(receipt_secret=secret, public_url="https://auth.example.com")
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        answer = client.post(
            f"/receipts/flowroute/{secret}", content=NESTED, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_receipt"


def test_an_sns_log_line_or_event_nested_too_deeply_is_invalid() -> None:
    """SNS's receipts caught ValueError only: one such line failed the whole batch with RecursionError."""
    with pytest.raises(InvalidReceipt):
        sns_receipts.parse_line(NESTED)
    event = {"awslogs": {"data": base64.b64encode(gzip.compress(NESTED.encode())).decode()}}
    with pytest.raises(InvalidReceipt):
        sns_receipts.log_events(event)
