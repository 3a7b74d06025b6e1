"""Passkeys through the API in process, with a software authenticator: registration, the second step,
passwordless sign-in with user verification, and the checks WebAuthn asks for (challenge single use,
origin, counter, credential ownership)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, sign_in
from tests.factors.soft_authenticator import SoftAuthenticator, b64url
from tests.functional.test_sign_in_during_change import change_password_during
from twostep.container import Container

ORIGIN = "http://testserver"  # the TestClient's origin; in dev the RP id follows the request
REAUTH = {"currentPassword": PASSWORD}  # adding or removing a passkey asks for the password again


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['accessToken']}"}


def add_passkey(client: TestClient, pair: dict[str, Any], device: SoftAuthenticator) -> Any:
    options = client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair)).json()
    assert options["publicKey"]["authenticatorSelection"]["residentKey"] == "required"
    credential = device.create(options["publicKey"])
    return client.post(
        "/me/passkeys",
        json={"ceremonyId": options["ceremonyId"], "credential": credential, "name": "Test key"},
        headers=bearer(pair),
    )


@pytest.fixture
def pair(client: TestClient, container: Container) -> dict[str, Any]:
    register(client)
    return sign_in(client, container)


@pytest.fixture
def device(client: TestClient, pair: dict[str, Any]) -> SoftAuthenticator:
    key = SoftAuthenticator(ORIGIN)
    added = add_passkey(client, pair, key)
    assert added.status_code == 201, added.text
    assert added.json()["name"] == "Test key" and added.json()["synced"] is False
    return key


def start_login(client: TestClient) -> dict[str, Any]:
    return dict(client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json())


def passkey_step(client: TestClient, otp_id: str, device: SoftAuthenticator, **extra: Any) -> Any:
    options = client.post(f"/otp/{otp_id}/passkey/options").json()
    credential = device.get(options["publicKey"])
    return client.post(
        f"/otp/{otp_id}/passkey",
        json={"ceremonyId": options["ceremonyId"], "credential": credential, **extra},
    )


def test_a_passkey_is_a_second_factor(
    client: TestClient, container: Container, device: SoftAuthenticator
) -> None:
    started = start_login(client)
    assert "passkey" in started["factors"] and started["expectedFactor"] == "sms"
    signed = passkey_step(client, started["otpId"], device)
    assert signed.status_code == 200, signed.text
    assert signed.json()["amr"] == ["pwd", "hwk"]
    assert container.tokens.authenticate(signed.json()["accessToken"]).amr == ("pwd", "hwk")
    listed = client.get("/me/passkeys", headers=bearer(signed.json())).json()
    assert listed[0]["lastUsedAt"] is not None


def test_a_passkey_cannot_finish_a_sign_in_begun_before_a_password_change(
    client: TestClient, device: SoftAuthenticator, pair: dict[str, Any]
) -> None:
    started = start_login(client)
    changed = client.post(
        "/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "a brand new passphrase here"},
        headers=bearer(pair),
    )
    assert changed.status_code == 204
    refused = passkey_step(client, started["otpId"], device)
    assert (refused.status_code, refused.json()["code"]) == (410, "credentials_changed")


def test_a_passwordless_sign_in_read_as_the_password_changes_opens_no_session(
    client: TestClient, container: Container, device: SoftAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change commits after the sign-in read the passkey's account, before its session is written."""
    options = client.post("/login/passkey/options").json()
    credential = device.get(options["publicKey"])
    ended = change_password_during(monkeypatch, container.storage, "get_user", container)
    refused = client.post(
        "/login/passkey", json={"ceremonyId": options["ceremonyId"], "credential": credential}
    )
    assert refused.status_code == 410 and refused.json().get("code") == "credentials_changed", refused.text
    assert ended == [0]
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None and container.storage.list_sessions(user.id, container.clock.now()) == []


