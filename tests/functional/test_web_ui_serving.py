"""The web UI's server side: pages and their headers, the refresh cookie, CORS on real responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.conftest import PASSWORD, latest_code, register, settings_for_tests
from twostep.api.app import create_app
from twostep.api.routes_web import WEB_DIR, api_origin, content_security_policy, ui_config
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.logs import request_id_var
from twostep.settings import describe_validation_error

WEB = {"X-Twostep-Client": "web"}
COOKIE = "__Host-twostep-refresh"
ORIGIN = "https://app.example.com"


@pytest.fixture
def https_client(container: Container) -> TestClient:
    """Over https, so the client's cookie jar keeps and sends the `Secure` cookie."""
    return TestClient(create_app(container), base_url="https://testserver")


def web_sign_in(client: TestClient, container: Container) -> dict[str, str]:
    register(client)
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}, headers=WEB)
    assert started.status_code == 200, started.text
    verified = client.post(
        f"/otp/{started.json()['otpId']}/verify", json={"otp": latest_code(container)}, headers=WEB
    )
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


def test_root_serves_the_ui_with_a_strict_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'type="module" src="assets/app.js"' in page.text
    csp = page.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "require-trusted-types-for 'script'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cross-origin-opener-policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style() -> None:
    html = (WEB_DIR / "index.html").read_text()
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+\s*=", html), "no inline event handlers"
    for script in re.findall(r"<script[^>]*>", html):
        assert 'src="' in script


def test_assets_are_cacheable_and_api_answers_are_not(client: TestClient) -> None:
    asset = client.get("/assets/app.js")
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert "no-store" not in asset.headers["cache-control"]
    assert client.get("/messages").headers["cache-control"] == "no-store"
    config = client.get("/config.json")
    assert config.json() == {"apiBaseUrl": "", "passwordMinLength": 8}
    assert config.headers["cache-control"] == "no-cache"


