"""The automatic fallback in process, over SQLite: which failed texts send a fresh code by another channel
(the console carries every channel in dev), and that it happens at most once per code, however many
failure receipts race."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.conftest import PASSWORD
from tests.contract.helpers import run_together
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import StorageUnavailable, WrongCode
from twostep.domain.models import User
from twostep.domain.receipts import Receipt
from twostep.domain.transaction import Transaction

PHONE = "+4915112345678"


@pytest.fixture
def app(make_container: Callable[..., Container]) -> Container:
    return make_container(storage="sqlite", fallback_channels=["whatsapp", "voice"])


def messages(container: Container, channel: str | None = None) -> list[str]:
    entries = container.storage.list_outbox(to=PHONE, last=100)
    return [e.body for e in entries if channel is None or e.channel == channel]


def code_of(body: str) -> str:
    """The code in a text, or the spoken digits of a call in any language (`… lautet 4, 8, 2, …`)."""
    spoken = re.search(r"\d(?:, \d){3,9}", body)
    if spoken:
        return spoken.group(0).replace(", ", "")
    match = re.search(r"\b\d{6}\b", body)
    assert match is not None, body
    return match.group(0)


def fail_latest(container: Container, auth_id: str, status: str = "undelivered") -> str:
    shown = container.receipts.verification_status(auth_id, None)  # type: ignore[union-attr]
    assert shown.delivery is not None
    receipt = Receipt(shown.delivery.provider, shown.delivery.message_id, status, "30003")  # type: ignore[arg-type]
    return container.receipts.apply(receipt)  # type: ignore[union-attr]


def registered(container: Container, email: str) -> User:
    """An account with `PHONE` and the password the tests sign in with."""
    from twostep.services.registration import Registration

    details = Registration(email=email, password=PASSWORD, first_name="A", last_name="L", phone=PHONE)
    return container.registration.register(details)


def test_a_failed_text_is_followed_by_a_code_on_the_first_configured_channel(app: Container) -> None:
    app.verification.create("fb-1", PHONE)
    texted = code_of(messages(app, "sms")[-1])
    assert fail_latest(app, "fb-1") == "recorded"
    (whatsapp,) = messages(app, "whatsapp")
    assert messages(app, "voice") == []  # the first channel of the order that is carried
    shown = app.receipts.verification_status("fb-1", None)  # type: ignore[union-attr]
    assert (
        shown.delivery is not None
        and shown.delivery.channel == "whatsapp"
        and shown.delivery.status == "sent"
    )
    new_code = code_of(whatsapp)
    if new_code != texted:  # the texted code is void (one in a million draws the same digits)
        with pytest.raises(WrongCode):
            app.verification.check("fb-1", texted)
    assert app.verification.check("fb-1", new_code).auth_id == "fb-1"
    events = [e for e in app.audit.tail() if e.event == "code_fallback"]
    assert [e.detail["outcome"] for e in events] == ["sent"]
    assert (
        events[0].detail | {"channel": "whatsapp", "failed_channel": "sms", "auth_id": "fb-1"}
        == events[0].detail
    )


def test_racing_failure_receipts_send_one_fallback(app: Container) -> None:
    app.verification.create("fb-race", PHONE)
    texted = app.receipts.verification_status("fb-race", None).delivery  # type: ignore[union-attr]
    assert texted is not None
    statuses = ("failed", "undelivered")
    results = run_together(
        8,
        lambda i: app.receipts.apply(  # type: ignore[union-attr]
            Receipt(texted.provider, texted.message_id, statuses[i % 2])  # type: ignore[arg-type]
        ),
    )
    assert sorted(map(str, results)).count("recorded") == 1, results
    assert len(messages(app, "whatsapp")) == 1


def test_at_most_once_per_code_and_never_after_a_failed_fallback(app: Container) -> None:
    app.verification.create("fb-once", PHONE)
    fail_latest(app, "fb-once")
    assert fail_latest(app, "fb-once", "failed") == "recorded"  # the WhatsApp message failed too
    app.verification.create("fb-once", PHONE)  # the caller asks again: a new text for the same code id
    fail_latest(app, "fb-once")
    assert len(messages(app, "whatsapp")) == 1 and messages(app, "voice") == []


def test_no_fallback_for_a_used_an_expired_or_an_older_code(app: Container, clock: FixedClock) -> None:
    app.verification.create("fb-used", PHONE)
    app.verification.check("fb-used", code_of(messages(app, "sms")[-1]))
    fail_latest(app, "fb-used")

    app.verification.create("fb-old", PHONE, expiration=60)
    clock.advance(61)
    assert fail_latest(app, "fb-old") == "recorded"  # recorded and audited, but nothing sent

    app.verification.create("fb-stale", PHONE)
    first = app.receipts.verification_status("fb-stale", None).delivery  # type: ignore[union-attr]
    app.verification.create("fb-stale", PHONE)  # a newer text is on its way
    assert first is not None
    app.receipts.apply(Receipt(first.provider, first.message_id, "undelivered"))  # type: ignore[union-attr]
    assert messages(app, "whatsapp") == [] and messages(app, "voice") == []


def test_no_fallback_for_a_canceled_verification(app: Container) -> None:
    """A canceled code keeps its expiry (so a re-create keeps the attempts made); a failure receipt for
    its text must not send it again by another channel, which would make it usable again."""
    app.verification.create("fb-canceled", PHONE)
    assert app.verification.cancel("fb-canceled").state == "canceled"
    fail_latest(app, "fb-canceled")
    assert messages(app, "whatsapp") == [] and messages(app, "voice") == []
    shown = app.receipts.verification_status("fb-canceled", None)  # type: ignore[union-attr]
    assert shown.state == "canceled"


def test_without_fallback_channels_a_failure_is_only_recorded(
    make_container: Callable[..., Container],
) -> None:
    plain = make_container(storage="sqlite")
    plain.verification.create("fb-off", PHONE)
    assert fail_latest(plain, "fb-off") == "recorded"
    assert messages(plain, "whatsapp") == [] and messages(plain, "voice") == []


def test_a_refused_fallback_is_audited_and_the_receipt_still_recorded(
    make_container: Callable[..., Container],
) -> None:
    capped = make_container(storage="sqlite", fallback_channels=["voice"], sms_per_number_10min=1)
    capped.verification.create("fb-capped", PHONE)
    assert fail_latest(capped, "fb-capped") == "recorded"
    assert messages(capped, "voice") == []
    (event,) = [e for e in capped.audit.tail() if e.event == "code_fallback"]
    assert event.detail["outcome"] == "refused" and event.detail["reason"] == "rate_limited"


def test_the_resend_cooldown_does_not_hold_the_fallback_back(
    make_container: Callable[..., Container],
) -> None:
    paced = make_container(storage="sqlite", fallback_channels=["voice"], resend_cooldown_seconds=60)
    paced.verification.create("fb-paced", PHONE)
    fail_latest(paced, "fb-paced")
    assert len(messages(paced, "voice")) == 1


def test_a_transaction_bound_code_never_falls_back(app: Container) -> None:
    """Its amount and payee live only in its text and HMAC: no other message could carry the binding."""
    payment = Transaction.from_request("49.90 EUR", "ACME Shop")
    app.verification.create("fb-pay", PHONE, transaction=payment)
    assert "49.90 EUR" in messages(app, "sms")[-1]
    assert fail_latest(app, "fb-pay") == "recorded"
    assert messages(app, "whatsapp") == [] and messages(app, "voice") == []
    app.verification.create("fb-pay", PHONE)  # re-created without the transaction: still none for this id
    fail_latest(app, "fb-pay")
    assert messages(app, "whatsapp") == []


def test_a_sign_in_code_falls_back_too(make_container: Callable[..., Container]) -> None:
    from fastapi.testclient import TestClient

    from twostep.api.app import create_app

    app = make_container(storage="sqlite", fallback_channels=["voice"])
    user = {
        "firstName": "Ada",
        "lastName": "L",
        "email": "fb@example.com",
        "password": "correct horse battery staple",
    }
    with TestClient(create_app(app)) as api:
        assert api.post("/register", json=user | {"phoneNumber": PHONE}).status_code == 201
        otp_id = api.post("/login", json={"email": user["email"], "password": user["password"]}).json()[
            "otpId"
        ]
        texted = app.storage.latest_delivery(otp_id)
        assert texted is not None and texted.channel == "sms"
        app.receipts.apply(Receipt(texted.provider, texted.message_id, "failed"))  # type: ignore[union-attr]
        (call,) = messages(app, "voice")
        verified = api.post(f"/otp/{otp_id}/verify", json={"otp": code_of(call)})
        assert verified.status_code == 200, verified.text
    (event,) = [e for e in app.audit.tail() if e.event == "code_fallback"]
    assert event.user_id is not None and event.detail["purpose"] == "login"


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_deleted_accounts_code_gets_no_fallback_and_its_receipts_do_not_name_it(
    make_container: Callable[..., Container], storage: str
) -> None:
    """Before, a receipt arriving after `twostep users delete` (or DELETE /me) for the account's sign-in
    text sent the deleted person a fresh code by WhatsApp, and wrote the account's real id (and masked
    number) into the trail three times, after deletion had pseudonymised it."""
    app = make_container(storage=storage, fallback_channels=["whatsapp", "voice"])
    user = registered(app, "gone@example.com")
    first = app.login.start("gone@example.com", PASSWORD)
    second = app.login.start("gone@example.com", PASSWORD)
    texts = [app.storage.latest_delivery(c.otp_id) for c in (first, second)]  # type: ignore[union-attr]
    app.account.delete(user.id)
    sent_before = len(messages(app))
    failed, delivered = texts
    assert failed is not None and delivered is not None
    assert (
        app.receipts.apply(Receipt(failed.provider, failed.message_id, "undelivered", "30003")) == "recorded"
    )  # type: ignore[union-attr]
    assert app.receipts.apply(Receipt(delivered.provider, delivered.message_id, "delivered")) == "recorded"  # type: ignore[union-attr]
    assert len(messages(app)) == sent_before  # nothing more goes to the deleted account's number
    assert all(e.user_id != user.id for e in app.audit.tail(limit=100))
    receipts = [e for e in app.audit.tail(limit=100) if e.detail.get("source") == "receipt"]
    assert [e.event for e in receipts] == ["code_delivery_failed", "code_delivered"]
    assert all(e.user_id is None and e.phone_masked is None for e in receipts)
    assert all("purpose" not in e.detail for e in receipts)  # the code went with the account


def test_a_locked_accounts_sign_in_gets_no_fallback_code(make_container: Callable[..., Container]) -> None:
    """Before, a failure receipt for the text of a sign-in begun before `twostep users lock` sent a
    fresh code by WhatsApp (to the owner's phone, paid for) that no sign-in could use; a resend is
    refused then, and so is the fallback now, audited as refused."""
    app = make_container(storage="sqlite", fallback_channels=["whatsapp", "voice"])
    user = registered(app, "locked@example.com")
    started = app.login.start("locked@example.com", PASSWORD)
    texted = app.storage.latest_delivery(started.otp_id)  # type: ignore[union-attr]
    assert texted is not None
    app.account.lock(user.id)
    assert app.receipts.apply(Receipt(texted.provider, texted.message_id, "failed")) == "recorded"  # type: ignore[union-attr]
    assert messages(app, "whatsapp") == messages(app, "voice") == []
    (event,) = [e for e in app.audit.tail() if e.event == "code_fallback"]
    assert event.detail["outcome"] == "refused" and event.detail["reason"] == "account_locked"


def test_a_sign_in_fallback_call_speaks_the_account_language(
    make_container: Callable[..., Container],
) -> None:
    from fastapi.testclient import TestClient

    from twostep.api.app import create_app

    app = make_container(storage="sqlite", fallback_channels=["voice"])
    user = {"firstName": "A", "lastName": "L", "email": "ja@example.com", "password": "correct horse battery"}
    with TestClient(create_app(app)) as api:
        # A German number, an account that reads Japanese: the call follows the account, not the number.
        registered = api.post("/register", json=user | {"phoneNumber": PHONE, "locale": "ja"})
        assert registered.status_code == 201, registered.text
        started = api.post("/login", json={"email": user["email"], "password": user["password"]})
        otp_id = started.json()["otpId"]
        texted = app.storage.latest_delivery(otp_id)
        assert texted is not None
        app.receipts.apply(Receipt(texted.provider, texted.message_id, "failed"))  # type: ignore[union-attr]
    (call,) = messages(app, "voice")
    assert re.fullmatch(r"twostep の確認コードは \d(, \d){5} です。", call), call


def test_a_storage_failure_reading_the_account_language_leaves_the_fallback_for_the_next_receipt(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from twostep.api.app import create_app

    app = make_container(storage="sqlite", fallback_channels=["voice"])
    user = {
        "firstName": "A",
        "lastName": "L",
        "email": "down@example.com",
        "password": "correct horse battery",
    }
    with TestClient(create_app(app)) as api:
        assert api.post("/register", json=user | {"phoneNumber": PHONE, "locale": "ja"}).status_code == 201
        started = api.post("/login", json={"email": user["email"], "password": user["password"]})
        otp_id = started.json()["otpId"]
    # A record kept before the language was stored: only then is the account's language read.
    app.storage._execute("UPDATE deliveries SET language = NULL WHERE challenge_id = ?", (otp_id,))  # type: ignore[attr-defined]
    texted = app.storage.latest_delivery(otp_id)
    assert texted is not None and texted.language is None

    def down(_: str) -> None:
        raise StorageUnavailable("users table unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(app.storage, "get_user", down)
        app.receipts.apply(Receipt(texted.provider, texted.message_id, "failed"))  # type: ignore[union-attr]
    assert messages(app, "voice") == []  # not decided: the account could not be read
    # ...and the once-per-code fallback is still unspent, so a later failure of this code may use it.
    assert app.storage.get_counter(f"fallback:{otp_id}", app.clock.now()) is None


def test_a_fallback_not_delivered_either_keeps_the_attempts_made(
    make_container: Callable[..., Container],
) -> None:
    """Before, the fallback's new code, stored unusable until sent, stayed so when its WhatsApp message
    failed too: the verification looked over, and the next create for its auth_id started a whole budget
    of attempts again (a caller resets the number's budget by causing failed deliveries). Now the previous
    code is put back, with the attempts made on it."""
    from tests.sms.conftest import CREDENTIALS
    from tests.sms.provider_server import ProviderServer, Reply

    twilio = ProviderServer(default=Reply.json(500, {"message": "down"})).start()
    try:
        app = make_container(
            storage="sqlite",
            fallback_channels=["whatsapp"],
            channel_providers=["whatsapp:twilio"],
            twilio_base_url=twilio.url,
            twilio_whatsapp_from="+14155238886",
            sms_timeout_seconds=2,
            **CREDENTIALS,
        )
        app.verification.create("fb-down", PHONE, retries=3)
        texted = code_of(messages(app, "sms")[-1])
        for _ in range(2):
            with pytest.raises(WrongCode):
                app.verification.check("fb-down", "000000" if texted != "000000" else "111111")
        assert fail_latest(app, "fb-down") == "recorded"
        assert len(twilio.requests) >= 1  # the WhatsApp message was tried, and failed
        events = [e.detail for e in app.audit.tail() if e.event == "code_fallback"]
        assert [e["outcome"] for e in events] == ["refused"]
        again = app.verification.create("fb-down", PHONE, retries=3)
        assert again.attempts_left == 1  # the two wrong codes made still count
        assert app.verification.check("fb-down", code_of(messages(app, "sms")[-1])).auth_id == "fb-down"
    finally:
        twilio.stop()


@pytest.mark.parametrize("providers", [[], ["whatsapp:console"]])
def test_fallback_channels_no_provider_carries_stop_the_start(
    make_container: Callable[..., Container], providers: list[str]
) -> None:
    """Before, `TWOSTEP_FALLBACK_CHANNELS=voice` without a voice provider started cleanly, and then every
    failed text was only recorded: no fallback, no audit, no warning. Now the start stops, naming it."""
    from pydantic import ValidationError

    from twostep.settings import describe_validation_error

    with pytest.raises(ValidationError) as caught:
        make_container(storage="sqlite", fallback_channels=["voice"], channel_providers=providers)
    assert describe_validation_error(caught.value).startswith(
        "invalid configuration: TWOSTEP_FALLBACK_CHANNELS: no provider carries voice"
    )


def test_fallback_goes_by_the_listed_channel_a_provider_carries(
    make_container: Callable[..., Container],
) -> None:
    """One listed channel carried is enough: the fallback goes by it (the first this deployment carries)."""
    app = make_container(
        storage="sqlite", fallback_channels=["voice", "whatsapp"], channel_providers=["whatsapp:console"]
    )
    app.verification.create("fb-carried", PHONE)
    fail_latest(app, "fb-carried")
    assert len(messages(app, "whatsapp")) == 1 and messages(app, "voice") == []