def test_passwordless_sign_in_needs_user_verification(client: TestClient, device: SoftAuthenticator) -> None:
    options = client.post("/login/passkey/options").json()
    assert options["publicKey"]["userVerification"] == "required"
    assert options["publicKey"].get("allowCredentials", []) == []
    signed = client.post(
        "/login/passkey",
        json={"ceremonyId": options["ceremonyId"], "credential": device.get(options["publicKey"])},
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["amr"] == ["hwk", "user"]
    device.verify_user = False
    options = client.post("/login/passkey/options").json()
    refused = client.post(
        "/login/passkey",
        json={"ceremonyId": options["ceremonyId"], "credential": device.get(options["publicKey"])},
    )
    assert refused.status_code == 401 and refused.json()["code"] == "passkey_rejected"


def test_a_synced_passkey_is_a_software_key(client: TestClient, pair: dict[str, Any]) -> None:
    synced = SoftAuthenticator(ORIGIN, synced=True)
    assert add_passkey(client, pair, synced).json()["synced"] is True
    options = client.post("/login/passkey/options").json()
    signed = client.post(
        "/login/passkey",
        json={"ceremonyId": options["ceremonyId"], "credential": synced.get(options["publicKey"])},
    )
    assert signed.json()["amr"] == ["swk", "user"]


def test_an_assertion_cannot_be_replayed(client: TestClient, device: SoftAuthenticator) -> None:
    options = client.post("/login/passkey/options").json()
    body = {"ceremonyId": options["ceremonyId"], "credential": device.get(options["publicKey"])}
    assert client.post("/login/passkey", json=body).status_code == 200
    again = client.post("/login/passkey", json=body)
    assert again.status_code == 410 and again.json()["code"] == "passkey_challenge_gone"
    fresh = client.post("/login/passkey/options").json()
    moved = client.post("/login/passkey", json={**body, "ceremonyId": fresh["ceremonyId"]})
    assert moved.status_code == 401, "an old assertion does not answer a new challenge"


def test_a_cloned_authenticator_is_caught_by_its_counter(
    client: TestClient, device: SoftAuthenticator
) -> None:
    clone = copy.deepcopy(device)
    for key in (device, device):
        options = client.post("/login/passkey/options").json()
        ok = client.post(
            "/login/passkey",
            json={"ceremonyId": options["ceremonyId"], "credential": key.get(options["publicKey"])},
        )
        assert ok.status_code == 200
    options = client.post("/login/passkey/options").json()
    stale = client.post(
        "/login/passkey",
        json={"ceremonyId": options["ceremonyId"], "credential": clone.get(options["publicKey"])},
    )
    assert stale.status_code == 401 and stale.json()["code"] == "passkey_rejected"


def test_a_page_on_another_origin_cannot_use_the_passkey(
    client: TestClient, device: SoftAuthenticator
) -> None:
    device.origin = "https://evil.example"
    options = client.post("/login/passkey/options").json()
    refused = client.post(
        "/login/passkey",
        json={"ceremonyId": options["ceremonyId"], "credential": device.get(options["publicKey"])},
    )
    assert refused.status_code == 401


def test_another_accounts_passkey_is_not_this_accounts_second_factor(
    client: TestClient, container: Container, device: SoftAuthenticator
) -> None:
    register(client, email="other@example.com", phone="+905555555556")
    other_pair = client.post("/login", json={"email": "other@example.com", "password": PASSWORD}).json()
    other = client.post(
        f"/otp/{other_pair['otpId']}/verify", json={"otp": latest_code(container, "+905555555556")}
    ).json()
    theirs = SoftAuthenticator(ORIGIN)
    assert add_passkey(client, other, theirs).status_code == 201
    started = start_login(client)
    options = client.post(f"/otp/{started['otpId']}/passkey/options").json()
    allowed = {c["id"] for c in options["publicKey"]["allowCredentials"]}
    assert allowed == {b64url(device.credential_id)}, "only this account's passkeys are offered"
    wrong = client.post(
        f"/otp/{started['otpId']}/passkey",
        json={
            "ceremonyId": options["ceremonyId"],
            "credential": theirs.get(options["publicKey"], rp_id="testserver"),
        },
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "wrong_code"


def test_a_credential_id_is_registered_once(
    client: TestClient, pair: dict[str, Any], device: SoftAuthenticator
) -> None:
    again = add_passkey(client, pair, device)
    assert again.status_code == 409 and again.json()["code"] == "passkey_exists"


def test_a_registration_challenge_is_for_its_user_and_used_once(
    client: TestClient, pair: dict[str, Any]
) -> None:
    key = SoftAuthenticator(ORIGIN)
    options = client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair)).json()
    body = {"ceremonyId": options["ceremonyId"], "credential": key.create(options["publicKey"])}
    assert client.post("/me/passkeys", json=body, headers=bearer(pair)).status_code == 201
    assert client.post("/me/passkeys", json=body, headers=bearer(pair)).status_code == 410


