"""The audit trail: every security event recorded where it happens, with request id and IP, no secrets."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register
from tests.live import run_cli
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import SmsDeliveryError
from twostep.services.audit import email_fingerprint
from twostep.storage.memory import MemoryStorage

MakeContainer = Callable[..., Container]
EMAIL = "test@example.com"
SRC = Path(__file__).resolve().parents[2] / "src"


def activity(client: TestClient, container: Container) -> dict[str, Any]:
    """Registration, a failed and a good sign-in, a wrong code, a limit, a refresh token reuse."""
    seen: dict[str, Any] = {"codes": []}

    def post(path: str, rid: str, **kw: Any) -> Any:
        return client.post(path, headers={"X-Request-Id": rid}, **kw)

    seen["user"] = register(client)
    assert (
        post("/login", "req-login-bad1", json={"email": EMAIL, "password": "wrong password"}).status_code
        == 401
    )
    assert (
        post(
            "/login", "req-login-unknown", json={"email": "x@example.com", "password": "p4ssw0rd!"}
        ).status_code
        == 401
    )
    otp_id = post("/login", "req-login-good", json={"email": EMAIL, "password": PASSWORD}).json()["otpId"]
    code = latest_code(container)
    seen["codes"].append(code)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert post(f"/otp/{otp_id}/verify", "req-verify-bad", json={"otp": wrong}).status_code == 401
    pair = post(f"/otp/{otp_id}/verify", "req-verify-good", json={"otp": code}).json()
    seen["tokens"] = [pair["accessToken"], pair["refreshToken"]]
    assert (
        post("/token/refresh", "req-refresh-1", json={"refreshToken": pair["refreshToken"]}).status_code
        == 200
    )
    assert (
        post("/token/refresh", "req-refresh-reuse", json={"refreshToken": pair["refreshToken"]}).status_code
        == 401
    )
    assert post("/login", "req-login-limited", json={"email": EMAIL, "password": PASSWORD}).status_code in (
        200,
        429,
    )
    return seen


def test_events_carry_request_id_ip_and_no_secrets(make_container: MakeContainer) -> None:
    container = make_container(resend_cooldown_seconds=30)
    with TestClient(create_app(container)) as client:
        seen = activity(client, container)
    events = container.audit.tail(limit=1000)
    by_request = {(e.request_id, e.event) for e in events}
    user_id = seen["user"]["id"]
    expected = {
        ("req-login-bad1", "login_failed"),
        ("req-login-unknown", "login_failed"),
        ("req-login-good", "code_sent"),
        ("req-verify-bad", "code_failed"),
        ("req-verify-good", "code_verified"),
        ("req-verify-good", "login_succeeded"),
        ("req-refresh-reuse", "token_reuse"),
        ("req-login-limited", "limit_hit"),
    }
    assert expected <= by_request, by_request
    assert all(e.ip == "testclient" for e in events)
    for event in events:
        if event.event in {"code_sent", "code_failed", "code_verified", "login_succeeded", "token_reuse"}:
            assert event.user_id == user_id, event
    failed = [e for e in events if e.event == "login_failed"]
    assert failed[0].user_id == user_id and failed[1].user_id is None
    assert failed[1].email_hash == container.audit.fingerprint("x@example.com")
    assert failed[1].email_hash != email_fingerprint("x@example.com")  # keyed, not a bare hash
    sent = next(e for e in events if e.event == "code_sent")
    assert sent.phone_masked == "+90********55"
    limited = next(e for e in events if e.event == "limit_hit")
    assert limited.detail == {"limit": "resend_cooldown"} and limited.phone_masked == "+90********55"
    dump = json.dumps([asdict(e) for e in events], default=str)
    for secret in [
        PASSWORD,
        "wrong password",
        "p4ssw0rd!",
        PHONE,
        PHONE[1:],
        EMAIL,
        "x@example.com",
        *seen["codes"],
        *seen["tokens"],
    ]:
        assert secret not in dump


def test_lock_and_delivery_failure_are_recorded(tmp_path: Path, clock: FixedClock) -> None:
    from tests.conftest import settings_for_tests

    class Flaky:
        name = "flaky"
        fail = False

        def __init__(self, storage: MemoryStorage) -> None:
            self.storage = storage

        def send(self, to: str, body: str) -> str:
            if self.fail:
                raise SmsDeliveryError("timeout", provider=self.name)
            from twostep.domain.models import OutboxEntry

            self.storage.add_outbox(OutboxEntry(to=to, body=body, sent_at=clock.now()))
            return "ok"

    storage = MemoryStorage()
    sender = Flaky(storage)
    container = build(
        settings_for_tests(tmp_path, otp_account_failure_limit=2), clock=clock, storage=storage, sender=sender
    )
    with TestClient(create_app(container)) as client:
        user_id = register(client)["id"]
        otp_id = client.post("/login", json={"email": EMAIL, "password": PASSWORD}).json()["otpId"]
        for _ in range(2):
            client.post(
                f"/otp/{otp_id}/verify",
                json={"otp": "999999" if latest_code(container) != "999999" else "000000"},
            )
        assert client.post(f"/otp/{otp_id}/verify", json={"otp": latest_code(container)}).status_code == 429
        container.limits.reset_code_failures(user_id)
        sender.fail = True
        failed = client.post(
            "/login", json={"email": EMAIL, "password": PASSWORD}, headers={"X-Request-Id": "req-sms-down"}
        )
        assert failed.status_code == 503
    events = container.audit.tail(user_id=user_id, limit=100)
    names = [e.event for e in events]
    assert names.count("second_factor_locked") == 1
    assert names.index("second_factor_locked") > names.index("code_failed")
    locked_hits = [e for e in events if e.event == "limit_hit"]
    assert locked_hits and locked_hits[0].detail == {"limit": "second_factor_locked"}
    delivery = next(e for e in events if e.event == "code_delivery_failed")
    assert delivery.request_id == "req-sms-down" and delivery.detail["reason"] == "timeout"
    assert delivery.phone_masked == "+90********55"


def test_audit_tail_cli_reads_sqlite(tmp_path: Path, make_container: MakeContainer) -> None:
    container = make_container(storage="sqlite")
    with TestClient(create_app(container)) as client:
        seen = activity(client, container)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")},
        "PYTHONPATH": str(SRC),
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(tmp_path / "twostep.db"),
        "TWOSTEP_JWT_KEY_FILE": str(tmp_path / "keys.json"),
    }

    def tail(*args: str) -> list[dict[str, Any]]:
        done = run_cli(env, "audit", "tail", "--json", *args, cwd=tmp_path, timeout=60)
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows

    rows = tail("--last", "1000")
    assert [r["event"] for r in rows] == [e.event for e in container.audit.tail(limit=1000)]
    assert {
        "user_registered",
        "login_failed",
        "code_sent",
        "code_failed",
        "code_verified",
        "token_reuse",
    } <= {r["event"] for r in rows}
    assert all(r["ip"] == "testclient" and r["request_id"] for r in rows)
    mine = tail("--user", seen["user"]["id"])
    assert mine and all(r["user_id"] == seen["user"]["id"] for r in mine)
    assert len(mine) < len(rows)
    text = json.dumps(rows)
    assert PASSWORD not in text and PHONE not in text and EMAIL not in text
    assert not any(code in text for code in seen["codes"])
