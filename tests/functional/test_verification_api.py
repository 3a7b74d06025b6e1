"""The verification API over HTTP (TestClient): Flowroute sms-verification's wire contract at `/verifications` in the full
API and at `/` in the standalone app, API keys, and start-up refusal without keys outside dev."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import latest_code, settings_for_tests
from tests.live import PROD_WITHOUT_EMAIL, ServerProcess
from twostep.api.app import create_app
from twostep.api.verification_app import create_verification_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError
from twostep.email.console import ConsoleEmailSender
from twostep.sms.console import ConsoleSender
from twostep.storage.memory import MemoryStorage

PHONE = "+14155552671"
KEY = "test-key-0123456789abcdef"
FLOWROUTE_ERROR_KEYS = {"message", "reason", "attempts_left"}


class Api:
    """A client for one mounting of the verification routes."""

    def __init__(self, client: TestClient, path: str, container: Container) -> None:
        self.client, self.path, self.container = client, path, container

    def create(self, auth_id: Any = "order-1", recipient: Any = PHONE, **extra: Any) -> Any:
        return self.client.post(self.path, json={"auth_id": auth_id, "recipient": recipient, **extra})

    def check(self, code: str, auth_id: str = "order-1") -> Any:
        return self.client.get(self.path, params={"auth_id": auth_id, "code": code})

    def code(self) -> str:
        return latest_code(self.container, PHONE)


def wrong(code: str) -> str:
    return "0" * len(code) if code != "0" * len(code) else "1" * len(code)


def flowroute_error(response: Any, status: int, reason: str, attempts_left: int | None = 0) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = dict(response.json())
    assert body.keys() >= FLOWROUTE_ERROR_KEYS
    assert body["reason"] == reason
    assert body["attempts_left"] == attempts_left
    return body


@pytest.fixture(params=["full", "standalone"])
def api(request: pytest.FixtureRequest, container: Container) -> Iterator[Api]:
    if request.param == "full":
        app, path = create_app(container), "/verifications"
    else:
        app, path = create_verification_app(container), "/"
    with TestClient(app) as client:
        yield Api(client, path, container)


def test_create_wrong_right_and_reuse(api: Api) -> None:
    created = api.create()
    assert created.status_code == 200
    assert created.json()["auth_id"] == "order-1"
    assert created.json()["message"] == "Success: Verification code created."
    code = api.code()
    flowroute_error(api.check(wrong(code)), 401, "InvalidAuthCode", 2)
    ok = api.check(code)
    assert ok.status_code == 200
    assert ok.json() == {
        "authenticated": True,
        "auth_id": "order-1",
        "message": "Success: Authorization code verified.",
    }
    flowroute_error(api.check(code), 410, "ExpiredAuthCode")


def test_unknown_auth_id(api: Api) -> None:
    flowroute_error(api.check("123456", auth_id="nobody"), 404, "UnknownAuthId")


def test_expired_code(api: Api, clock: FixedClock) -> None:
    api.create(expiration=30)
    clock.advance(31)
    flowroute_error(api.check(api.code()), 410, "ExpiredAuthCode")


def test_exhaustion_then_re_post_is_refused_until_expiry(api: Api, clock: FixedClock) -> None:
    api.create(retries=2, expiration=120)
    code = api.code()
    flowroute_error(api.check(wrong(code)), 401, "InvalidAuthCode", 1)
    flowroute_error(api.check(wrong(code)), 401, "InvalidAuthCode", 0)
    flowroute_error(api.check(code), 410, "InvalidAuthCode")
    refused = flowroute_error(api.create(), 429, "RateLimited", None)
    assert "expires" in refused["message"]
    assert int(api.create().headers["retry-after"]) == 120
    clock.advance(120)
    assert api.create().json()["attempts_left"] == 3  # a fresh challenge with the default budget


@pytest.mark.parametrize("typed_tail", ["&auth_id=attacker", "&code=000000"])
def test_a_repeated_check_parameter_is_refused_and_checks_nothing(api: Api, typed_tail: str) -> None:
    """A caller that put what its user typed into the query unencoded (`?auth_id=<its id>&code=<typed>`)
    had its check answered for the LAST `auth_id` (Flowroute's Flask service read the first): a typed
    `<my code>&auth_id=<my id>` checked the user's own code and answered `authenticated: true` for the
    caller's id. A repeated parameter is now 400 naming it, and no attempt is spent."""
    api.create(auth_id="attacker", recipient="+14155550123")
    attackers_code = latest_code(api.container, "+14155550123")
    api.create(auth_id="victim")
    victims_code = api.code()
    typed = attackers_code + typed_tail
    body = flowroute_error(
        api.client.get(f"{api.path}?auth_id=victim&code={typed}"), 400, "InvalidAPIUsage", None
    )
    assert body["field"] == typed_tail[1:].partition("=")[0]
    flowroute_error(api.check(wrong(victims_code), auth_id="victim"), 401, "InvalidAuthCode", 2)
    assert api.check(attackers_code, auth_id="attacker").status_code == 200


def test_a_repeated_auth_id_on_the_status_route_is_refused(api: Api) -> None:
    """The status route read the last of two `auth_id`s, as the check did; it is now 400 naming it."""
    api.create(auth_id="victim")
    status_path = api.path.rstrip("/") + "/status"
    answer = api.client.get(f"{status_path}?auth_id=victim&auth_id=other")
    assert flowroute_error(answer, 400, "InvalidAPIUsage", None)["field"] == "auth_id"
    assert api.client.get(status_path, params={"auth_id": "victim"}).status_code == 200


@pytest.mark.parametrize("zero", ["\uff10", "\u0660", "\u06f0"], ids=["full-width", "arabic", "persian"])
def test_a_code_typed_in_another_script_s_digits_verifies(api: Api, zero: str) -> None:
    """Flowroute's service read the code with `int()`, which takes any script's decimal digits, so a
    code typed with a Japanese IME (full-width) or an Arabic or Persian keyboard verified; twostep
    answered 400 InvalidAPIUsage and the right code never worked. Such digits are now read as numbers;
    other characters (`²`) stay a 400."""
    api.create()
    code = api.code()
    typed = "".join(chr(ord(zero) + int(digit)) for digit in code)
    flowroute_error(
        api.check(wrong(code).translate({48 + d: ord(zero) + d for d in range(10)})),
        401,
        "InvalidAuthCode",
        2,
    )
    assert api.check(typed).json()["authenticated"] is True
    flowroute_error(api.check(code[:-1] + "\u00b2"), 400, "InvalidAPIUsage", None)


def test_re_post_keeps_the_failure_budget(api: Api) -> None:
    api.create()
    flowroute_error(api.check(wrong(api.code())), 401, "InvalidAuthCode", 2)
    again = api.create()
    assert again.status_code == 200
    assert again.json()["attempts_left"] == 2
    code = api.code()
    flowroute_error(api.check(wrong(code)), 401, "InvalidAuthCode", 1)
    assert api.check(code).json()["authenticated"] is True


def test_flowroute_numbers_custom_message_and_length(api: Api) -> None:
    created = api.create(
        auth_id=12345, recipient=14155552671, code_length=8, message="{code}\nWelcome to {org}!"
    )
    assert created.status_code == 200, created.text
    assert created.json()["auth_id"] == "12345"
    entry = api.container.storage.list_outbox(to=PHONE, last=1)[-1]
    assert entry.body.endswith("\nWelcome to twostep!")
    code = api.code()
    assert len(code) == 8
    assert api.check(code, auth_id="12345").status_code == 200


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"code_length": 3}, "code_length"),
        ({"code_length": 11}, "code_length"),
        ({"expiration": 10}, "expiration"),
        ({"expiration": 100000}, "expiration"),
        ({"retries": 0}, "retries"),
        ({"retries": 11}, "retries"),
        ({"retries": "3"}, "retries"),
        ({"retries": True}, "retries"),
        ({"message": "Your code is coming"}, "message"),
        ({"message": 7}, "message"),
        ({"recipient": "555-0100"}, "recipient"),
        ({"recipient": "4155552671"}, "recipient"),
        ({"auth_id": "x" * 121}, "auth_id"),
        ({"auth_id": ""}, "auth_id"),
        ({"auth_id": None}, "auth_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_400_naming_the_field(api: Api, extra: dict[str, Any], field: str) -> None:
    body = flowroute_error(api.create(**extra), 400, "InvalidAPIUsage", None)
    assert body["field"] == field
    assert field in body["message"]
    assert api.container.storage.list_outbox(last=1) == []


def test_missing_fields_and_broken_json_are_400(api: Api) -> None:
    assert flowroute_error(api.client.post(api.path, json={"auth_id": "a"}), 400, "InvalidAPIUsage", None)[
        "field"
    ] == ("recipient")
    broken = api.client.post(api.path, content=b'{"auth_id": ', headers={"content-type": "application/json"})
    flowroute_error(broken, 400, "InvalidAPIUsage", None)
    missing_code = api.client.get(api.path, params={"auth_id": "a"})
    assert flowroute_error(missing_code, 400, "InvalidAPIUsage", None)["field"] == "code"
    letters = api.check("12a456")
    assert flowroute_error(letters, 400, "InvalidAPIUsage", None)["field"] == "code"


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]
)
def test_a_body_not_sent_as_json_is_400_saying_to_send_json(api: Api, content_type: str) -> None:
    """Before, a form body (Twilio Verify's `To=…&Channel=sms`, or curl's `-d` without a JSON
    Content-Type, which Flowroute's README warned about) answered `body: Input should be a valid
    dictionary or object to extract fields from`, pydantic's words; it now says what to send."""
    sent = api.client.post(
        api.path, content=b"To=%2B14155552671&Channel=sms", headers={"content-type": content_type}
    )

    body = flowroute_error(sent, 400, "InvalidAPIUsage", None)
    assert body["field"] == "body"
    assert "Content-Type: application/json" in body["message"] and "dictionary" not in body["message"]
    assert api.container.storage.list_outbox(last=1) == []


