"""The clients' edges without a server: endpoint forms and error answers (httpx's in-memory transport)."""

from __future__ import annotations

import httpx
import pytest

from twostep.client import SMSAuthClient, SMSAuthError, TwoStepAPIError, TwoStepClient


def answering(status: int, body: bytes, seen: list[httpx.Request], **headers: str) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": "application/json", **headers})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("localhost:8000", "http://localhost:8000"),
        ("https://verify.example.com/", "https://verify.example.com"),
        ("http://127.0.0.1:9000/verifications", "http://127.0.0.1:9000/verifications"),
    ],
)
def test_endpoint_forms(endpoint: str, url: str) -> None:
    seen: list[httpx.Request] = []
    transport = answering(200, b'{"auth_id": "a", "message": "ok"}', seen)
    with SMSAuthClient(endpoint, api_key="k-1", transport=transport) as client:
        assert client.create_auth("a", "+14155552671")["auth_id"] == "a"
        client.authenticate_code("a", 123)
    assert str(seen[0].url) == url
    assert seen[0].headers["x-api-key"] == "k-1"
    assert seen[1].url.params["code"] == "123"


def test_error_answer_becomes_one_typed_error() -> None:
    body = b'{"message": "Invalid code.", "reason": "InvalidAuthCode", "attempts_left": 2}'
    with (
        SMSAuthClient("localhost:1", transport=answering(401, body, [])) as client,
        pytest.raises(SMSAuthError) as raised,
    ):
        client.authenticate_code("a", "000000")
    error = raised.value
    assert (error.status, error.reason, error.attempts_left, error.message) == (
        401,
        "InvalidAuthCode",
        2,
        "Invalid code.",
    )
    # Flowroute's client raised requests' HTTPError, whose answer its callers read
    # (`error.response.status_code`, `.json()`): the drop-in client's error carries it too.
    assert error.response is not None
    assert error.response.status_code == 401
    assert error.response.json()["reason"] == error.strerror == "InvalidAuthCode"


def test_non_json_and_transport_failures_are_typed_too() -> None:
    with (
        SMSAuthClient("localhost:1", transport=answering(502, b"<html>bad gateway</html>", [])) as client,
        pytest.raises(SMSAuthError) as raised,
    ):
        client.create_auth("a", "+14155552671")
    assert (raised.value.status, raised.value.reason) == (502, "HTTPError")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        SMSAuthClient("localhost:1", transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(SMSAuthError) as raised,
    ):
        client.create_auth("a", "+14155552671")
    assert (raised.value.status, raised.value.reason) == (None, "ConnectionError")
    assert raised.value.response is None  # no answer to keep


def test_accounts_error_carries_problem_fields() -> None:
    body = b'{"status": 429, "code": "rate_limited", "detail": "Too many requests.", "retryAfter": 7}'
    with (
        TwoStepClient("localhost:1", transport=answering(429, body, [], **{"retry-after": "7"})) as client,
        pytest.raises(TwoStepAPIError) as raised,
    ):
        client.login("a@example.com", "pw")
    error = raised.value
    assert (error.status, error.code, error.detail, error.retry_after) == (
        429,
        "rate_limited",
        "Too many requests.",
        7,
    )


