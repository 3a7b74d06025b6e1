"""A password reset's wrong codes: a budget of their own per email typed, never the sign-in's lock.

Before, wrong reset codes were counted against the account's sign-in budget (`second_factor_locked`): anyone
who knew an email could lock that account's sign-in, with no password, until an administrator unlocked it,
and only emails with an account locked, which told them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, sign_in
from tests.limits.helpers import assert_limited, run_together
from twostep.api.app import create_app
from twostep.api.device_cookie import DEVICE_COOKIE
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import RateLimited, WrongCode
from twostep.services.limits import code_failures_key
from twostep.settings import Settings
from twostep.storage.memory import MemoryStorage

MakeContainer = Callable[..., Container]
KNOWN, UNKNOWN = "test@example.com", "nobody@example.com"
NEW_PASSWORD = "a brand new passphrase here"


ROOMY_TEXTS = {"sms_per_number_10min": 1000, "sms_per_number_day": 10000}


def wrong_resets(client: TestClient, email: str, count: int, **extra: str) -> list[tuple[int, str | None]]:
    """`count` wrong codes for `email`'s resets, a new reset each five; the answers' status and limit.
    `extra`: more of the reset's body (its `deviceToken`)."""
    answers = []
    reset_id = ""
    for i in range(count):
        if i % 5 == 0:
            reset_id = client.post("/password/forgot", json={"email": email}).json()["resetId"]
        answer = client.post(
            "/password/reset",
            json={"resetId": reset_id, "code": "000000", "newPassword": NEW_PASSWORD, **extra},
        )
        answers.append((answer.status_code, answer.json().get("limit")))
    return answers


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_wrong_reset_codes_never_lock_the_owners_sign_in(make_container: MakeContainer, storage: str) -> None:
    container = make_container(
        storage=storage,
        otp_account_failure_limit=3,
        reset_code_failures_per_day=8,
        reset_code_failures_per_client_day=8,
    )
    with TestClient(create_app(container)) as client:
        register(client)
        sign_in(client, container)  # proves the phone: resets are texted to it
        # More wrong reset codes than the sign-in's whole budget: each is a 401, then the reset's own 429.
        assert wrong_resets(client, KNOWN, 10) == [(401, None)] * 8 + [(429, "reset_wrong_codes_day")] * 2
        tokens = sign_in(client, container)  # the owner's sign-in goes on: right password, right code
        assert "accessToken" in tokens
        owner = container.storage.find_user_by_email(KNOWN)
        assert owner is not None
        failures = container.storage.get_counter(code_failures_key(owner.id), container.clock.now())
        assert failures is None or failures.value == 0  # the sign-in's budget untouched by the resets