def test_other_routes_keep_problem_json(container: Container) -> None:
    with TestClient(create_app(container)) as client:
        response = client.post("/login", json={"email": 1})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_openapi_lists_the_routes(container: Container) -> None:
    with TestClient(create_app(container)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/verifications"])


# --- API keys ---
@pytest.fixture
def keyed(make_container: Callable[..., Container]) -> Callable[..., TestClient]:
    def factory(app: str = "standalone", **overrides: Any) -> TestClient:
        container = make_container(**overrides)
        built = create_verification_app(container) if app == "standalone" else create_app(container)
        return TestClient(built)

    return factory


@pytest.mark.parametrize("app", ["standalone", "full"])
@pytest.mark.parametrize("stage", ["dev", "staging"])
def test_configured_keys_are_required(
    keyed: Callable[..., TestClient], app: str, stage: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = keyed(app, stage=stage, verify_api_keys=["other-key-abcdefghijkl", KEY])
    path = "/" if app == "standalone" else "/verifications"
    body = {"auth_id": "a", "recipient": PHONE}
    flowroute_error(client.post(path, json=body), 401, "InvalidApiKey", None)
    flowroute_error(client.post(path, json=body, headers={"X-Api-Key": "guess"}), 401, "InvalidApiKey", None)
    flowroute_error(client.get(path, params={"auth_id": "a", "code": "1"}), 401, "InvalidApiKey", None)
    assert client.post(path, json=body, headers={"X-Api-Key": KEY}).status_code == 200
    assert client.post(path, json=body, headers={"x-api-key": KEY}).status_code == 200
    assert all(
        KEY not in record.getMessage() and KEY not in str(record.__dict__) for record in caplog.records
    )


def test_dev_without_keys_is_open_and_warns(
    keyed: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="twostep")
    client = keyed("standalone", stage="dev")
    assert client.post("/", json={"auth_id": "a", "recipient": PHONE}).status_code == 200
    assert any("TWOSTEP_VERIFY_API_KEYS" in record.getMessage() for record in caplog.records)


def test_staging_without_keys_refuses_to_start_the_standalone_app(
    make_container: Callable[..., Container],
) -> None:
    container = make_container(stage="staging")
    with pytest.raises(ConfigurationError) as refused:
        create_verification_app(container)
    assert "TWOSTEP_VERIFY_API_KEYS" in refused.value.message


def test_staging_without_keys_closes_the_routes_of_the_full_api(keyed: Callable[..., TestClient]) -> None:
    client = keyed("full", stage="staging")
    response = client.post("/verifications", json={"auth_id": "a", "recipient": PHONE})
    flowroute_error(response, 401, "InvalidApiKey", None)


def test_prod_without_keys_refuses_to_start(tmp_path: Path, clock: FixedClock) -> None:
    settings = settings_for_tests(tmp_path, stage="prod", sms_providers=["twilio"], email_provider="ses")
    storage = MemoryStorage()
    mail = ConsoleEmailSender(
        storage, clock
    )  # the prod provider (ses) needs AWS; not what this test is about
    container = build(
        settings, clock=clock, storage=storage, sender=ConsoleSender(storage, clock), email_sender=mail
    )
    try:
        with pytest.raises(ConfigurationError):
            create_verification_app(container)
        keyed = build(
            settings.model_copy(update={"verify_api_keys": [KEY]}),
            clock=clock,
            storage=storage,
            sender=ConsoleSender(storage, clock),
            email_sender=mail,
        )
        with TestClient(create_verification_app(keyed)) as client:
            ok = client.post("/", json={"auth_id": "a", "recipient": PHONE}, headers={"X-Api-Key": KEY})
        assert ok.status_code == 200
    finally:
        container.close()


def test_delivery_failure_is_503_and_leaves_no_usable_code(tmp_path: Path, clock: FixedClock) -> None:
    class BrokenSender:
        name = "broken"

        def send(self, to: str, body: str) -> str:
            from twostep.domain.errors import SmsDeliveryError

            raise SmsDeliveryError("timeout", self.name)

    container = build(
        settings_for_tests(tmp_path), clock=clock, storage=MemoryStorage(), sender=BrokenSender()
    )
    try:
        with TestClient(create_verification_app(container)) as client:
            failed = client.post("/", json={"auth_id": "a", "recipient": PHONE})
            flowroute_error(failed, 503, "ServiceUnavailable", None)
            assert failed.headers["retry-after"]
            flowroute_error(
                client.get("/", params={"auth_id": "a", "code": "123456"}), 410, "ExpiredAuthCode"
            )
    finally:
        container.close()


def test_creates_per_client_ip_are_limited(keyed: Callable[..., TestClient]) -> None:
    client = keyed("standalone", ip_verify_create_per_hour=2)
    for auth_id in ("a", "b"):
        assert client.post("/", json={"auth_id": auth_id, "recipient": PHONE}).status_code == 200
    limited = client.post("/", json={"auth_id": "c", "recipient": PHONE})
    flowroute_error(limited, 429, "RateLimited", None)
    assert int(limited.headers["retry-after"]) > 0


@pytest.mark.parametrize("workers", ["1", "2"])  # with 2, the app is checked in a child before any worker
def test_the_verification_app_starts_in_prod_without_an_email_provider(tmp_path: Path, workers: str) -> None:
    """`twostep serve --app verification` sends no email. Before, prod refused it without an SMTP relay or
    SES all the same (`TWOSTEP_EMAIL_PROVIDER: the console provider is refused in prod`); it now serves."""
    prod = PROD_WITHOUT_EMAIL | {"TWOSTEP_VERIFY_API_KEYS": KEY}
    server = ServerProcess(tmp_path, app="verification", serve_args=("--workers", workers), **prod)
    assert "TWOSTEP_EMAIL_PROVIDER" not in server.env
    with server:
        answer = httpx.post(
            f"{server.base_url}/", json={"auth_id": "a-1", "recipient": PHONE[1:]}, timeout=10
        )
    assert answer.status_code == 401 and answer.json()["reason"] == "InvalidApiKey", answer.text


def test_the_verification_defaults_come_from_the_settings(
    make_container: Callable[..., Container], clock: FixedClock
) -> None:
    """TWOSTEP_VERIFY_DEFAULT_LENGTH, _DEFAULT_TTL_SECONDS, _MAX_TTL_SECONDS and _DEFAULT_RETRIES at values
    other than their defaults (until now only ever run at those)."""
    container = make_container(
        verify_default_length=8,
        verify_default_ttl_seconds=60,
        verify_max_ttl_seconds=90,
        verify_default_retries=1,
    )
    with TestClient(create_app(container)) as client:
        api = Api(client, "/verifications", container)
        assert api.create().json()["attempts_left"] == 1
        assert len(api.code()) == 8
        flowroute_error(api.check(wrong(api.code())), 401, "InvalidAuthCode", 0)
        assert api.create("order-2").status_code == 200
        code = api.code()
        clock.advance(61)
        flowroute_error(api.check(code, "order-2"), 410, "ExpiredAuthCode", 0)
        refused = api.create("order-3", expiration=91)
        assert refused.status_code == 400 and refused.json()["field"] == "expiration"
        assert api.create("order-4", expiration=90).status_code == 200