def raw_answer(status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> httpx.MockTransport:
    """An answer with header bytes as a server or proxy sends them (httpx reads them as Latin-1)."""
    return httpx.MockTransport(lambda _: httpx.Response(status, content=body, headers=headers))


JSON = [(b"content-type", b"application/json")]
LIMITED = b'{"code": "rate_limited", "detail": "Too many.", "reason": "RateLimited", "message": "Too many."}'


@pytest.mark.parametrize(
    ("status", "body", "headers", "retry_after"),
    [
        (429, LIMITED, [*JSON, (b"retry-after", b"\xb2")], None),  # `²`: str.isdigit, yet no int()
        (429, LIMITED, [*JSON, (b"retry-after", b"9" * 5000)], 86_400),  # over int()'s 4300 digits
        (429, LIMITED, [*JSON, (b"retry-after", b" 30 ")], 30),
        (502, b"[" * 100_000 + b"]" * 100_000, JSON, None),  # nested too deeply for json.loads
        (200, b"<html>captive portal</html>", [(b"content-type", b"text/html")], None),
        (200, b"{}", JSON, None),
        (
            200,
            b'{"accessToken": "a", "tokenType": "Bearer", "expiresIn": "soon", "refreshToken": "r"}',
            JSON,
            None,
        ),
    ],
)
def test_every_answer_becomes_the_one_typed_error(
    status: int, body: bytes, headers: list[tuple[bytes, bytes]], retry_after: int | None
) -> None:
    """Before, such answers (from the service, a proxy or a captive portal) raised ValueError,
    RecursionError or KeyError out of the clients, whose docs promise one typed error."""
    with (
        TwoStepClient("localhost:1", transport=raw_answer(status, body, headers)) as api,
        pytest.raises(TwoStepAPIError) as raised,
    ):
        api.verify("otp-1", "123456")
    assert raised.value.status == status and raised.value.retry_after == retry_after
    if status == 200:
        assert raised.value.code == "invalid_response"
    with SMSAuthClient("localhost:1", transport=raw_answer(status, body, headers)) as sms:
        if status == 200 and body.startswith(b"{"):
            sms.create_auth("a", "+14155552671")  # answered as the dict it is (Flowroute's client's way)
            return
        with pytest.raises(SMSAuthError) as failed:
            sms.create_auth("a", "+14155552671")
    assert failed.value.status == status and failed.value.retry_after == retry_after


def test_error_fields_of_the_wrong_type_are_left_out() -> None:
    body = b'{"code": "wrong_code", "detail": "No.", "attemptsRemaining": "two", "attempts_left": [2]}'
    with (
        TwoStepClient("localhost:1", transport=raw_answer(401, body, JSON)) as api,
        pytest.raises(TwoStepAPIError) as raised,
    ):
        api.verify("otp-1", "000000")
    assert raised.value.attempts_remaining is None
    with (
        SMSAuthClient("localhost:1", transport=raw_answer(401, body, JSON)) as sms,
        pytest.raises(SMSAuthError) as failed,
    ):
        sms.authenticate_code("a", "000000")
    assert failed.value.attempts_left is None


def test_accounts_calls_that_need_a_session_say_so() -> None:
    with (
        TwoStepClient("localhost:1", transport=answering(200, b"{}", [])) as client,
        pytest.raises(TwoStepAPIError) as raised,
    ):
        client.hello()
    assert raised.value.code == "not_signed_in"


def test_idempotency_keys_go_out_as_the_header_only_when_given() -> None:
    seen: list[httpx.Request] = []
    created = b'{"auth_id": "a", "message": "ok"}'
    with SMSAuthClient("localhost:1", api_key="k-1", transport=answering(200, created, seen)) as sms:
        sms.create_auth("a", "+14155552671", idempotency_key="create-1", code_length=6)
        sms.create_auth("a", "+14155552671")
    assert seen[0].headers["idempotency-key"] == "create-1" and seen[0].headers["x-api-key"] == "k-1"
    assert b"idempotency" not in seen[0].content and b'"code_length":6' in seen[0].content.replace(b" ", b"")
    assert "idempotency-key" not in seen[1].headers
    resent = b'{"expiresAt": "2026-01-01T00:00:00+00:00", "resendAfter": "2026-01-01T00:00:00+00:00"}'
    with TwoStepClient("http://h", transport=answering(202, resent, seen)) as api:
        api.resend("otp-1", idempotency_key="resend-1")
    assert seen[2].headers["idempotency-key"] == "resend-1"


def test_the_accounts_client_sends_the_locale_where_codes_are_asked_for() -> None:
    seen: list[httpx.Request] = []
    body = b'{"otpId": "o1", "redirectPath": "/otp/o1/verify", "expiresAt": "2026-01-01T12:00:00+00:00",'
    body += b' "destination": "+49**", "resendAfter": "2026-01-01T12:00:00+00:00"}'
    with TwoStepClient("localhost:1", transport=answering(200, body, seen)) as client:
        client.login("a@example.com", "pw", locale="de")
        client.login("a@example.com", "pw")
        client.resend("o1", locale="tr")
        client.resend("o1")
        client.resend("o1", channel="voice")
    sent = [request.content for request in seen]
    assert b'"locale":"de"' in sent[0].replace(b" ", b"") and b"locale" not in sent[1]
    assert sent[2].replace(b" ", b"") == b'{"locale":"tr"}' and sent[3] == b""
    assert sent[4].replace(b" ", b"") == b'{"channel":"voice"}'


def test_set_locale_returns_the_account_with_its_language() -> None:
    seen: list[httpx.Request] = []
    user = b'{"id": "u", "email": "a@example.com", "createdAt": "2026-01-01T12:00:00+00:00", "locale": "ja"}'
    with TwoStepClient("localhost:1", transport=answering(200, user, seen)) as client:
        assert client.set_locale("ja", access_token="t").locale == "ja"
    assert (seen[0].method, seen[0].url.path, seen[0].headers["authorization"]) == (
        "PUT",
        "/me/locale",
        "Bearer t",
    )
