"""Done means: `twostep serve` as a real process, driven by the Python clients over real HTTP.

`twostep serve --app verification` answers Flowroute's `SMSAuthClient` at `/` unchanged; the default app
serves the accounts API to `TwoStepClient` (and the verification routes at `/verifications`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live import ServerProcess, run_cli, server_env
from twostep.client import LoginChallenge, SMSAuthClient, SMSAuthError, TwoStepAPIError, TwoStepClient

PHONE = "+14155552671"
FLOWROUTE_PHONE = "14155552671"  # Flowroute sms-verification's 11-digit format
PASSWORD = "correct horse battery staple"


def wrong(code: str) -> str:
    return "0" * len(code) if code != "0" * len(code) else "1" * len(code)


def expect_error(call: object, status: int, reason: str) -> SMSAuthError:
    assert isinstance(call, SMSAuthError), call
    assert (call.status, call.reason) == (status, reason), call
    return call


def attempt(action: object) -> object:
    """Run `action()` and return its result or the SMSAuthError it raised."""
    try:
        return action()  # type: ignore[operator]
    except SMSAuthError as error:
        return error


def test_flowroute_client_against_the_standalone_verification_app(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "verification") as server:
        endpoint = server.base_url.removeprefix("http://")  # Flowroute's style: "localhost:8000"
        with SMSAuthClient(endpoint) as client:
            created = client.create_auth("order-1", FLOWROUTE_PHONE)
            assert created["auth_id"] == "order-1" and "message" in created
            code = server.latest_code(PHONE)

            bad = expect_error(
                attempt(lambda: client.authenticate_code("order-1", wrong(code))), 401, "InvalidAuthCode"
            )
            assert bad.attempts_left == 2
            assert bad.strerror == "InvalidAuthCode"
            ok = client.authenticate_code("order-1", code)
            assert ok == {
                "authenticated": True,
                "auth_id": "order-1",
                "message": "Success: Authorization code verified.",
            }
            expect_error(attempt(lambda: client.authenticate_code("order-1", code)), 410, "ExpiredAuthCode")
            expect_error(attempt(lambda: client.authenticate_code("nobody", code)), 404, "UnknownAuthId")

            client.create_auth("order-2", PHONE, retries=1, expiration=300)
            code = server.latest_code(PHONE)
            last = expect_error(
                attempt(lambda: client.authenticate_code("order-2", wrong(code))), 401, "InvalidAuthCode"
            )
            assert last.attempts_left == 0
            gone = expect_error(
                attempt(lambda: client.authenticate_code("order-2", code)), 410, "InvalidAuthCode"
            )
            assert gone.attempts_left == 0
            limited = expect_error(attempt(lambda: client.create_auth("order-2", PHONE)), 429, "RateLimited")
            assert limited.retry_after is not None and 0 < limited.retry_after <= 300

            invalid = expect_error(
                attempt(lambda: client.create_auth("order-3", "555")), 400, "InvalidAPIUsage"
            )
            assert "recipient" in invalid.message


def test_standalone_app_refuses_to_start_in_staging_without_api_keys(tmp_path: Path) -> None:
    env = server_env(tmp_path, TWOSTEP_STAGE="staging")
    result = run_cli(env, "serve", "--app", "verification", "--port", "1", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TWOSTEP_VERIFY_API_KEYS" in lines[0]


def test_api_key_is_sent_by_the_client(tmp_path: Path) -> None:
    key = "live-key-0123456789abcdef"
    with ServerProcess(
        tmp_path,
        "verification",
        TWOSTEP_STAGE="staging",
        TWOSTEP_VERIFY_API_KEYS=key,
        TWOSTEP_MASTER_KEY="staging-master-key-0123456789abcdef",  # required outside dev
    ) as server:
        with SMSAuthClient(server.base_url) as anonymous:
            expect_error(attempt(lambda: anonymous.create_auth("a", PHONE)), 401, "InvalidApiKey")
        with SMSAuthClient(server.base_url, api_key=key) as client:
            assert client.create_auth("a", PHONE)["auth_id"] == "a"


def test_the_client_cancels_a_code_on_a_live_server(tmp_path: Path) -> None:
    shop, bank = "shop-key-0123456789abcdef", "bank-key-0123456789abcdef"
    with (
        ServerProcess(
            tmp_path,
            "verification",
            TWOSTEP_STAGE="staging",
            TWOSTEP_VERIFY_API_KEYS=f"shop:{shop},bank:{bank}",
            TWOSTEP_MASTER_KEY="staging-master-key-0123456789abcdef",  # required outside dev
        ) as server,
        SMSAuthClient(server.base_url, api_key=shop) as client,
    ):
        client.create_auth("order-1", PHONE)
        code = server.latest_code(PHONE)
        with SMSAuthClient(server.base_url, api_key=bank) as other_tenant:
            expect_error(attempt(lambda: other_tenant.cancel_auth("order-1")), 404, "UnknownAuthId")
        assert client.cancel_auth("order-1")["status"] == "canceled"
        assert client.cancel_auth("order-1")["status"] == "canceled"  # a repeat answers the same
        expect_error(attempt(lambda: client.authenticate_code("order-1", code)), 410, "ExpiredAuthCode")
        assert client.auth_status("order-1")["status"] == "canceled"
        expect_error(attempt(lambda: client.cancel_auth("nobody")), 404, "UnknownAuthId")
        assert client.create_auth("order-1", PHONE)["attempts_left"] == 3  # at once, a full budget
        assert client.authenticate_code("order-1", server.latest_code(PHONE))["authenticated"]
        assert client.cancel_auth("order-1")["status"] == "verified"


def test_accounts_client_against_the_full_api(tmp_path: Path) -> None:
    email = "live@example.com"
    with ServerProcess(tmp_path) as server, TwoStepClient(server.base_url) as client:
        user = client.register(email, PASSWORD, phone_number=PHONE, first_name="Ada", last_name="L")
        assert user.email == email and user.phone_number == "+1********71"  # masked
        with pytest.raises(TwoStepAPIError) as bad_password:
            client.login(email, "not the password at all")
        assert bad_password.value.status == 401

        started = client.login(email, PASSWORD)
        assert isinstance(started, LoginChallenge)
        code = server.latest_code(PHONE)
        with pytest.raises(TwoStepAPIError) as wrong_code:
            client.verify(started.otp_id, wrong(code))
        assert wrong_code.value.status == 401 and wrong_code.value.attempts_remaining is not None
        assert started.channels == ("sms", "voice", "whatsapp")  # the dev console carries every channel
        client.resend(started.otp_id, channel="voice")
        assert server.outbox(PHONE)[-1]["channel"] == "voice"
        resent = client.resend(started.otp_id)
        assert resent.expires_at >= started.expires_at
        first = client.verify(started.otp_id, server.latest_code(PHONE))
        assert first.token_type == "Bearer"

        assert client.hello() == f"Hello, {email}!"
        assert client.me().email == email
        posted = client.post_message("hello from the live test")
        page = client.messages(limit=5)
        assert page.messages[0].id == posted.id and page.messages[0].content == "hello from the live test"

        second = client.refresh()
        assert second.refresh_token != first.refresh_token
        assert client.hello() == f"Hello, {email}!"
        client.logout()
        with pytest.raises(TwoStepAPIError) as after_logout:
            client.refresh(second.refresh_token)
        assert after_logout.value.status == 401

        with SMSAuthClient(f"{server.base_url}/verifications") as verifier:
            verifier.create_auth("signup-7", PHONE)
            assert verifier.authenticate_code("signup-7", server.latest_code(PHONE))["authenticated"]