def test_removing_a_passkey(client: TestClient, device: SoftAuthenticator, pair: dict[str, Any]) -> None:
    passkey_id = client.get("/me/passkeys", headers=bearer(pair)).json()[0]["id"]
    remove = f"/me/passkeys/{passkey_id}/remove"
    assert client.post(remove, json=REAUTH, headers=bearer(pair)).status_code == 204
    assert client.post(remove, json=REAUTH, headers=bearer(pair)).status_code == 204
    assert client.get("/me/passkeys", headers=bearer(pair)).json() == []
    assert "passkey" not in start_login(client)["factors"]


def test_garbage_credentials_are_refused_cleanly(client: TestClient, device: SoftAuthenticator) -> None:
    for credential in (
        {},
        {"id": 5},
        {"id": "abc", "response": []},
        {"id": "abc", "rawId": "abc", "response": {"clientDataJSON": "!!"}},
    ):
        options = client.post("/login/passkey/options").json()
        refused = client.post(
            "/login/passkey", json={"ceremonyId": options["ceremonyId"], "credential": credential}
        )
        assert refused.status_code == 401, (credential, refused.text)


def test_a_locked_account_cannot_sign_in_with_a_passkey(
    client: TestClient, container: Container, device: SoftAuthenticator
) -> None:
    """`twostep users lock` refuses every sign-in: the password's, and a passkey's without a password."""
    user = container.storage.find_user_by_email("test@example.com")
    assert user is not None
    container.account.lock(user.id)
    options = client.post("/login/passkey/options").json()
    answer = client.post(
        "/login/passkey",
        json={"ceremonyId": options["ceremonyId"], "credential": device.get(options["publicKey"])},
    )
    assert (answer.status_code, answer.json().get("code")) == (403, "account_locked"), answer.text
    assert container.storage.list_sessions(user.id, container.clock.now()) == []
    container.account.unlock(user.id)
    options = client.post("/login/passkey/options").json()
    again = client.post(
        "/login/passkey",
        json={"ceremonyId": options["ceremonyId"], "credential": device.get(options["publicKey"])},
    )
    assert again.status_code == 200, again.text


@pytest.mark.parametrize("handle", [123, True, ["a"], {"x": 1}])
def test_a_user_handle_that_is_not_a_string_is_a_rejected_passkey(
    client: TestClient, device: SoftAuthenticator, handle: object
) -> None:
    """Before, a userHandle that was not a string (but truthy) reached `str.rstrip` and answered 500, on
    the public /login/passkey and on the second step; it is a malformed assertion, refused as one."""
    options = client.post("/login/passkey/options").json()
    credential = device.get(options["publicKey"])
    credential["response"]["userHandle"] = handle
    alone = client.post(
        "/login/passkey", json={"ceremonyId": options["ceremonyId"], "credential": credential}
    )
    assert (alone.status_code, alone.json().get("code")) == (401, "passkey_rejected"), alone.text
    otp_id = start_login(client)["otpId"]
    options = client.post(f"/otp/{otp_id}/passkey/options").json()
    credential = device.get(options["publicKey"])
    credential["response"]["userHandle"] = handle
    step = client.post(
        f"/otp/{otp_id}/passkey", json={"ceremonyId": options["ceremonyId"], "credential": credential}
    )
    assert (step.status_code, step.json().get("code")) == (401, "passkey_rejected"), step.text


@pytest.mark.parametrize(
    ("sent", "kept"),
    [(5, ()), ({"a": 1}, ()), (None, ()), (["usb", 7, "a,b", "x" * 21, "hybrid"], ("usb", "hybrid"))],
)
def test_transports_are_kept_only_as_a_list_of_short_tokens(
    client: TestClient, container: Container, pair: dict[str, Any], sent: object, kept: tuple[str, ...]
) -> None:
    """Before, transports that were not a list (a number, an object, null) answered 500 at registration."""
    key = SoftAuthenticator(ORIGIN)
    options = client.post("/me/passkeys/options", json=REAUTH, headers=bearer(pair)).json()
    credential = key.create(options["publicKey"])
    credential["response"]["transports"] = sent
    added = client.post(
        "/me/passkeys",
        json={"ceremonyId": options["ceremonyId"], "credential": credential, "name": "k"},
        headers=bearer(pair),
    )
    assert added.status_code == 201, added.text
    stored = container.storage.get_passkey(added.json()["id"])
    assert stored is not None and stored.transports == kept
