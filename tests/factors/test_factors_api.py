"""Second factors through the API in process, with a fixed clock: authenticator app (TOTP), recovery
codes, the choice of factor at sign-in, the SMS fallback and remembered devices."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register, sign_in
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.totp import code_at, time_step
from twostep.services.totp_enrolment import ENROLMENT_ATTEMPTS, ENROLMENT_SECONDS


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['accessToken']}"}


def sms_count(container: Container) -> int:
    return len(container.storage.list_outbox(to=PHONE, last=100))


def enrol_totp(
    client: TestClient, container: Container, pair: dict[str, Any], clock: FixedClock
) -> tuple[str, list[str]]:
    """Add an authenticator app; returns its secret and the recovery codes."""
    started = client.post("/me/factors/totp", json={"currentPassword": PASSWORD}, headers=bearer(pair))
    assert started.status_code == 200, started.text
    body = started.json()
    secret = body["secret"]
    assert body["otpauthUri"].startswith("otpauth://totp/")
    assert f"secret={secret}" in body["otpauthUri"]
    assert body["qrSvg"].startswith("<svg")
    code = code_at(secret, time_step(clock.now()))
    confirmed = client.post("/me/factors/totp/confirm", json={"code": code}, headers=bearer(pair))
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recoveryCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


@pytest.fixture
def enrolled(client: TestClient, container: Container, clock: FixedClock) -> tuple[str, list[str]]:
    register(client)
    pair = sign_in(client, container)
    return enrol_totp(client, container, pair, clock)


def login(client: TestClient, **extra: Any) -> dict[str, Any]:
    response = client.post("/login", json={"email": "test@example.com", "password": PASSWORD, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_enrolment_needs_the_current_password(client: TestClient, container: Container) -> None:
    register(client)
    pair = sign_in(client, container)
    wrong = client.post("/me/factors/totp", json={"currentPassword": "not it at all"}, headers=bearer(pair))
    assert wrong.status_code == 401
    assert client.post("/me/factors/totp", json={"currentPassword": PASSWORD}).status_code == 401


def test_a_wrong_confirmation_code_leaves_the_app_off(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    pair = sign_in(client, container)
    secret = client.post("/me/factors/totp", json={"currentPassword": PASSWORD}, headers=bearer(pair)).json()[
        "secret"
    ]
    wrong = str((int(code_at(secret, time_step(clock.now()))) + 1) % 1_000_000).zfill(6)
    refused = client.post("/me/factors/totp/confirm", json={"code": wrong}, headers=bearer(pair))
    assert refused.status_code == 400 and refused.json()["code"] == "wrong_enrolment_code"
    assert client.get("/me/factors", headers=bearer(pair)).json()["totp"] is False
    assert login(client)["expectedFactor"] == "sms"


def test_a_stolen_token_cannot_guess_the_confirmation_code(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """Before, confirm counted no wrong code: a token alone could guess the code of an enrolment its owner
    began and left, and a hit turned the app on and gave it ten new recovery codes. Now the enrolment ends
    after ENROLMENT_ATTEMPTS codes; the owner starts again, with the password."""
    register(client)
    pair = sign_in(client, container)
    start = {"currentPassword": PASSWORD}
    secret = client.post("/me/factors/totp", json=start, headers=bearer(pair)).json()["secret"]
    right = code_at(secret, time_step(clock.now()))
    wrong = str((int(right) + 500_000) % 1_000_000).zfill(6)
    for _ in range(ENROLMENT_ATTEMPTS):
        refused = client.post("/me/factors/totp/confirm", json={"code": wrong}, headers=bearer(pair))
        assert refused.json()["code"] == "wrong_enrolment_code"
    ended = client.post("/me/factors/totp/confirm", json={"code": right}, headers=bearer(pair))
    assert (ended.status_code, ended.json()["code"]) == (400, "enrolment_not_started"), ended.text
    assert client.get("/me/factors", headers=bearer(pair)).json()["totp"] is False
    secret = client.post("/me/factors/totp", json=start, headers=bearer(pair)).json()["secret"]
    again = client.post(
        "/me/factors/totp/confirm",
        json={"code": code_at(secret, time_step(clock.now()))},
        headers=bearer(pair),
    )
    assert again.status_code == 200, again.text


def test_a_pending_enrolment_ends_after_its_lifetime(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """Before, an enrolment begun and left stayed confirmable for ever."""
    register(client)
    pair = sign_in(client, container)
    secret = client.post("/me/factors/totp", json={"currentPassword": PASSWORD}, headers=bearer(pair)).json()[
        "secret"
    ]
    clock.advance(ENROLMENT_SECONDS)
    pair = sign_in(client, container)  # the first session's access token has expired by now
    late = client.post(
        "/me/factors/totp/confirm",
        json={"code": code_at(secret, time_step(clock.now()))},
        headers=bearer(pair),
    )
    assert (late.status_code, late.json()["code"]) == (400, "enrolment_not_started"), late.text


def test_with_an_app_sign_in_sends_no_sms_and_takes_the_app_code(
    client: TestClient, container: Container, clock: FixedClock, enrolled: tuple[str, list[str]]
) -> None:
    secret, _ = enrolled
    before = sms_count(container)
    started = login(client)
    assert started["expectedFactor"] == "totp"
    assert set(started["factors"]) == {"totp", "sms", "recovery"}
    assert sms_count(container) == before, "no text message when the app is expected"
    clock.advance(30)
    code = code_at(secret, time_step(clock.now()))
    verified = client.post(f"/otp/{started['otpId']}/verify", json={"otp": code})
    assert verified.status_code == 200, verified.text
    assert verified.json()["amr"] == ["pwd", "otp"]
    claims = container.tokens.authenticate(verified.json()["accessToken"])
    assert claims.amr == ("pwd", "otp")


def test_a_totp_code_is_accepted_once(
    client: TestClient, container: Container, clock: FixedClock, enrolled: tuple[str, list[str]]
) -> None:
    secret, _ = enrolled
    clock.advance(30)
    code = code_at(secret, time_step(clock.now()))
    first = login(client)
    assert client.post(f"/otp/{first['otpId']}/verify", json={"otp": code}).status_code == 200
    second = login(client)
    replay = client.post(f"/otp/{second['otpId']}/verify", json={"otp": code, "factor": "totp"})
    assert replay.status_code == 401 and replay.json()["code"] == "wrong_code"


def test_the_confirming_code_cannot_sign_in(
    client: TestClient, container: Container, clock: FixedClock, enrolled: tuple[str, list[str]]
) -> None:
    secret, _ = enrolled
    started = login(client)
    same_step = code_at(secret, time_step(clock.now()))
    assert client.post(f"/otp/{started['otpId']}/verify", json={"otp": same_step}).status_code == 401


def test_one_step_of_clock_drift_either_way(
    client: TestClient, container: Container, clock: FixedClock, enrolled: tuple[str, list[str]]
) -> None:
    secret, _ = enrolled
    clock.advance(60)
    now = time_step(clock.now())
    ahead = login(client)
    assert (
        client.post(f"/otp/{ahead['otpId']}/verify", json={"otp": code_at(secret, now + 1)}).status_code
        == 200
    )
    clock.advance(90)
    now = time_step(clock.now())
    too_far = login(client)
    assert (
        client.post(f"/otp/{too_far['otpId']}/verify", json={"otp": code_at(secret, now + 2)}).status_code
        == 401
    )
    assert (
        client.post(f"/otp/{too_far['otpId']}/verify", json={"otp": code_at(secret, now - 1)}).status_code
        == 200
    )


def test_a_json_number_still_works_for_the_app_code(
    client: TestClient, container: Container, clock: FixedClock, enrolled: tuple[str, list[str]]
) -> None:
    secret, _ = enrolled
    clock.advance(30)
    step = time_step(clock.now())
    while code_at(secret, step).startswith("0"):  # a number loses leading zeros; find a plain one
        clock.advance(30)
        step = time_step(clock.now())
    started = login(client)
    verified = client.post(f"/otp/{started['otpId']}/verify", json={"otp": int(code_at(secret, step))})
    assert verified.status_code == 200, verified.text


def test_sms_fallback_texts_a_code_that_then_is_expected(
    client: TestClient, container: Container, enrolled: tuple[str, list[str]]
) -> None:
    started = login(client)
    not_yet = client.post(f"/otp/{started['otpId']}/verify", json={"otp": "123456", "factor": "sms"})
    assert not_yet.status_code == 400 and not_yet.json()["code"] == "factor_unavailable"
    before = sms_count(container)
    sent = client.post(f"/otp/{started['otpId']}/send", json={"channel": "sms"})
    assert sent.status_code == 202, sent.text
    assert sms_count(container) == before + 1
    verified = client.post(f"/otp/{started['otpId']}/verify", json={"otp": int(latest_code(container))})
    assert verified.status_code == 200, verified.text
    assert verified.json()["amr"] == ["pwd", "sms"]
    bad_channel = client.post(f"/otp/{started['otpId']}/send", json={"channel": "pigeon"})
    assert bad_channel.status_code == 400 and bad_channel.json()["code"] == "channel_not_configured"


def test_recovery_codes_work_once_and_warn_when_running_low(
    client: TestClient, container: Container, enrolled: tuple[str, list[str]]
) -> None:
    _, codes = enrolled
    for index, code in enumerate(codes[:8]):
        started = login(client)
        typed = code.upper().replace("-", " ") if index == 0 else code  # as people type them
        verified = client.post(f"/otp/{started['otpId']}/verify", json={"otp": typed, "factor": "recovery"})
        assert verified.status_code == 200, verified.text
        body = verified.json()
        assert body["amr"] == ["pwd", "otp"]
        assert body["recoveryCodesLeft"] == 9 - index
        assert (body["warning"] is not None) == (9 - index <= 2)
    started = login(client)
    reused = client.post(f"/otp/{started['otpId']}/verify", json={"otp": codes[0], "factor": "recovery"})
    assert reused.status_code == 401 and reused.json()["code"] == "wrong_code"
    pair = client.post(f"/otp/{started['otpId']}/verify", json={"otp": codes[8], "factor": "recovery"}).json()
    status = client.get("/me/factors/recovery-codes", headers=bearer(pair)).json()
    assert status["remaining"] == 1 and status["warning"] and status["recoveryCodes"] == []
    fresh = client.post(
        "/me/factors/recovery-codes", json={"currentPassword": PASSWORD}, headers=bearer(pair)
    ).json()
    assert len(fresh["recoveryCodes"]) == 10 and fresh["warning"] is None
    started = login(client)
    old = client.post(f"/otp/{started['otpId']}/verify", json={"otp": codes[9], "factor": "recovery"})
    assert old.status_code == 401, "regenerating ends the old codes"
    new = client.post(
        f"/otp/{started['otpId']}/verify", json={"otp": fresh["recoveryCodes"][0], "factor": "recovery"}
    )
    assert new.status_code == 200


def test_wrong_app_codes_spend_the_login_attempts(
    client: TestClient, container: Container, enrolled: tuple[str, list[str]]
) -> None:
    started = login(client)
    statuses = [
        client.post(f"/otp/{started['otpId']}/verify", json={"otp": "000000"}).status_code for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5] == 410


def test_an_account_without_an_app_cannot_use_totp(client: TestClient, container: Container) -> None:
    register(client)
    started = login(client)
    assert started["factors"] == ["sms"] and started["expectedFactor"] == "sms"
    refused = client.post(f"/otp/{started['otpId']}/verify", json={"otp": "123456", "factor": "totp"})
    assert refused.status_code == 400 and refused.json()["code"] == "factor_unavailable"


def test_remembered_device_skips_the_second_factor_until_forgotten(
    client: TestClient, container: Container
) -> None:
    register(client)
    token = sign_in(client, container, remember_device=True)["deviceToken"]
    assert token and token.startswith("rd_")
    before = sms_count(container)
    skipped = login(client, deviceToken=token)
    assert "accessToken" in skipped and sms_count(container) == before
    assert container.tokens.authenticate(skipped["accessToken"]).amr == ("pwd", "device")
    devices = client.get("/me/devices", headers=bearer(skipped)).json()
    assert len(devices) == 1 and devices[0]["label"]
    assert client.post(f"/me/devices/{devices[0]['id']}/forget", headers=bearer(skipped)).status_code == 204
    assert client.post(f"/me/devices/{devices[0]['id']}/forget", headers=bearer(skipped)).status_code == 204
    assert client.get("/me/devices", headers=bearer(skipped)).json() == []
    assert "otpId" in login(client, deviceToken=token), "a forgotten device asks again"


def test_a_device_token_is_bound_to_its_account(client: TestClient, container: Container) -> None:
    register(client)
    register(client, email="other@example.com", phone="+905555555556")
    token = sign_in(client, container, remember_device=True)["deviceToken"]
    other = client.post(
        "/login", json={"email": "other@example.com", "password": PASSWORD, "deviceToken": token}
    )
    assert "otpId" in other.json()


def test_forgetting_all_devices_is_what_a_password_reset_calls(
    client: TestClient, container: Container
) -> None:
    register(client)
    tokens = [sign_in(client, container, remember_device=True)["deviceToken"] for _ in range(2)]
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None
    assert container.factors.devices.forget_all(user.id) == 2
    assert all("otpId" in login(client, deviceToken=token) for token in tokens)


def test_remembering_is_off_with_zero_days(make_container: Any) -> None:
    container = make_container(remember_device_days=0)
    from twostep.api.app import create_app

    with TestClient(create_app(container)) as client:
        register(client)
        assert sign_in(client, container, remember_device=True)["deviceToken"] is None


def test_lowering_the_days_shortens_devices_remembered_before(
    make_container: Any, tmp_path: Any, clock: FixedClock
) -> None:
    """Before, a device remembered under 30 days kept skipping the second step for those 30 days after the
    operator lowered TWOSTEP_REMEMBER_DEVICE_DAYS to 1: its end was fixed when it was remembered."""
    from twostep.api.app import create_app

    before = make_container(storage="sqlite", remember_device_days=30)
    with TestClient(create_app(before)) as client:
        register(client)
        started = login(client)
        token = client.post(
            f"/otp/{started['otpId']}/verify", json={"otp": latest_code(before), "rememberDevice": True}
        ).json()["deviceToken"]
    lowered = make_container(storage="sqlite", remember_device_days=1)  # the same database
    with TestClient(create_app(lowered)) as client:
        clock.advance(23 * 3600)
        signed = login(client, deviceToken=token)
        assert "accessToken" in signed, "still within the new day"
        listed = client.get("/me/devices", headers=bearer(signed)).json()
        assert [d["expiresAt"] for d in listed] == ["2026-01-02T12:00:00Z"], listed
        clock.advance(2 * 3600)
        assert "otpId" in login(client, deviceToken=token), "past the new day: the second step again"
        user = lowered.storage.find_user_by_email("test@example.com")
        assert user is not None and lowered.factors.devices.remembered(user.id) == []


def test_the_web_ui_gets_the_device_token_only_as_an_httponly_cookie(
    client: TestClient, container: Container
) -> None:
    register(client)
    web = {"X-Twostep-Client": "web"}
    started = client.post(
        "/login", json={"email": "test@example.com", "password": PASSWORD}, headers=web
    ).json()
    verified = client.post(
        f"/otp/{started['otpId']}/verify",
        json={"otp": latest_code(container), "rememberDevice": True},
        headers=web,
    )
    assert verified.json()["deviceToken"] is None
    cookie = next(
        h for h in verified.headers.get_list("set-cookie") if h.startswith("__Host-twostep-device=")
    )
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    again = client.post(
        "/login",
        json={"email": "test@example.com", "password": PASSWORD},
        headers={**web, "Cookie": f"__Host-twostep-device={token}"},
    )
    assert "accessToken" in again.json()


def test_totp_can_be_turned_off(
    client: TestClient, container: Container, enrolled: tuple[str, list[str]]
) -> None:
    started = login(client)
    pair = client.post(
        f"/otp/{started['otpId']}/verify", json={"otp": enrolled[1][0], "factor": "recovery"}
    ).json()
    assert (
        client.post(
            "/me/factors/totp/disable", json={"currentPassword": "nope nope"}, headers=bearer(pair)
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/me/factors/totp/disable", json={"currentPassword": PASSWORD}, headers=bearer(pair)
        ).status_code
        == 204
    )
    assert login(client)["expectedFactor"] == "sms"
    assert pyotp  # the library the app codes come from


def test_recovery_codes_outlive_the_app_and_are_offered(
    client: TestClient, clock: FixedClock, enrolled: tuple[str, list[str]]
) -> None:
    """Before, after the app was removed the sign-in offered only `sms` while a recovery code still signed
    in and GET /me/factors counted ten: the answer said they were not offered. Now the sign-in lists
    them as long as any is left, as the security page and GET /me/factors do."""
    clock.advance(30)  # the confirming code's step is spent
    app_code = code_at(enrolled[0], time_step(clock.now()))
    pair = client.post(f"/otp/{login(client)['otpId']}/verify", json={"otp": app_code}).json()
    off = client.post("/me/factors/totp/disable", json={"currentPassword": PASSWORD}, headers=bearer(pair))
    assert off.status_code == 204
    assert client.get("/me/factors", headers=bearer(pair)).json()["recoveryCodesLeft"] == 10
    started = login(client)
    assert started["factors"] == ["sms", "recovery"] and started["expectedFactor"] == "sms"
    used = client.post(f"/otp/{started['otpId']}/verify", json={"otp": enrolled[1][0], "factor": "recovery"})
    assert used.status_code == 200 and used.json()["recoveryCodesLeft"] == 9, used.text


def test_an_account_with_only_sms_is_offered_the_codes_it_made(
    client: TestClient, container: Container
) -> None:
    register(client)
    pair = sign_in(client, container)
    assert login(client)["factors"] == ["sms"], "no codes: none offered"
    made = client.post("/me/factors/recovery-codes", json={"currentPassword": PASSWORD}, headers=bearer(pair))
    assert made.status_code == 200, made.text
    assert login(client)["factors"] == ["sms", "recovery"]


def test_a_passkey_rp_id_must_fit_the_origins() -> None:
    from pydantic import ValidationError

    from twostep.settings import Settings

    ok = Settings(_env_file=None, web_origin="https://app.example.com", webauthn_rp_id="example.com")  # type: ignore[call-arg]
    assert ok.webauthn_rp_id == "example.com"
    with pytest.raises(ValidationError, match="TWOSTEP_WEBAUTHN_RP_ID"):
        Settings(_env_file=None, webauthn_origins="https://app.example.com", webauthn_rp_id="other.org")  # type: ignore[call-arg]


def test_the_password_check_for_enrolment_is_throttled(client: TestClient, container: Container) -> None:
    register(client)
    pair = sign_in(client, container)
    statuses = [
        client.post(
            "/me/factors/totp", json={"currentPassword": f"wrong guess {i}"}, headers=bearer(pair)
        ).status_code
        for i in range(8)
    ]
    assert statuses[0] == 401 and 429 in statuses, statuses


def test_remembering_past_the_limit_forgets_the_oldest(make_container: Any, clock: FixedClock) -> None:
    """Before, every sign-in with "remember this device" added one more device for good (until its days
    ran out): a client or script doing it in a loop grew `GET /me/devices`, read and answered in full,
    without bound. Past TWOSTEP_REMEMBER_DEVICE_LIMIT the oldest is now forgotten, audited."""
    from twostep.api.app import create_app

    container = make_container(remember_device_limit=2)
    with TestClient(create_app(container)) as client:
        register(client)
        tokens, pair = [], {}
        for _ in range(3):
            clock.advance(60)
            started = login(client)
            pair = client.post(
                f"/otp/{started['otpId']}/verify",
                json={"otp": latest_code(container), "rememberDevice": True},
            ).json()
            tokens.append(pair["deviceToken"])
        devices = client.get("/me/devices", headers=bearer(pair)).json()
        assert len(devices) == 2
        assert "otpId" in login(client, deviceToken=tokens[0]), "the oldest asks for the second factor again"
        assert all("accessToken" in login(client, deviceToken=token) for token in tokens[1:])
        user = container.storage.find_user_by_email("test@example.com")
        assert user is not None
        forgotten = [e for e in container.audit.tail(user.id, 100) if e.event == "device_forgotten"]
        assert [e.detail.get("reason") for e in forgotten] == ["limit"]
        assert forgotten[0].detail["device"] not in {d["id"] for d in devices}


def test_the_confirmation_code_may_be_typed_in_another_scripts_digits(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """Before, confirm compared the typed text as it came: a code from a Japanese IME (full-width) or an
    Arabic-Indic keyboard was a wrong one and spent one of the enrolment's five tries, while the sign-in
    and every other code check read it as the same code (docs/second-factors.md)."""
    register(client)
    pair = sign_in(client, container)
    start = {"currentPassword": PASSWORD}
    secret = client.post("/me/factors/totp", json=start, headers=bearer(pair)).json()["secret"]
    code = code_at(secret, time_step(clock.now()))
    full_width = "".join(chr(ord(digit) - ord("0") + 0xFF10) for digit in code)  # U+FF10: full-width 0
    confirmed = client.post("/me/factors/totp/confirm", json={"code": full_width}, headers=bearer(pair))
    assert confirmed.status_code == 200, confirmed.text
    assert client.get("/me/factors", headers=bearer(pair)).json()["totp"] is True


def test_an_account_with_only_sms_is_warned_when_its_codes_run_low(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """Before, GET /me/factors (the security page) warned only with an authenticator app: an account with
    only SMS that made codes and used all but two saw no warning there, while the sign-in and GET
    /me/factors/recovery-codes gave one. An account that never made codes is still not warned."""
    register(client)
    pair = sign_in(client, container)
    assert client.get("/me/factors", headers=bearer(pair)).json()["warning"] is None, "none made: no warning"
    made = client.post("/me/factors/recovery-codes", json={"currentPassword": PASSWORD}, headers=bearer(pair))
    for code in made.json()["recoveryCodes"][:8]:
        clock.advance(300)  # each sign-in texts a code too: within the number's cap of texts per 10 minutes
        used = client.post(f"/otp/{login(client)['otpId']}/verify", json={"otp": code, "factor": "recovery"})
        assert used.status_code == 200, used.text
    factors = client.get("/me/factors", headers=bearer(used.json())).json()
    assert (factors["totp"], factors["recoveryCodesLeft"]) == (False, 2)
    assert factors["warning"] is not None


def test_an_unconfirmed_enrolment_is_no_app_to_turn_off(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """Before, turning the app off with only an enrolment begun (never confirmed) answered 204, audited
    `factor_removed` and told the owner that a way to sign in was removed: none was. Now it answers as
    for an account without an app, and the enrolment can still be confirmed until it ends by itself."""
    register(client)
    pair = sign_in(client, container)
    start = {"currentPassword": PASSWORD}
    secret = client.post("/me/factors/totp", json=start, headers=bearer(pair)).json()["secret"]
    off = client.post("/me/factors/totp/disable", json=start, headers=bearer(pair))
    assert (off.status_code, off.json()["code"]) == (400, "factor_unavailable"), off.text
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None
    events = [e.event for e in container.storage.list_audit(user.id, limit=100)]
    assert "factor_removed" not in events and "notice_sent" not in events
    code = code_at(secret, time_step(clock.now()))
    confirmed = client.post("/me/factors/totp/confirm", json={"code": code}, headers=bearer(pair))
    assert confirmed.status_code == 200, confirmed.text


def test_an_account_without_a_number_is_told_it_has_none_to_send_to(
    make_container: Any, clock: FixedClock
) -> None:
    """Before, asking for a texted (or called) code at a sign-in of an account with an app and no phone
    number (seed 001's sign-up) answered 422 `destination_not_allowed`: "Codes can only be sent to mobile
    numbers", as if a number were there and of the wrong kind. Now it says the account has none."""
    password = f"{PASSWORD} and more"  # a password that may be the only factor: 15 characters at least
    with TestClient(create_app(make_container(require_second_factor=False))) as client:
        register(client, phone=None, password=password)
        pair = client.post("/login", json={"email": "test@example.com", "password": password}).json()
        started = client.post("/me/factors/totp", json={"currentPassword": password}, headers=bearer(pair))
        code = code_at(started.json()["secret"], time_step(clock.now()))
        assert client.post("/me/factors/totp/confirm", json={"code": code}, headers=bearer(pair)).is_success
        signing_in = client.post("/login", json={"email": "test@example.com", "password": password}).json()
        assert signing_in["expectedFactor"] == "totp" and signing_in["destination"] == ""
        for channel in ("sms", "voice"):
            sent = client.post(f"/otp/{signing_in['otpId']}/send", json={"channel": channel})
            assert (sent.status_code, sent.json()["code"]) == (400, "factor_unavailable"), sent.text
        resent = client.post(f"/otp/{signing_in['otpId']}/resend")
        assert (resent.status_code, resent.json()["code"]) == (400, "factor_unavailable"), resent.text
