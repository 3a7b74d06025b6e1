"""Sessions over the HTTP API in-process: list, end, policy, recent sign-in, lock and deletion.

The same paths against a live `twostep serve` (and across processes) are in test_sessions_live.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, register
from twostep.api.app import create_app
from twostep.api.deps import recent_sign_in
from twostep.api.errors import install_error_handlers
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import StorageUnavailable
from twostep.domain.tokens import AccessClaims
from twostep.services.keyring import UNKNOWN_KEY_REREAD_SECONDS

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def sign_in(client: TestClient, container: Container, agent: str = FIREFOX) -> dict[str, Any]:
    started = client.post(
        "/login", json={"email": "test@example.com", "password": PASSWORD}, headers={"User-Agent": agent}
    )
    assert started.status_code == 200, started.text
    verified = client.post(
        f"/otp/{started.json()['otpId']}/verify",
        json={"otp": latest_code(container)},
        headers={"User-Agent": agent},
    )
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['accessToken']}"}


def refused(client: TestClient, pair: dict[str, Any], path: str = "/hello") -> str:
    answer = client.get(path, headers=bearer(pair))
    assert answer.status_code == 401, answer.text
    return str(answer.json()["code"])


def test_session_list_marks_the_current_one_and_describes_clients(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    laptop = sign_in(client, container)
    clock.advance(1)
    sign_in(client, container, agent="curl/8.5.0")
    listed = client.get("/sessions", headers=bearer(laptop)).json()["sessions"]
    assert [(s["client"], s["current"]) for s in listed] == [("curl", False), ("Firefox on Linux", True)]
    assert set(listed[0]) == {"id", "createdAt", "lastUsedAt", "client", "ip", "current"}
    assert "refreshToken" not in str(listed)


def test_ending_one_session_refuses_its_tokens_at_once(client: TestClient, container: Container) -> None:
    register(client)
    mine, other = sign_in(client, container), sign_in(client, container)
    other_id = next(
        s["id"] for s in client.get("/sessions", headers=bearer(mine)).json()["sessions"] if not s["current"]
    )
    assert client.delete(f"/sessions/{other_id}", headers=bearer(mine)).status_code == 204
    assert refused(client, other) == "session_revoked"
    again = client.post("/token/refresh", json={"refreshToken": other["refreshToken"]})
    assert again.status_code == 401 and again.json()["code"] == "session_revoked"
    assert client.get("/hello", headers=bearer(mine)).status_code == 200
    assert client.delete(f"/sessions/{other_id}", headers=bearer(mine)).status_code == 204  # already ended
    missing = client.delete("/sessions/not-a-session", headers=bearer(mine))
    assert missing.status_code == 404 and missing.json()["code"] == "session_not_found"


def test_someone_elses_session_cannot_be_ended(client: TestClient, container: Container) -> None:
    register(client)
    register(client, email="other@example.com", phone="+905555555551")
    mine = sign_in(client, container)
    started = client.post("/login", json={"email": "other@example.com", "password": PASSWORD}).json()
    theirs = client.post(
        f"/otp/{started['otpId']}/verify", json={"otp": latest_code(container, "+905555555551")}
    ).json()
    their_id = client.get("/sessions", headers=bearer(theirs)).json()["sessions"][0]["id"]
    assert client.delete(f"/sessions/{their_id}", headers=bearer(mine)).status_code == 404
    assert client.get("/hello", headers=bearer(theirs)).status_code == 200


def test_ending_all_other_sessions_keeps_the_current_one(client: TestClient, container: Container) -> None:
    register(client)
    mine, second, third = (sign_in(client, container) for _ in range(3))
    answer = client.delete("/sessions", headers=bearer(mine))
    assert answer.status_code == 200 and answer.json() == {"ended": 2}
    assert refused(client, second) == refused(client, third) == "session_revoked"
    assert client.get("/hello", headers=bearer(mine)).status_code == 200
    assert [s["current"] for s in client.get("/sessions", headers=bearer(mine)).json()["sessions"]] == [True]


def test_logout_refuses_the_access_token(client: TestClient, container: Container) -> None:
    register(client)
    pair = sign_in(client, container)
    assert client.post("/logout", json={"refreshToken": pair["refreshToken"]}).status_code == 204
    assert refused(client, pair) == "session_revoked"
    assert refused(client, pair, "/sessions") == "session_revoked"


def test_refresh_keeps_the_session_and_its_sign_in_time(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    first = sign_in(client, container)
    clock.advance(120)
    second = client.post("/token/refresh", json={"refreshToken": first["refreshToken"]}).json()
    first_claims = container.keys.verifier().verify(first["accessToken"])
    second_claims = container.keys.verifier().verify(second["accessToken"])
    assert second_claims.sid == first_claims.sid
    assert second_claims.auth_time == first_claims.auth_time < second_claims.iat
    (listed,) = client.get("/sessions", headers=bearer(second)).json()["sessions"]
    assert listed["lastUsedAt"] != listed["createdAt"]


def test_one_factor_sessions_end_when_a_second_factor_becomes_required(
    make_container: Callable[..., Container], tmp_path: Any
) -> None:
    relaxed = make_container(storage="sqlite", require_second_factor=False)
    with TestClient(create_app(relaxed)) as client:
        register(client, phone=None)
        pair = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()
        assert client.get("/hello", headers=bearer(pair)).status_code == 200
    strict = make_container(storage="sqlite", require_second_factor=True)
    with TestClient(create_app(strict)) as client:
        assert refused(client, pair) == "second_factor_required"
        again = client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]})
        assert again.status_code == 401 and again.json()["code"] == "second_factor_required"
        login = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        assert login.status_code == 403 and login.json()["code"] == "second_factor_required"


def test_recent_sign_in_dependency(container: Container, clock: FixedClock) -> None:
    app = FastAPI()
    app.state.container = container
    install_error_handlers(app)

    @app.get("/sensitive")
    def sensitive(claims: AccessClaims = Depends(recent_sign_in(300))) -> dict[str, str]:
        return {"sub": claims.sub}

    with TestClient(create_app(container)) as api, TestClient(app) as guarded:
        register(api)
        pair = sign_in(api, container)
        assert guarded.get("/sensitive", headers=bearer(pair)).status_code == 200
        clock.advance(301)
        pair = api.post("/token/refresh", json={"refreshToken": pair["refreshToken"]}).json()
        answer = guarded.get("/sensitive", headers=bearer(pair))
        assert answer.status_code == 403 and answer.json()["code"] == "reauthentication_required"


def test_lock_ends_sessions_and_refuses_sign_in(client: TestClient, container: Container) -> None:
    user = register(client)
    pair = sign_in(client, container)
    assert container.account.lock(user["id"]) == 1
    assert refused(client, pair) == "session_revoked"
    login = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert login.status_code == 403 and login.json()["code"] == "account_locked"
    container.account.unlock(user["id"])
    sign_in(client, container)


@pytest.mark.parametrize("route", ["resend", "send"])
def test_a_sign_in_begun_before_a_lock_gets_no_more_codes(
    client: TestClient, container: Container, route: str
) -> None:
    """Before, a sign-in whose password step passed before `twostep users lock` could still have codes
    texted (`/otp/{otpId}/resend` or `/send`), each to the owner's phone and paid for, though none
    could be used: the check before a new code read only the wrong-code lock. Now 403 account_locked."""
    user = register(client)
    sign_in(client, container)  # proves the number
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    otp_id = started.json()["otpId"]
    container.account.lock(user["id"])
    texts = len(container.storage.list_outbox(to=PHONE, last=100))
    again = client.post(f"/otp/{otp_id}/{route}", json={"channel": "sms"})
    assert again.status_code == 403 and again.json()["code"] == "account_locked", again.text
    assert len(container.storage.list_outbox(to=PHONE, last=100)) == texts
    container.account.unlock(user["id"])
    assert client.post(f"/otp/{otp_id}/{route}", json={"channel": "sms"}).status_code == 202


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_deleting_my_account(make_container: Callable[..., Container], storage: str) -> None:
    container = make_container(storage=storage)
    with TestClient(create_app(container)) as client:
        user = register(client)
        pair, other = sign_in(client, container), sign_in(client, container)
        assert client.post("/messages", json={"content": "hi"}, headers=bearer(pair)).status_code == 201
        wrong = client.request("DELETE", "/me", json={"currentPassword": "nope"}, headers=bearer(pair))
        assert wrong.status_code == 403 and wrong.json()["code"] == "invalid_current_password"
        assert client.request("DELETE", "/me", json={}, headers=bearer(pair)).status_code == 422
        done = client.request("DELETE", "/me", json={"currentPassword": PASSWORD}, headers=bearer(pair))
        assert done.status_code == 204
        assert refused(client, pair) == refused(client, other) == "session_revoked"
        (message,) = client.get("/messages").json()["messages"]
        assert message["author"] == "Deleted account" and message["content"] == "hi"
        login = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        assert login.status_code == 401
        assert container.audit.tail(user_id=user["id"]) == []
        pseudonym = container.account.pseudonym(user["id"])
        kept = container.audit.tail(user_id=pseudonym)
        assert "user_deleted" in [e.event for e in kept]
        assert all(e.ip is None and e.email_hash is None and e.phone_masked is None for e in kept)
        register(client)  # the email and the phone number are free again
        assert PHONE not in str(kept)


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_sign_in_begun_before_the_deletion_can_neither_resend_nor_be_guessed_at(
    make_container: Callable[..., Container], storage: str
) -> None:
    """Before, a sign-in whose password step passed before the account was deleted could still resend
    its code (a text to the deleted person's number, on every resend) and guess at it (each wrong code
    audited as `code_failed` under the account's real id, after the deletion had pseudonymised its
    trail). Both now answer 404 `challenge_not_found`, as its right code already did."""
    container = make_container(storage=storage)
    with TestClient(create_app(container)) as client:
        user = register(client)
        sign_in(client, container)  # proves the number
        started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        otp_id = started.json()["otpId"]
        container.account.delete(user["id"])
        texts = len(container.storage.list_outbox(to=PHONE, last=100))
        resent = client.post(f"/otp/{otp_id}/resend")
        assert resent.status_code == 404 and resent.json()["code"] == "challenge_not_found", resent.text
        guessed = client.post(f"/otp/{otp_id}/verify", json={"otp": "000000"})
        assert guessed.status_code == 404 and guessed.json()["code"] == "challenge_not_found", guessed.text
    assert len(container.storage.list_outbox(to=PHONE, last=100)) == texts
    assert container.audit.tail(user_id=user["id"]) == []


def test_a_token_of_an_unknown_key_while_the_keys_cannot_be_read_answers_503(
    client: TestClient, container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token naming a key this process does not know makes it read the shared keys (a rotation another
    server may already sign with); an unreadable key set answers 503, and is not read again at once."""
    register(client)
    header, payload, signature = sign_in(client, container)["accessToken"].split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    fields["kid"] = "rotated-a-moment-ago"
    renamed = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    token = {"Authorization": f"Bearer {renamed}.{payload}.{signature}"}
    clock.advance(UNKNOWN_KEY_REREAD_SECONDS)

    def unreachable() -> None:
        raise StorageUnavailable()

    monkeypatch.setattr(container.storage, "get_key_record", unreachable)
    answer = client.get("/hello", headers=token)
    assert (answer.status_code, answer.json()["code"]) == (503, "storage_unavailable"), answer.text
    again = client.get("/hello", headers=token)
    assert (again.status_code, again.json()["code"]) == (401, "invalid_token")  # no second read within 1 s


