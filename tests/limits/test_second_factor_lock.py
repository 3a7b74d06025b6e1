"""NIST 800-63B per-account wrong-code budget: survives new logins and resends, then locks until unlock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register
from tests.limits.helpers import assert_limited, outbox_count, run_together
from twostep.api.app import create_app
from twostep.cli import app as cli_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ChallengeExpired, InvalidInput, RateLimited, WrongCode
from twostep.domain.models import User
from twostep.services.registration import Registration

MakeContainer = Callable[..., Container]
EMAIL = "test@example.com"
ROOMY_SMS = {"sms_per_number_10min": 1000, "sms_per_number_day": 10000}


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def make_user(container: Container) -> User:
    return container.registration.register(
        Registration(email=EMAIL, password=PASSWORD, first_name="A", last_name="B", phone=PHONE)
    )


def test_budget_of_100_survives_new_logins_and_resends(make_container: MakeContainer) -> None:
    container = make_container(**ROOMY_SMS)
    user = make_user(container)
    failures = 0
    while failures < 100:
        started = container.login.start(EMAIL, PASSWORD)
        for round_ in range(2):  # two wrong codes, a resend, two more... per login
            for _ in range(2):
                with pytest.raises(WrongCode):
                    container.login.complete(started.otp_id, wrong(latest_code(container)))  # type: ignore[union-attr]
                failures += 1
                if failures == 100:
                    break
            if failures == 100 or round_ == 1:
                break
            container.login.resend(started.otp_id)  # type: ignore[union-attr]
    sent_before = outbox_count(container)
    # Locked: even the right code fails, for the live challenge and for any new login.
    with pytest.raises(RateLimited) as locked:
        container.login.complete(started.otp_id, latest_code(container))  # type: ignore[union-attr]
    assert locked.value.limit == "second_factor_locked"
    with pytest.raises(RateLimited):
        container.login.start(EMAIL, PASSWORD)
    with pytest.raises(RateLimited):
        container.login.resend(started.otp_id)  # type: ignore[union-attr]
    assert outbox_count(container) == sent_before  # a locked account is texted nothing
    events = [e.event for e in container.audit.tail(user_id=user.id, limit=1000)]
    assert events.count("second_factor_locked") == 1
    assert events.count("code_failed") == 100
    # `twostep users unlock ID` (same storage) lifts it.
    container.limits.reset_code_failures(user.id)
    started = container.login.start(EMAIL, PASSWORD)
    container.login.complete(started.otp_id, latest_code(container))  # type: ignore[union-attr]


def test_lock_answers_429_the_same_way_everywhere(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(otp_account_failure_limit=3, **ROOMY_SMS)
    with TestClient(create_app(container)) as client:
        register(client)
        otp_id = client.post("/login", json={"email": EMAIL, "password": PASSWORD}).json()["otpId"]
        code = latest_code(container)
        for _ in range(3):
            assert client.post(f"/otp/{otp_id}/verify", json={"otp": wrong(code)}).status_code == 401
        answers = [
            client.post(f"/otp/{otp_id}/verify", json={"otp": code}),
            client.post(f"/otp/{otp_id}/verify", json={"otp": wrong(code)}),
            client.post(f"/otp/{otp_id}/resend"),
            client.post("/login", json={"email": EMAIL, "password": PASSWORD}),
        ]
        clock.advance(7 * 86400)  # waiting does not lift it
        answers.append(client.post("/login", json={"email": EMAIL, "password": PASSWORD}))
        for answer in answers:
            assert_limited(answer, "second_factor_locked", 86400)
        bodies = {tuple(sorted((k, v) for k, v in a.json().items() if k != "requestId")) for a in answers}
        assert len(bodies) == 1
        # Without the password nothing about the lock shows: the usual 401.
        assert client.post("/login", json={"email": EMAIL, "password": "not the password"}).status_code == 401


def test_unlock_command(make_container: MakeContainer, tmp_path: Any, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    container = make_container(storage="sqlite", otp_account_failure_limit=1)
    user = make_user(container)
    started = container.login.start(EMAIL, PASSWORD)
    with pytest.raises(WrongCode):
        container.login.complete(started.otp_id, wrong(latest_code(container)))  # type: ignore[union-attr]
    with pytest.raises(RateLimited):
        container.login.start(EMAIL, PASSWORD)
    monkeypatch.chdir(tmp_path)
    env = {
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(tmp_path / "twostep.db"),
        "TWOSTEP_JWT_KEY_FILE": str(tmp_path / "keys.json"),
    }
    result = CliRunner().invoke(cli_app, ["users", "unlock", user.id], env=env)
    assert result.exit_code == 0, result.output
    container.clock.advance(60)  # type: ignore[attr-defined]
    started = container.login.start(EMAIL, PASSWORD)
    container.login.complete(started.otp_id, latest_code(container))  # type: ignore[union-attr]


def test_concurrent_wrong_codes_never_pass_the_budget(make_container: MakeContainer) -> None:
    container = make_container(otp_account_failure_limit=10, otp_max_attempts=10, **ROOMY_SMS)
    make_user(container)
    challenges = [container.login.start(EMAIL, PASSWORD) for _ in range(5)]  # 50 possible checks
    guesses = [wrong(e.body[:6]) for e in container.storage.list_outbox(to=PHONE, last=5)]
    results = run_together(
        50,
        lambda i: container.login.complete(challenges[i % 5].otp_id, guesses[i % 5]),  # type: ignore[union-attr]
    )
    assert sum(isinstance(r, WrongCode) for r in results) == 10  # exactly the budget was compared
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 40 and all(r.limit == "second_factor_locked" for r in refused)
    # Even the right code of a live challenge is refused now.
    right = container.storage.list_outbox(to=PHONE, last=1)[0].body[:6]
    with pytest.raises(RateLimited):
        container.login.complete(challenges[-1].otp_id, right)  # type: ignore[union-attr]


def test_checks_that_compare_no_code_do_not_spend_the_budget(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    container = make_container(otp_account_failure_limit=2, otp_ttl_seconds=30)
    make_user(container)
    started = container.login.start(EMAIL, PASSWORD)
    for _ in range(5):
        with pytest.raises(InvalidInput):
            container.login.complete(started.otp_id, "not digits")  # type: ignore[union-attr]
    clock.advance(30)
    for _ in range(5):
        with pytest.raises(ChallengeExpired):
            container.login.complete(started.otp_id, "123456")  # type: ignore[union-attr]
    started = container.login.start(EMAIL, PASSWORD)
    with pytest.raises(WrongCode):
        container.login.complete(started.otp_id, wrong(latest_code(container)))  # type: ignore[union-attr]
    container.login.complete(started.otp_id, latest_code(container))  # type: ignore[union-attr]


def test_a_remembered_device_does_not_pass_the_lock(make_container: MakeContainer) -> None:
    """Before, a login with the password and a remembered device's token signed in (amr pwd, device) while
    every other login with the password answered 429 second_factor_locked: the device skip came before
    the wrong-code check. The device skips the code, not the lock; `twostep users unlock` lifts it."""
    container = make_container(otp_account_failure_limit=3, **ROOMY_SMS)
    with TestClient(create_app(container)) as client:
        register(client)
        otp_id = client.post("/login", json={"email": EMAIL, "password": PASSWORD}).json()["otpId"]
        verified = client.post(
            f"/otp/{otp_id}/verify", json={"otp": latest_code(container), "rememberDevice": True}
        )
        device = {"email": EMAIL, "password": PASSWORD, "deviceToken": verified.json()["deviceToken"]}
        otp_id = client.post("/login", json={"email": EMAIL, "password": PASSWORD}).json()["otpId"]
        code = latest_code(container)
        for _ in range(3):
            assert client.post(f"/otp/{otp_id}/verify", json={"otp": wrong(code)}).status_code == 401
        assert_limited(client.post("/login", json=device), "second_factor_locked", 86400)
        user = container.storage.find_user_by_email(EMAIL)
        assert user is not None
        container.limits.reset_code_failures(user.id)
        assert "accessToken" in client.post("/login", json=device).json()
