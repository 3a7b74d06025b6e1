"""Against a live `twostep serve`: transaction-bound codes, RateLimit header fields on 429s, test numbers.

One server for the module (start-up is the slow part); each test uses its own numbers, so the
per-number cap (2 per 10 minutes here) trips only where a test wants it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import http_sf
import httpx
import pytest

from tests.live import ServerProcess, code_in, run_cli, server_env
from twostep.client import LoginChallenge, TwoStepAPIError, TwoStepClient

TEST_NUMBER, TEST_CODE = "+14155550100", "246810"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(
        tmp_path_factory.mktemp("integrator"),
        TWOSTEP_TEST_NUMBERS=f"{TEST_NUMBER}:{TEST_CODE}",
        TWOSTEP_SMS_PER_NUMBER_10MIN="2",
    ) as live:
        yield live


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def check(http: httpx.Client, auth_id: str, code: str, **transaction: str) -> httpx.Response:
    return http.get("/verifications", params={"auth_id": auth_id, "code": code, **transaction})


def wrong(code: str) -> str:
    return "0" * len(code) if code != "0" * len(code) else "1" * len(code)


def test_a_transaction_code_checks_only_with_its_amount_and_payee(
    server: ServerProcess, http: httpx.Client
) -> None:
    phone = "+14155552601"
    created = http.post(
        "/verifications",
        json={
            "auth_id": "pay-1",
            "recipient": phone,
            "amount": "49.90 EUR",
            "payee": "ACME Shop",
            "retries": 5,
        },
    )
    assert created.status_code == 200, created.text
    [sms] = server.outbox(phone)
    assert "49.90 EUR" in sms["body"] and "ACME Shop" in sms["body"]
    code = code_in(sms["body"])

    # The right digits with anything else than what was created answer exactly like a wrong code.
    for left, other in enumerate(
        (
            {"amount": "49.91 EUR", "payee": "ACME Shop"},
            {"amount": "49.90 USD", "payee": "ACME Shop"},
            {"amount": "49.90 EUR", "payee": "ACME Shop."},
            {},  # without the transaction at all
        )
    ):
        refused = check(http, "pay-1", code, **other)
        assert refused.status_code == 401, refused.text
        assert refused.json() == {
            "message": "Invalid code.",
            "reason": "InvalidAuthCode",
            "attempts_left": 4 - left,
        }
    ok = check(http, "pay-1", code, amount="49.9 EUR", payee="ACME Shop")  # the same amount, written shorter
    assert ok.status_code == 200 and ok.json()["authenticated"] is True


def test_transaction_values_are_validated(http: httpx.Client) -> None:
    base = {"auth_id": "pay-2", "recipient": "+14155552602"}
    for extra, field in (
        ({"amount": "49,90 EUR", "payee": "ACME"}, "amount"),
        ({"amount": "49.90 EUR", "payee": " ACME"}, "payee"),
        ({"amount": "49.90 EUR"}, "payee"),
        ({"amount": "1 EUR", "payee": "ACME", "message": "{code} only"}, "message"),
    ):
        refused = http.post("/verifications", json=base | extra)
        assert refused.status_code == 400, refused.text
        assert refused.json()["reason"] == "InvalidAPIUsage" and refused.json()["field"] == field
    bad_check = check(http, "pay-2", "123456", amount="-1 EUR", payee="ACME")
    assert bad_check.status_code == 400 and bad_check.json()["field"] == "amount"


def parsed(response: httpx.Response, field: str) -> list[tuple[Any, dict[str, Any]]]:
    value: list[tuple[Any, dict[str, Any]]] = http_sf.parse(response.headers[field].encode(), tltype="list")
    return value


def assert_ratelimit_fields(response: httpx.Response, name: str, quota: int, window: int) -> None:
    assert response.status_code == 429, response.text
    assert parsed(response, "RateLimit-Policy") == [(name, {"q": quota, "w": window})]
    [(limit, params)] = parsed(response, "RateLimit")
    assert limit == name and params["r"] == 0
    assert params["t"] == int(response.headers["Retry-After"]) and 0 < params["t"] <= window


def test_429s_carry_ratelimit_fields_in_both_error_shapes(server: ServerProcess, http: httpx.Client) -> None:
    phone = "+14155552603"
    for n in range(2):
        assert http.post("/verifications", json={"auth_id": f"rl-{n}", "recipient": phone}).status_code == 200
    limited = http.post("/verifications", json={"auth_id": "rl-3", "recipient": phone})
    assert_ratelimit_fields(limited, "sms_per_number_10min", 2, 600)
    assert limited.json()["reason"] == "RateLimited"

    # problem+json (the sign-in API): resends to one number until its cap
    phone = "+14155552604"
    with TwoStepClient(server.base_url) as client:
        client.register("limits@example.com", PASSWORD, phone_number=phone, first_name="Li", last_name="M")
        started = client.login("limits@example.com", PASSWORD)
        assert isinstance(started, LoginChallenge)
        assert http.post(f"/otp/{started.otp_id}/resend").is_success
        limited = http.post(f"/otp/{started.otp_id}/resend")
    assert_ratelimit_fields(limited, "sms_per_number_10min", 2, 600)
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert phone[1:] not in limited.headers["RateLimit"] + limited.headers["RateLimit-Policy"]


def audit_events(server: ServerProcess) -> list[dict[str, Any]]:
    result = server.cli("audit", "tail", "--json", "--last", "200")
    assert result.returncode == 0, result.stderr
    events: list[dict[str, Any]] = json.loads(result.stdout)
    return events


def test_a_test_number_gets_its_fixed_code_and_no_text(server: ServerProcess, http: httpx.Client) -> None:
    with TwoStepClient(server.base_url) as client:
        client.register(
            "reviewer@example.com", PASSWORD, phone_number=TEST_NUMBER, first_name="Rev", last_name="Iewer"
        )
        started = client.login("reviewer@example.com", PASSWORD)
        assert isinstance(started, LoginChallenge)
        with pytest.raises(TwoStepAPIError) as refused:  # still a normal code: a wrong one fails and counts
            client.verify(started.otp_id, wrong(TEST_CODE))
        assert refused.value.status == 401
        assert client.verify(started.otp_id, TEST_CODE).token_type == "Bearer"

    assert (
        http.post("/verifications", json={"auth_id": "review-1", "recipient": TEST_NUMBER}).status_code == 200
    )
    assert check(http, "review-1", TEST_CODE).status_code == 200
    assert server.outbox(TEST_NUMBER) == []  # nothing was ever texted to it

    # Limits apply as to any number: the third code within 10 minutes is refused.
    limited = http.post("/verifications", json={"auth_id": "review-2", "recipient": TEST_NUMBER})
    assert limited.status_code == 429 and limited.json()["reason"] == "RateLimited"

    marked = [e for e in audit_events(server) if e["event"] == "code_sent" and e["detail"].get("test_number")]
    assert {e["detail"]["purpose"] for e in marked} == {"login", "verify"}


def test_test_numbers_are_refused_in_prod(tmp_path: Path) -> None:
    env = server_env(
        tmp_path,
        TWOSTEP_STAGE="prod",
        TWOSTEP_SMS_PROVIDERS="sns",
        TWOSTEP_TEST_NUMBERS=f"{TEST_NUMBER}:{TEST_CODE}",
    )
    result = run_cli(env, "serve", "--port", "1", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TWOSTEP_TEST_NUMBERS: " in lines[0] and "prod" in lines[0], lines
    assert TEST_CODE not in result.stderr


def test_admitted_requests_report_the_caller_s_own_limits_only(http: httpx.Client) -> None:
    first = http.post("/verifications", json={"auth_id": "ok-1", "recipient": "+14155552605"})
    second = http.post("/verifications", json={"auth_id": "ok-2", "recipient": "+14155552606"})
    assert first.status_code == second.status_code == 200
    policies = dict(parsed(second, "RateLimit-Policy"))
    assert policies == {
        "ip_verification_create_rate": {"q": 60, "w": 3600},
        "ip_sms_rate": {"q": 100000, "w": 3600},  # server_env's setting
    }  # never the number's caps or the service's budget: they would tell how many texts others asked for
    now = dict(parsed(second, "RateLimit"))
    before = dict(parsed(first, "RateLimit"))
    assert now.keys() == policies.keys()
    for name, params in now.items():
        rolled_over = params["t"] > before[name]["t"]  # a new window began between the two requests
        assert params["r"] == before[name]["r"] - 1 or rolled_over
        assert 0 < params["t"] <= 3600
    checked = check(http, "ok-2", "000000")
    assert "RateLimit" not in checked.headers  # a check passes no counted limit


def test_a_german_number_gets_the_german_transaction_text(server: ServerProcess, http: httpx.Client) -> None:
    phone = "+4915112345601"
    pay = {"amount": "49.90 EUR", "payee": "ACME Shop"}
    assert (
        http.post("/verifications", json={"auth_id": "pay-de", "recipient": phone} | pay).status_code == 200
    )
    [sms] = server.outbox(phone)
    assert "um 49.90 EUR an ACME Shop zu zahlen" in sms["body"], sms["body"]
    assert check(http, "pay-de", code_in(sms["body"]), **pay).status_code == 200