def _refreshed_moments_before_its_end(
    client: TestClient, container: Container, clock: FixedClock
) -> dict[str, Any]:
    """A session's access token from a refresh 5 s before the session's absolute end."""
    pair = sign_in(client, container)
    clock.advance(container.settings.refresh_token_ttl_seconds - 5)
    fresh = client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]})
    assert fresh.status_code == 200, fresh.text
    return dict(fresh.json())


def test_an_access_token_never_outlives_its_session(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """It lasted its full 15 minutes from a refresh just before the session's end, past every later "end
    all sessions" (they list the sessions that have not ended): a thief could time the refresh."""
    register(client)
    fresh = _refreshed_moments_before_its_end(client, container, clock)
    claims = container.keys.verifier().verify(fresh["accessToken"])
    assert fresh["expiresIn"] == 5 and claims.exp == claims.iat + 5
    clock.advance(5 + container.settings.jwt_leeway_seconds + 1)
    assert refused(client, fresh) == "invalid_token"


def test_ending_every_session_reaches_one_that_ended_within_the_tokens_leeway(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """Its last access token is still accepted for the verifier's leeway after the session's end."""
    register(client)
    fresh = _refreshed_moments_before_its_end(client, container, clock)
    owner = sign_in(client, container)
    clock.advance(5 + container.settings.jwt_leeway_seconds // 2)
    assert client.get("/hello", headers=bearer(fresh)).status_code == 200  # the session has ended
    answer = client.delete("/sessions", headers=bearer(owner))
    assert answer.status_code == 200 and answer.json() == {"ended": 1}
    assert refused(client, fresh) == "session_revoked"


@pytest.mark.parametrize("storage", ["memory", "sqlite", "postgres"])
def test_sign_out_everyone_reaches_every_account_page_by_page(
    make_container: Callable[..., Container],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    storage: str,
) -> None:
    """No service ended every account's sessions (after an older backup is restored, those ended or spent
    since are live again). `AccountService.sign_out_everyone` now ends them all, past the first page of
    accounts, and their refresh tokens are refused."""
    from twostep.domain.errors import InvalidToken
    from twostep.services import account
    from twostep.services.registration import Registration

    monkeypatch.setattr(account, "SIGN_OUT_PAGE", 2)
    where = {"database_url": request.getfixturevalue("postgres_url")} if storage == "postgres" else {}
    container = make_container(storage=storage, **where)
    refresh_tokens = []
    for n in range(5):
        user = container.registration.register(
            Registration(
                email=f"u{n}@example.com",
                password=PASSWORD,
                first_name="A",
                last_name="B",
                phone=f"+1415555{n:04d}",
            )
        )
        refresh_tokens += [container.tokens.issue_pair(user, ("pwd", "sms")).refresh_token for _ in range(2)]

    assert container.account.sign_out_everyone(reason="sign_out_all") == 10
    for refresh_token in refresh_tokens:
        with pytest.raises(InvalidToken):
            container.tokens.refresh(refresh_token)
    assert container.account.sign_out_everyone() == 0


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_session_idle_longer_than_the_idle_lifetime_ends_at_its_next_refresh(
    make_container: Callable[..., Container], clock: FixedClock, storage: str
) -> None:
    """Before, a refresh token left unused for longer than any idle lifetime (NIST SP 800-63B: 30 minutes
    at AAL2) still refreshed until the session's absolute end; there was no inactivity timeout."""
    container = make_container(storage=storage, session_idle_lifetime_seconds=1800)
    with TestClient(create_app(container)) as client:
        register(client)
        kept, idle = sign_in(client, container), sign_in(client, container)
        idle_sid = container.keys.verifier().verify(idle["accessToken"]).sid
        for _ in range(3):  # refreshed within the idle lifetime, a session outlives it
            clock.advance(1700)
            kept = client.post("/token/refresh", json={"refreshToken": kept["refreshToken"]}).json()
            assert "accessToken" in kept, kept
        for _ in range(2):  # refused like an ended session's token, and again alike (not a reuse)
            answer = client.post("/token/refresh", json={"refreshToken": idle["refreshToken"]})
            assert (answer.status_code, answer.json()["code"]) == (401, "session_revoked")
        assert container.tokens.revocations.is_revoked(idle_sid)  # its access tokens are refused too
        listed = client.get("/sessions", headers=bearer(kept)).json()["sessions"]
        assert [s["current"] for s in listed] == [True]
        ended = [e for e in container.storage.list_audit(limit=100) if e.event == "session_ended"]
        assert [e.detail.get("reason") for e in ended] == ["idle"]


def test_without_an_idle_lifetime_an_idle_session_refreshes_until_its_absolute_end(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    pair = sign_in(client, container)
    clock.advance(6 * 3600)
    assert client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]}).status_code == 200


def test_delete_me_needs_a_sign_in_within_the_configured_age(
    make_container: Callable[..., Container], clock: FixedClock
) -> None:
    """TWOSTEP_RECENT_AUTH_MAX_AGE_SECONDS at another value than its default (never run so before): a sign-in
    older than it gets 403 reauthentication_required at DELETE /me, though its access token is still valid."""
    container = make_container(recent_auth_max_age_seconds=120)
    with TestClient(create_app(container)) as client:
        register(client)
        pair = sign_in(client, container)
        clock.advance(121)
        assert client.get("/me", headers=bearer(pair)).status_code == 200
        old = client.request("DELETE", "/me", json={"currentPassword": PASSWORD}, headers=bearer(pair))
        assert old.status_code == 403 and old.json()["code"] == "reauthentication_required"
        pair = sign_in(client, container)
        clock.advance(119)
        fresh = client.request("DELETE", "/me", json={"currentPassword": PASSWORD}, headers=bearer(pair))
        assert fresh.status_code == 204, fresh.text