def test_known_and_unknown_emails_spend_and_get_back_their_budget_alike(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    container = make_container(reset_code_failures_per_day=4, reset_code_failures_per_client_day=4)
    with TestClient(create_app(container)) as client:
        register(client)
        sign_in(client, container)
        known, unknown = wrong_resets(client, KNOWN, 6), wrong_resets(client, UNKNOWN, 6)
        assert known == unknown == [(401, None)] * 4 + [(429, "reset_wrong_codes_day")] * 2
        started = client.post("/password/forgot", json={"email": KNOWN.upper()})  # the same email, normalised
        refused = client.post(
            "/password/reset",
            json={
                "resetId": started.json()["resetId"],
                "code": latest_code(container),
                "newPassword": NEW_PASSWORD,
            },
        )
        retry_after = assert_limited(
            refused, "reset_wrong_codes_day"
        )  # even the right code, until the day ends
        clock.advance(retry_after)
        started = client.post("/password/forgot", json={"email": KNOWN})
        done = client.post(
            "/password/reset",
            json={
                "resetId": started.json()["resetId"],
                "code": latest_code(container),
                "newPassword": NEW_PASSWORD,
            },
        )
        assert done.status_code == 204, done.text
        assert client.post("/login", json={"email": KNOWN, "password": PASSWORD}).status_code == 401


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_concurrent_wrong_reset_codes_stop_at_the_budget(make_container: MakeContainer, storage: str) -> None:
    container = make_container(storage=storage, reset_code_failures_per_day=6)
    reset_ids = [container.recovery.forgot(UNKNOWN).reset_id for _ in range(4)]  # 20 attempts between them

    def guess(i: int) -> None:
        container.recovery.reset(reset_ids[i % 4], "000000", NEW_PASSWORD)

    results = run_together(20, guess)
    assert sum(isinstance(r, WrongCode) for r in results) == 6
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 14 and {r.limit for r in refused} == {"reset_wrong_codes_day"}


def test_a_completed_reset_lifts_the_second_step_lock(make_container: MakeContainer) -> None:
    """The owner's way back from a spent wrong-code budget without an administrator: the reset's code
    proves the number, and the password that reached the second step is replaced."""
    container = make_container(otp_account_failure_limit=3)
    with TestClient(create_app(container)) as client:
        register(client)
        sign_in(client, container)
        otp_id = client.post("/login", json={"email": KNOWN, "password": PASSWORD}).json()["otpId"]
        for _ in range(3):
            client.post(f"/otp/{otp_id}/verify", json={"otp": "000000"})
        locked = client.post("/login", json={"email": KNOWN, "password": PASSWORD})
        assert (locked.status_code, locked.json().get("limit")) == (429, "second_factor_locked")
        reset_id = client.post("/password/forgot", json={"email": KNOWN}).json()["resetId"]
        body = {"resetId": reset_id, "code": latest_code(container), "newPassword": NEW_PASSWORD}
        assert client.post("/password/reset", json=body).status_code == 204
        started = client.post("/login", json={"email": KNOWN, "password": NEW_PASSWORD})
        assert started.status_code == 200, started.text


def from_network(app: FastAPI, ip: str) -> TestClient:
    """A client of `app` whose requests come from `ip`."""
    return TestClient(app, client=(ip, 50000))


@contextmanager
def registered_owner(app: FastAPI) -> Iterator[TestClient]:
    """The account's owner (KNOWN, registered) on its home network."""
    with from_network(app, "198.51.100.9") as owner:
        register(owner)
        yield owner


def reset_with_right_code(client: TestClient, container: Container, **extra: str) -> httpx.Response:
    """A new reset of KNOWN and its texted code, with `extra` in the body (a `deviceToken`)."""
    reset_id = client.post("/password/forgot", json={"email": KNOWN}).json()["resetId"]
    body = {"resetId": reset_id, "code": latest_code(container), "newPassword": NEW_PASSWORD, **extra}
    return client.post("/password/reset", json=body)


def test_a_stranger_spending_their_share_leaves_the_owner_a_reset(make_container: MakeContainer) -> None:
    """Before, the stranger's ten wrong codes (the default budget) spent the email's whole day: the owner's
    reset, from another network and with the right code, answered 429 reset_wrong_codes_day."""
    container = make_container()  # the defaults: 10 a day per email, 5 per client
    app = create_app(container)
    with registered_owner(app) as owner, from_network(app, "203.0.113.7") as stranger:
        sign_in(owner, container)
        answers = wrong_resets(stranger, KNOWN, 10)
        assert answers == [(401, None)] * 5 + [(429, "reset_wrong_codes_client_day")] * 5
        done = reset_with_right_code(owner, container)
        assert done.status_code == 204, done.text


def test_strangers_on_many_networks_leave_a_remembered_device_its_reset(
    make_container: MakeContainer,
) -> None:
    """Before, strangers spending the email's cap refused every reset of the day, its owner's too; now a
    device the account remembered spends a budget of its own (its own wrong codes stop at it)."""
    container = make_container(
        reset_code_failures_per_day=4,
        reset_code_failures_per_client_day=2,
        **ROOMY_TEXTS,  # six resets asked for: room for them, as the texts' caps are not what this is about
    )
    app = create_app(container)
    with registered_owner(app) as owner:
        device = sign_in(owner, container, remember_device=True)["deviceToken"]
        for ip in ("203.0.113.7", "203.0.113.8", "203.0.113.9"):
            with from_network(app, ip) as stranger:
                wrong_resets(stranger, KNOWN, 2)
        assert_limited(reset_with_right_code(owner, container), "reset_wrong_codes_day")
        forged = reset_with_right_code(owner, container, deviceToken="rd_" + "x" * 43)
        assert_limited(forged, "reset_wrong_codes_day")  # a token no account remembered: no budget of its own
        answers = wrong_resets(owner, KNOWN, 5, deviceToken=device)
        assert answers == [(401, None)] * 4 + [(429, "reset_wrong_codes_device_day")]


def test_the_web_ui_s_device_cookie_keeps_the_owner_s_budget(make_container: MakeContainer) -> None:
    """The web UI sends no deviceToken: its remembered device is the HttpOnly cookie."""
    container = make_container(reset_code_failures_per_day=2, reset_code_failures_per_client_day=2)
    app = create_app(container)
    with registered_owner(app) as owner:
        device = sign_in(owner, container, remember_device=True)["deviceToken"]
        with from_network(app, "203.0.113.7") as stranger:
            assert wrong_resets(stranger, KNOWN, 3)[-1] == (429, "reset_wrong_codes_day")
        owner.cookies.set(DEVICE_COOKIE, device)
        owner.headers["X-Twostep-Client"] = "web"
        done = reset_with_right_code(owner, container)
        assert done.status_code == 204, done.text


REQUESTS = {"reset_requests_per_day": 3, "reset_requests_per_client_day": 2}  # the defaults


def forgot_from(app: FastAPI, ip: str, email: str, count: int) -> list[tuple[int, str | None]]:
    """`count` resets asked for `email` from `ip`; the answers' status and limit."""
    with from_network(app, ip) as client:
        answers = [client.post("/password/forgot", json={"email": email}) for _ in range(count)]
    return [(a.status_code, a.json().get("limit")) for a in answers]


def test_strangers_asking_for_resets_leave_the_owner_its_sign_in_codes(make_container: MakeContainer) -> None:
    """Before, each reset asked for texted the account's number and counted against its texts of the day:
    strangers who knew only the email asked for resets until `account_sms_day` was spent, and the owner's
    sign-in answered 429 until the day ended. Now an email's resets have a budget below those caps, and
    each client a share of it."""
    container = make_container(account_sms_per_day=10, **REQUESTS)
    app = create_app(container)
    with registered_owner(app) as owner:
        sign_in(owner, container)
        first = forgot_from(app, "203.0.113.7", KNOWN, 3)
        assert first == [(202, None)] * 2 + [(429, "reset_requests_client_day")]
        others = [forgot_from(app, f"203.0.113.{i}", KNOWN, 3) for i in (8, 9, 10)]
        assert others[0] == [(202, None)] + [(429, "reset_requests_day")] * 2
        assert others[1] == others[2] == [(429, "reset_requests_day")] * 3
        assert "accessToken" in sign_in(owner, container)  # the owner's texts of the day are not spent


def test_a_remembered_device_asks_for_a_reset_when_strangers_spent_the_email_s(
    make_container: MakeContainer,
) -> None:
    container = make_container(**REQUESTS)
    app = create_app(container)
    with registered_owner(app) as owner:
        device = sign_in(owner, container, remember_device=True)["deviceToken"]
        forgot_from(app, "203.0.113.7", KNOWN, 2)
        forgot_from(app, "203.0.113.8", KNOWN, 1)
        refused = owner.post("/password/forgot", json={"email": KNOWN})
        assert_limited(refused, "reset_requests_day")
        reset_id = owner.post("/password/forgot", json={"email": KNOWN, "deviceToken": device}).json()[
            "resetId"
        ]
        body = {"resetId": reset_id, "code": latest_code(container), "newPassword": NEW_PASSWORD}
        assert owner.post("/password/reset", json=body).status_code == 204


def test_resets_asked_for_a_known_and_an_unknown_email_are_answered_alike(
    make_container: MakeContainer,
) -> None:
    container = make_container(**REQUESTS)
    app = create_app(container)
    with registered_owner(app) as owner:
        sign_in(owner, container)
    known = [forgot_from(app, f"203.0.113.{i}", KNOWN, 2) for i in (1, 2, 3)]
    unknown = [forgot_from(app, f"203.0.113.{i}", UNKNOWN, 2) for i in (1, 2, 3)]
    spent = [(429, "reset_requests_day")]
    assert known == unknown == [[(202, None)] * 2, [(202, None), *spent], spent * 2]


def test_a_deployment_that_set_only_the_number_s_cap_keeps_the_owner_a_sign_in_text(
    tmp_path: Path, clock: FixedClock
) -> None:
    """Before, a deployment that had set TWOSTEP_SMS_PER_NUMBER_10MIN=2 (before resets had a budget) kept
    the resets' default of 3 a day: strangers' resets spent the number's texts of ten minutes and the owner's
    sign-in answered 429 sms_per_number_10min. The unset budget is now lowered below the cap (to 1)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        storage="memory",
        jwt_key_file=tmp_path / "keys.json",
        issuer="http://testserver",
        resend_cooldown_seconds=0,
        fraud_guard=False,
        sms_per_number_10min=2,
    )
    container = build(settings, clock=clock, storage=MemoryStorage())
    app = create_app(container)
    try:
        with registered_owner(app) as owner:
            sign_in(owner, container)  # proves the number: its resets are texted
            clock.advance(601)
            answers = [forgot_from(app, f"203.0.113.{i}", KNOWN, 2) for i in (7, 8)]
            assert answers[0][0] == (202, None) and answers[1] == [(429, "reset_requests_day")] * 2
            assert "accessToken" in sign_in(owner, container)
    finally:
        container.close()
