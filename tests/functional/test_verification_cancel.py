"""Canceling a verification code over HTTP (TestClient): `DELETE /verifications?auth_id=…` in the full API
and `DELETE /?auth_id=…` in the standalone app, on memory and SQLite storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import latest_code
from tests.functional.test_verification_api import PHONE, Api, flowroute_error, wrong
from twostep.api.app import create_app
from twostep.api.verification_app import create_verification_app
from twostep.container import Container
from twostep.domain.clock import FixedClock


class CancelApi(Api):
    def cancel(self, auth_id: str = "order-1", headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(self.path, params={"auth_id": auth_id}, headers=headers)

    def status(self, auth_id: str = "order-1") -> Any:
        return self.client.get(self.path.rstrip("/") + "/status", params={"auth_id": auth_id})


@pytest.fixture(params=["full-memory", "standalone-memory", "full-sqlite", "standalone-sqlite"])
def api(request: pytest.FixtureRequest, make_container: Callable[..., Container]) -> Iterator[CancelApi]:
    app_name, storage = request.param.split("-")
    container = make_container(storage=storage)
    if app_name == "full":
        app, path = create_app(container), "/verifications"
    else:
        app, path = create_verification_app(container), "/"
    with TestClient(app) as client:
        yield CancelApi(client, path, container)


def canceled(response: Any, status: str = "canceled", auth_id: str = "order-1") -> None:
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status
    assert response.json()["auth_id"] == auth_id


def test_a_canceled_code_answers_expired_and_a_new_create_works_at_once(api: CancelApi) -> None:
    api.create()
    code = api.code()
    canceled(api.cancel())
    flowroute_error(api.check(code), 410, "ExpiredAuthCode")
    assert api.status().json()["status"] == "canceled"
    canceled(api.cancel())  # idempotent: the same answer again
    created = api.create()
    assert created.status_code == 200, created.text
    assert created.json()["attempts_left"] == 3
    assert api.status().json()["status"] == "pending"


def test_a_cancel_then_a_create_keeps_the_attempts_made(api: CancelApi) -> None:
    """A cancel must not reset the failure budget a re-create keeps: cancel-and-create would otherwise
    give a fresh set of guesses at every turn."""
    api.create()
    for left in (2, 1):
        flowroute_error(api.check(wrong(api.code())), 401, "InvalidAuthCode", left)
    canceled(api.cancel())
    assert api.create().json()["attempts_left"] == 1
    flowroute_error(api.check(wrong(api.code())), 401, "InvalidAuthCode", 0)
    flowroute_error(api.create(), 429, "RateLimited", None)


def test_the_new_code_after_a_cancel_verifies(api: CancelApi) -> None:
    api.create()
    canceled(api.cancel())
    api.create()
    assert api.check(api.code()).status_code == 200


def test_canceling_an_unknown_auth_id_is_404(api: CancelApi) -> None:
    flowroute_error(api.cancel("nobody"), 404, "UnknownAuthId")


def test_canceling_a_used_code_changes_nothing_and_says_so(api: CancelApi) -> None:
    api.create()
    assert api.check(api.code()).status_code == 200
    canceled(api.cancel(), "verified")
    assert api.status().json()["status"] == "verified"


def test_canceling_an_expired_code_says_expired(api: CancelApi, clock: FixedClock) -> None:
    api.create(expiration=30)
    clock.advance(31)
    canceled(api.cancel(), "expired")


def test_a_cancel_never_lifts_the_wait_after_the_attempts_ran_out(api: CancelApi) -> None:
    api.create(retries=1, expiration=120)
    flowroute_error(api.check(wrong(api.code())), 401, "InvalidAuthCode", 0)
    canceled(api.cancel(), "exhausted")
    flowroute_error(api.create(), 429, "RateLimited", None)


def test_a_wrong_code_counted_before_the_cancel_is_not_the_answer_after(api: CancelApi) -> None:
    api.create()
    code = api.code()
    flowroute_error(api.check(wrong(code)), 401, "InvalidAuthCode", 2)
    canceled(api.cancel())
    flowroute_error(api.check(wrong(code)), 410, "ExpiredAuthCode")
    flowroute_error(api.check(code), 410, "ExpiredAuthCode")
    assert api.status().json()["attempts_left"] == 2  # checks of a canceled code count no attempt


def test_a_repeated_or_malformed_auth_id_is_400(api: CancelApi) -> None:
    api.create()
    repeated = api.client.delete(f"{api.path}?auth_id=order-1&auth_id=other")
    assert flowroute_error(repeated, 400, "InvalidAPIUsage", None)["field"] == "auth_id"
    missing = api.client.delete(api.path)
    assert flowroute_error(missing, 400, "InvalidAPIUsage", None)["field"] == "auth_id"
    assert api.check(api.code()).status_code == 200  # nothing was canceled


def test_the_cancel_is_audited_with_the_tenant_and_no_number(api: CancelApi) -> None:
    api.create()
    api.cancel()
    api.cancel()
    events = [event for event in api.container.audit.tail() if event.event == "verification_canceled"]
    assert len(events) == 1  # the repeat canceled nothing
    assert events[0].phone_masked is None
    assert PHONE not in str(events[0]) and PHONE[-4:] not in str(events[0])


# --- API keys and tenants ---
SHOP, BANK = "shop-key-0123456789abcdef", "bank-key-0123456789abcdef"


@pytest.fixture(params=["standalone", "full"])
def tenants(request: pytest.FixtureRequest, make_container: Callable[..., Container]) -> Iterator[CancelApi]:
    container = make_container(stage="staging", verify_api_keys=[f"shop:{SHOP}", f"bank:{BANK}"])
    if request.param == "standalone":
        app, path = create_verification_app(container), "/"
    else:
        app, path = create_app(container), "/verifications"
    with TestClient(app) as client:
        yield CancelApi(client, path, container)


def test_a_tenant_can_never_cancel_another_tenant_s_code(tenants: CancelApi) -> None:
    tenants.client.headers["X-Api-Key"] = SHOP
    assert tenants.create().status_code == 200
    code = tenants.code()
    flowroute_error(tenants.cancel(headers={"X-Api-Key": BANK}), 404, "UnknownAuthId")
    flowroute_error(tenants.cancel(headers={"X-Api-Key": "guess"}), 401, "InvalidApiKey", None)
    del tenants.client.headers["X-Api-Key"]
    flowroute_error(tenants.cancel(), 401, "InvalidApiKey", None)
    tenants.client.headers["X-Api-Key"] = SHOP
    assert tenants.check(code).status_code == 200  # still the shop's, untouched


def test_a_tenant_s_cancel_is_audited_as_its_own(tenants: CancelApi) -> None:
    tenants.client.headers["X-Api-Key"] = SHOP
    tenants.create()
    canceled(tenants.cancel())
    events = [event for event in tenants.container.audit.tail() if event.event == "verification_canceled"]
    assert [event.detail.get("tenant") for event in events] == ["shop"]


# --- Flowroute compatibility mode ---
def test_flowroute_mode_cancels_with_the_precise_statuses(make_container: Callable[..., Container]) -> None:
    """Flowroute's service had no cancel, so no client of it expects its every-refusal-is-400 here."""
    container = make_container(verify_compat="flowroute")
    with TestClient(create_verification_app(container)) as client:
        api = CancelApi(client, "/", container)
        flowroute_error(api.cancel("nobody"), 404, "UnknownAuthId")
        api.create()
        code = latest_code(container, PHONE)
        canceled(api.cancel())
        flowroute_error(api.check(code), 400, "ExpiredAuthCode")  # the check keeps Flowroute's 400


def test_openapi_lists_the_cancel(container: Container) -> None:
    with TestClient(create_app(container)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post", "delete"} <= set(paths["/verifications"])
    status = paths["/verifications"]["delete"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert status == {"$ref": "#/components/schemas/VerificationCanceledOut"}