def test_api_routes_docs_and_errors_still_win(client: TestClient) -> None:
    assert client.post("/login", json={}).status_code == 422
    assert client.get("/openapi.json").status_code == 200
    assert "/" not in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    missing = client.get("/assets/nope.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.post("/nothing-here").status_code == 404


def test_connect_src_names_a_configured_api_origin(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"apiBaseUrl": "https://api.example.com/prod/"}')
    assert api_origin(config) == "https://api.example.com"
    assert "connect-src 'self' https://api.example.com;" in content_security_policy(api_origin(config))
    config.write_text('{"apiBaseUrl": ""}')
    assert api_origin(config) is None
    config.write_text("not json")
    assert api_origin(config) is None


def test_web_sign_in_sets_a_locked_down_refresh_cookie(
    https_client: TestClient, container: Container
) -> None:
    pair = web_sign_in(https_client, container)
    assert https_client.cookies.get(COOKIE)
    assert pair["refreshToken"] is None  # only in the HttpOnly cookie, never readable by page scripts
    header = https_client.post("/token/refresh", headers=WEB).headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/", "Max-Age="):
        assert attribute in header


def test_refresh_reads_and_rotates_the_cookie(https_client: TestClient, container: Container) -> None:
    web_sign_in(https_client, container)
    first = https_client.cookies.get(COOKIE)
    refreshed = https_client.post("/token/refresh", headers=WEB)
    assert refreshed.status_code == 200
    assert refreshed.json()["accessToken"]
    second = https_client.cookies.get(COOKIE)
    assert second and second != first
    # the spent token is refused (and ends the family), so the rotated cookie dies with it
    reused = https_client.post("/token/refresh", json={"refreshToken": first})
    assert reused.status_code == 401
    assert https_client.post("/token/refresh", headers=WEB).status_code == 401
    assert https_client.cookies.get(COOKIE) is None, "a refused cookie is cleared"


def test_the_web_ui_refreshing_as_it_is_used_outlives_the_idle_lifetime_and_an_idle_tab_is_signed_out(
    make_container: Callable[..., Container], clock: FixedClock
) -> None:
    """Before, a tab left untouched for hours refreshed silently through its cookie on its next action or
    reload: no idle lifetime could be set. Now one refreshing as its access token runs out (as session.js
    does, 30 s early) stays signed in past the idle lifetime, and an idle one is signed out, cookie cleared."""
    container = make_container(session_idle_lifetime_seconds=1800)
    client = TestClient(create_app(container), base_url="https://testserver")
    web_sign_in(client, container)
    for _ in range(4):
        clock.advance(900 - 30)
        assert client.post("/token/refresh", headers=WEB).status_code == 200
    clock.advance(1801)
    idle = client.post("/token/refresh", headers=WEB)
    assert (idle.status_code, idle.json()["code"]) == (401, "session_revoked")
    assert client.cookies.get(COOKIE) is None, "a refused cookie is cleared: the page shows the sign-in"


def test_the_cookie_needs_the_web_header(https_client: TestClient, container: Container) -> None:
    """A cross-site form post cannot add the header, so it cannot spend the cookie (no CSRF)."""
    web_sign_in(https_client, container)
    assert https_client.post("/token/refresh").status_code == 401
    assert https_client.post("/logout").status_code == 401
    assert https_client.post("/token/refresh", headers=WEB).status_code == 200


def test_json_body_form_keeps_working_for_api_clients(https_client: TestClient, container: Container) -> None:
    register(https_client)
    started = https_client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    verified = https_client.post(
        f"/otp/{started.json()['otpId']}/verify", json={"otp": latest_code(container)}
    )
    assert "set-cookie" not in verified.headers, "no cookie unless the web UI asks"
    refreshed = https_client.post("/token/refresh", json={"refreshToken": verified.json()["refreshToken"]})
    assert refreshed.status_code == 200
    assert "set-cookie" not in refreshed.headers
    assert (
        https_client.post("/logout", json={"refreshToken": refreshed.json()["refreshToken"]}).status_code
        == 204
    )


def test_logout_clears_the_cookie_and_revokes_the_family(
    https_client: TestClient, container: Container
) -> None:
    web_sign_in(https_client, container)
    token = https_client.cookies.get(COOKIE)
    out = https_client.post("/logout", headers=WEB)
    assert out.status_code == 204
    assert "Max-Age=0" in out.headers["set-cookie"]
    assert https_client.cookies.get(COOKIE) is None
    assert https_client.post("/token/refresh", json={"refreshToken": token}).status_code == 401
    again = https_client.post("/logout", headers=WEB)
    assert again.status_code == 204, "signing out of an ended session still succeeds for the UI"


@pytest.fixture
def cors_client(make_container: Callable[..., Container]) -> TestClient:
    return TestClient(create_app(make_container(cors_origins=[ORIGIN])), base_url="https://testserver")


def test_cors_headers_are_on_real_responses(cors_client: TestClient) -> None:
    response = cors_client.get("/messages", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    failed = cors_client.post("/token/refresh", headers={"Origin": ORIGIN, **WEB})
    assert failed.status_code == 401
    assert failed.headers["access-control-allow-origin"] == ORIGIN, "errors carry CORS headers too"
    assert "Retry-After" in failed.headers["access-control-expose-headers"]


def test_cors_preflight_allows_the_web_header(cors_client: TestClient) -> None:
    preflight = cors_client.options(
        "/token/refresh",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-twostep-client",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "x-twostep-client" in preflight.headers["access-control-allow-headers"].lower()
    assert (preflight.headers["x-frame-options"], preflight.headers["x-content-type-options"]) == (
        "DENY",
        "nosniff",
    )


def test_a_preflight_allows_every_method_the_api_answers(cors_client: TestClient) -> None:
    """Before, CORS allowed GET, POST, DELETE and OPTIONS only: a browser on a listed origin could not
    call `PUT /me/locale` (its preflight was refused 400). Every route's every method now passes."""
    calls = {
        (method, re.sub(r"\{[^}]+\}", "x", route.path))
        for route in cors_client.app.routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    assert ("PUT", "/me/locale") in calls
    for method, path in sorted(calls):
        preflight = cors_client.options(
            path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200, (method, path, preflight.text)
        assert method in preflight.headers["access-control-allow-methods"].split(", "), (method, path)


def test_an_unlisted_origin_gets_no_cors_headers(cors_client: TestClient) -> None:
    evil = "https://evil.example"
    response = cors_client.get("/messages", headers={"Origin": evil})
    assert "access-control-allow-origin" not in response.headers
    preflight = cors_client.options(
        "/token/refresh",
        headers={"Origin": evil, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_a_refused_preflight_is_problem_json(cors_client: TestClient) -> None:
    """Before, a refused preflight was Starlette's bare `text/plain` "Disallowed CORS origin", the one
    answer of the app that was not problem+json. It is now a problem+json 400 `cors_refused` naming what
    was refused, with the security headers; a listed origin still learns nothing it may not read."""
    asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-twostep-client"}
    refusals = {
        "origin": cors_client.options("/login", headers={"Origin": "https://evil.example", **asks}),
        "headers": cors_client.options(
            "/login", headers={"Origin": ORIGIN, **asks, "Access-Control-Request-Headers": "x-other"}
        ),
        "method": cors_client.options(
            "/login", headers={"Origin": ORIGIN, **asks, "Access-Control-Request-Method": "TRACE"}
        ),
    }
    for refused, answer in refusals.items():
        assert answer.status_code == 400, refused
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert (problem["status"], problem["code"]) == (400, "cors_refused")
        assert refused in problem["detail"]
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in refusals["origin"].headers


class RequestIdsLogged(logging.Handler):
    """The request id in effect when each record was emitted (what the log formatters write)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), request_id_var.get()))


def test_a_crash_and_a_large_body_answer_like_every_other_error(
    make_container: Callable[..., Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a bug's 500 was answered outside the request middleware: no `X-Request-Id` nor `requestId`,
    none of the security headers (`Cache-Control: no-store` included), and its "unexpected error" log
    line, with the traceback, had no request id, so a client's report could not be matched to it. That
    500 and the body limit's 413 were also outside CORS, so a browser on a listed origin could read
    neither (the UI said it could not reach the server). Both now carry all of these."""
    container = make_container(cors_origins=[ORIGIN])
    client = TestClient(create_app(container), raise_server_exceptions=False)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(container.messages, "recent", broken)
    logged = RequestIdsLogged()
    logging.getLogger("twostep").addHandler(logged)
    try:
        crashed = client.get("/messages", headers={"Origin": ORIGIN, "X-Request-Id": "report-1234"})
    finally:
        logging.getLogger("twostep").removeHandler(logged)
    assert crashed.status_code == 500
    assert crashed.json()["code"] == "internal_error"
    assert crashed.json()["requestId"] == crashed.headers["x-request-id"] == "report-1234"
    assert (crashed.headers["x-frame-options"], crashed.headers["cache-control"]) == ("DENY", "no-store")
    assert crashed.headers["access-control-allow-origin"] == ORIGIN
    assert ("unexpected error", "report-1234") in logged.seen
    large = client.post("/login", content=b"{" + b" " * 70_000 + b"}", headers={"Origin": ORIGIN})
    assert large.status_code == 413
    assert large.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ("null", "not an origin"),
        ("app.example.com", "not an origin"),
        ("https://app.example.com/", "https://app.example.com"),
        ("https://app.example.com/login", "not an origin"),
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("https://app.example.com:99999", "not an origin"),
    ],
)
def test_a_cors_origin_no_browser_sends_is_refused_at_start(
    tmp_path: Path, listed: str, expected: str
) -> None:
    """Before, any entry was taken as it was. `*` made every site a listed origin with credentials (the
    CORS middleware answered each site's own origin and `Allow-Credentials: true`, so any page could call
    the API as its visitor and read the answers; `*` now allows no credentials, tested below), and an
    origin written other than as browsers send it (a trailing slash, upper case, a default port) silently
    matched nothing. Such an origin now stops the start with the variable's name and, where there is one,
    the form that would match."""
    with pytest.raises(ValidationError) as caught:
        settings_for_tests(tmp_path, cors_origins=[listed])
    message = describe_validation_error(caught.value)
    assert message.startswith("TWOSTEP_CORS_ORIGINS: ")
    assert expected in message


def test_origins_as_browsers_send_them_are_accepted(make_container: Callable[..., Container]) -> None:
    origins = ["http://localhost:8000", ORIGIN, "http://127.0.0.1:5173", "https://[::1]:8443"]
    client = TestClient(create_app(make_container(cors_origins=origins)))
    for origin in origins:
        answer = client.get("/messages", headers={"Origin": origin})
        assert answer.headers["access-control-allow-origin"] == origin
    assert (
        "access-control-allow-origin"
        not in client.get("/messages", headers={"Origin": "https://evil.example"}).headers
    )


def test_any_origin_may_not_spend_the_refresh_cookie(make_container: Callable[..., Container]) -> None:
    """`TWOSTEP_CORS_ORIGINS=*` allowed credentials, so any origin's preflight with the web header was
    answered with that origin and `Allow-Credentials: true`: its script could spend the refresh cookie
    and read the new tokens. `*` now allows bearer calls from any origin, never with the cookie."""
    client = TestClient(create_app(make_container(cors_origins=["*"])), base_url="https://testserver")
    evil = "https://evil.example"
    preflight = client.options(
        "/token/refresh",
        headers={
            "Origin": evil,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-twostep-client",
        },
    )
    assert preflight.status_code == 200
    assert "access-control-allow-credentials" not in preflight.headers
    refreshed = client.post("/token/refresh", headers={"Origin": evil, **WEB, "Cookie": f"{COOKIE}=rt_x"})
    assert "access-control-allow-credentials" not in refreshed.headers
    bearer = client.get("/messages", headers={"Origin": evil})
    assert bearer.headers["access-control-allow-origin"] == "*"


def test_login_without_second_factor_sets_the_cookie_for_the_web(
    make_container: Callable[..., Container],
) -> None:
    client = TestClient(
        create_app(make_container(require_second_factor=False)), base_url="https://testserver"
    )
    register(client, phone=None)
    answer = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}, headers=WEB)
    assert answer.status_code == 200, answer.text
    assert client.cookies.get(COOKIE) and answer.json()["refreshToken"] is None
    assert client.post("/token/refresh", headers=WEB).status_code == 200


def test_config_tells_the_ui_the_api_s_minimum_for_a_new_password(
    make_container: Callable[..., Container], tmp_path: Path
) -> None:
    """Before, the UI's new-password fields said "At least 8 characters" in every deployment, though one
    with `TWOSTEP_REQUIRE_SECOND_FACTOR=false` takes 15 (a password may be its only factor). config.json
    now carries the API's minimum beside the file's own settings, for the fields and their hints."""
    with TestClient(create_app(make_container(require_second_factor=False))) as password_only:
        assert password_only.get("/config.json").json() == {"apiBaseUrl": "", "passwordMinLength": 15}
    config = tmp_path / "config.json"
    config.write_text('{"apiBaseUrl": "https://api.example.com", "passwordMinLength": 4}')
    assert ui_config(config, 15) == {"apiBaseUrl": "https://api.example.com", "passwordMinLength": 15}
    for unusable in ("not json", "[1, 2]"):
        config.write_text(unusable)
        assert ui_config(config, 15) is None  # served as it is, as before
