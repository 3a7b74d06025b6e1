"""The Spring 2FA client, the Lambda JWT tutorial and Flowroute's sms-verification answered 500 to bad
input. Here every operation in `/openapi.json` (and the compatibility aliases) gets malformed JSON, wrong types in every field, lone surrogates, null bytes, huge and deeply
nested bodies, the wrong content type, odd path and query values, and odd headers: always a 4xx
problem+json with a stable `code`, never a 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register, settings_for_tests
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.storage.memory import MemoryStorage

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with path parameters filled in
    body_fields: tuple[str, ...] | None  # None: no JSON body
    problem_errors: bool = True  # False: Flowroute sms-verification's error shape (the verification routes)
    body_required: bool = True  # False: the body may be left out (JSON `null` is then no body)


@dataclass
class Api:
    client: TestClient
    container: Container
    auth: dict[str, str]
    operations: list[Operation]


def _operations(openapi: dict[str, Any], otp_id: str) -> list[Operation]:
    found = []
    for template, methods in openapi["paths"].items():
        path = template.replace("{otp_id}", otp_id)
        for method, spec in methods.items():
            body = spec.get("requestBody", {}).get("content", {}).get("application/json", {})
            schema = _resolve(openapi, body.get("schema", {})) if body else None
            fields = tuple((schema or {}).get("properties", {})) if body else None
            required = bool(spec.get("requestBody", {}).get("required", False))
            found.append(Operation(method.upper(), path, fields, _documents_problems(spec), required))
    return found


def _documents_problems(spec: dict[str, Any]) -> bool:
    """Whether the operation documents its 4xx answers as problem+json (else Flowroute sms-verification's JSON shape)."""
    contents = [
        media
        for status, response in spec.get("responses", {}).items()
        if status.startswith("4") and status != "413"  # the body limit's, problem+json on every route
        for media in response.get("content", {})
    ]
    return not contents or "application/problem+json" in contents


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    for option in schema.get("anyOf", [schema]):
        if "$ref" in option:
            return dict(openapi["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]])
    return schema


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    container = build(
        settings_for_tests(tmp_path_factory.mktemp("bad-input"), ip_login_per_minute=100_000),
        clock=FixedClock(),
        storage=MemoryStorage(),
    )
    # raise_server_exceptions=False: a crash must show up as the 500 a client would get, not a traceback.
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        register(client)
        started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()
        verified = client.post(f"/otp/{started['otpId']}/verify", json={"otp": latest_code(container)})
        auth = {"Authorization": f"Bearer {verified.json()['accessToken']}"}
        client.post("/messages", json={"content": "hello"}, headers=auth)
        live_otp = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()
        operations = _operations(client.get("/openapi.json").json(), live_otp["otpId"])
        yield Api(client, container, auth, operations)
    container.close()


def assert_problem_4xx(response: Any, operation: Operation | None = None) -> None:
    """A 4xx in the operation's documented error shape: problem+json with a `code`, or, for Flowroute sms-verification's
    verification routes, JSON with a `reason` (a body-limit 413 comes from the app and is problem+json)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    media = response.headers["content-type"]
    if operation is None or operation.problem_errors or media.startswith("application/problem+json"):
        assert media.startswith("application/problem+json"), response.text[:200]
        assert response.json()["code"]
    else:
        assert media.startswith("application/json") and response.json()["reason"], response.text[:200]


def _send(api: Api, operation: Operation, content: bytes | None, content_type: str | None) -> Any:
    headers = dict(api.auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return api.client.request(operation.method, operation.path, content=content, headers=headers)


MALFORMED_BODIES = {
    "truncated": b'{"email": ',
    "not-json": b"hello",
    "null-byte": b"\x00",
    "not-utf8": b'{"email": "\xff\xfe"}',
    "utf16-bom": '{"email": "a@b.co"}'.encode("utf-16"),
    "array": b"[1, 2, 3]",
    "string": b'"text"',
    "number": b"12",
    "null": b"null",
    "nested-deep": b"[" * 30_000 + b"]" * 30_000,
    "object-deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "duplicate-keys": b'{"email": "a@b.co", "email": 5}',
    "nan": b'{"content": NaN, "otp": NaN, "refreshToken": NaN, "email": NaN}',
    "huge-number": b'{"otp": 1' + b"0" * 5000 + b"}",
}

# Not JSON at all (as opposed to JSON of the wrong shape).
UNPARSABLE = {
    "truncated",
    "not-json",
    "null-byte",
    "not-utf8",
    "nested-deep",
    "object-deep",
    "huge-number",
}

WRONG_VALUES: dict[str, Any] = {
    "int": 123,
    "float": 1.5,
    "bool": True,
    "null": None,
    "list": ["a"],
    "object": {"a": 1},
    "empty": "",
    "null-byte": "a\x00b",
    "control-chars": "\r\n\t\x1b[31m",
    "long": "x" * 20_000,
    "rtl-and-emoji": "\u202e\U0001f600",
}


def body_cases() -> list[tuple[str, str]]:
    cases = [("malformed", name) for name in MALFORMED_BODIES]
    cases += [("wrong-value", name) for name in WRONG_VALUES]
    cases += [("lone-surrogate", "-"), ("extra-field", "-")]
    return cases


def _body_for(api: Api, operation: Operation, kind: str, name: str) -> bytes:
    if kind == "malformed":
        return MALFORMED_BODIES[name]
    fields = operation.body_fields or ()
    if kind == "lone-surrogate":  # valid JSON escape, but no UTF-8 encoding exists for it
        return ("{" + ", ".join(f'"{field}": "a\\ud800b"' for field in fields) + "}").encode()
    if kind == "extra-field":
        return json.dumps({"role": "admin", "isAdmin": True}).encode()
    return json.dumps(dict.fromkeys(fields, WRONG_VALUES[name])).encode()


# Routes whose whole body is an email address (a reset, an address claim).
EMAIL_ONLY = ("/password/forgot", "/email-claims")


@pytest.mark.parametrize(("kind", "name"), body_cases())
def test_bad_bodies_get_a_4xx_problem(api: Api, kind: str, name: str) -> None:
    for operation in api.operations:
        if operation.body_fields is None:
            continue
        response = _send(api, operation, _body_for(api, operation, kind, name), "application/json")
        if response.status_code < 300 and kind == "wrong-value":
            continue  # e.g. a string that happens to be acceptable (an unknown refresh token to /logout)
        if response.status_code == 202 and operation.path in EMAIL_ONLY and name == "utf16-bom":
            continue  # RFC 8259 JSON in UTF-16 is `{"email": "a@b.co"}`: a complete, valid request there
        if response.status_code < 300 and name == "null" and not operation.body_required:
            continue  # an optional body (resend's `locale`): `null` is the same as none
        assert_problem_4xx(response, operation)
        # Never FastAPI's bare 400 "error parsing the body", which no route documents.
        if kind == "malformed" and name in UNPARSABLE and operation.problem_errors:
            assert response.status_code == 422 and response.json()["field"] == "body", response.text


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        None,
    ],
)
def test_a_body_that_is_not_json_gets_415(api: Api, content_type: str | None) -> None:
    body = b'{"email": "test@example.com", "password": "x", "refreshToken": "x", "otp": "1", "content": "x"}'
    for operation in api.operations:
        if operation.body_fields is not None:
            response = _send(api, operation, body, content_type)
            assert_problem_4xx(response, operation)
            if operation.problem_errors:  # Flowroute-compatible routes answer every bad input 400, as it did
                assert response.status_code == 415, (operation, response.text)


def test_json_content_type_variants_are_accepted(api: Api) -> None:
    """`application/json; charset=utf-8` and `+json` types are JSON: the request reaches validation."""
    for content_type in ("application/json; charset=utf-8", "application/problem+json", "APPLICATION/JSON"):
        response = api.client.post("/login", content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 422, (content_type, response.text)


def test_malformed_json_says_so_clearly(api: Api) -> None:
    response = api.client.post("/login", content=b'{"email": ', headers={"Content-Type": "application/json"})
    body = response.json()
    assert response.status_code == 422
    assert body["field"] == "body" and "not valid JSON" in body["detail"]


@pytest.mark.parametrize("size", [64 * 1024 + 1, MEGABYTE, 8 * MEGABYTE])
def test_huge_bodies_are_refused_before_parsing(api: Api, size: int) -> None:
    """C10: a 1 MB password is refused with 413 before it is parsed or hashed."""
    body = json.dumps({"email": "test@example.com", "password": "p" * size}).encode()
    for operation in api.operations:
        if operation.body_fields is not None:
            response = _send(api, operation, body, "application/json")
            assert_problem_4xx(response, operation)
            assert response.status_code == 413


def test_huge_streamed_body_without_length_is_refused(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "test@example.com", "password": "'
        for _ in range(256):
            yield b"p" * 4096
        yield b'"}'

    response = api.client.post("/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem_4xx(response)
    assert response.status_code == 413


ODD_SEGMENTS = [
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
    "' OR 1=1--",
    "x" * 5000,
    "%F0%9F%98%80",
    "%ED%A0%80",
    "%0D%0A",
]


@pytest.mark.parametrize("segment", ODD_SEGMENTS)
def test_odd_path_values_get_a_4xx_problem(api: Api, segment: str) -> None:
    for action in ("verify", "resend"):
        response = api.client.post(f"/otp/{segment}/{action}", json={"otp": "123456"})
        assert_problem_4xx(response)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1e3",
        "limit=99999999999999999999999",
        "cursor=%00",
        "cursor=nan~x",
        "cursor=inf~x",
        "cursor=1e400~x",
        "cursor=~",
        "cursor=" + "x" * 5000,
        "cursor=%ED%A0%80",
        "limit=1&limit=2",
    ],
)
def test_odd_query_values_get_a_4xx_or_a_page(api: Api, query: str) -> None:
    response = api.client.get(f"/messages?{query}")
    if response.status_code == 200:
        assert isinstance(response.json()["messages"], list)
    else:
        assert_problem_4xx(response)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer " + "a" * 60_000},
        {"Authorization": "Bearer a.b.c", "X-Request-Id": "../../\x7f"},
        {"X-Forwarded-For": "not-an-ip, 999.999.999.999, ::::"},
        {"X-Request-Id": "x" * 10_000},
        {"Authorization": "\x7f\x01"},
    ],
)
def test_odd_headers_never_crash(api: Api, headers: dict[str, str]) -> None:
    for operation in api.operations:
        response = api.client.request(operation.method, operation.path, headers=headers)
        assert response.status_code < 500, (operation, response.text[:300])


def test_every_body_refusal_is_documented(api: Api) -> None:
    """Before, `POST /otp/{otpId}/resend` answered 413 and 415 and `POST /verifications` 413 without
    listing them in the OpenAPI document (every other route with a body did). A body over the limit, or
    one not sent as JSON, now gets a status its route documents, in the documented media type."""
    document = api.client.app.openapi()
    for template, operations in document["paths"].items():
        path = template.replace("{otp_id}", "x" * 8)
        for method, spec in operations.items():
            if "requestBody" not in spec:
                continue
            for content, content_type in (
                (b"{" + b" " * 70_000 + b"}", "application/json"),
                (b"{}", "text/plain"),
            ):
                answer = api.client.request(
                    method.upper(), path, content=content, headers={**api.auth, "content-type": content_type}
                )
                documented = spec["responses"].get(str(answer.status_code))
                assert documented is not None, (method, template, content_type, answer.status_code)
                media = answer.headers["content-type"].split(";")[0]
                assert media in documented.get("content", {}), (method, template, answer.status_code, media)


def _answers_over_the_body_limit(client: TestClient) -> Iterator[tuple[str, str, Any, dict[str, Any]]]:
    """Each operation of the app's document sent a JSON body over 64 KiB: (method, path, answer, spec)."""
    document = client.app.openapi()  # type: ignore[attr-defined]
    for template, operations in document["paths"].items():
        path = re.sub(r"\{[^}]+\}", "x" * 8, template)
        for method, spec in operations.items():
            content = b'{"a": "' + b"x" * 70_000 + b'"}'
            answer = client.request(
                method.upper(), path, content=content, headers={"content-type": "application/json"}
            )
            yield method, template, answer, spec


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_route_documents_the_body_limit(api: Api) -> None:
    """The body limit answers 413 before any route, by `Content-Length`, a GET's (`/hello`, `/healthz`)
    and a POST's without a body (`/login/passkey/options`, the receipts) included, but only the routes
    that read a JSON body listed 413 in the OpenAPI document. Every operation now does."""
    for method, template, answer, spec in _answers_over_the_body_limit(api.client):
        assert answer.status_code == 413, (method, template, answer.status_code)
        documented = spec["responses"].get("413")
        assert documented is not None, (method, template)
        assert answer.headers["content-type"].split(";")[0] in documented["content"], (method, template)


def test_the_verification_apps_document_names_its_answers(tmp_path: Any) -> None:
    """`twostep serve --app verification`: its GETs, health and receipt routes answered an undocumented
    413 too, and the 413s it did list named a `Problem` schema its document did not define."""
    from twostep.api.verification_app import create_verification_app

    container = build(settings_for_tests(tmp_path), clock=FixedClock(), storage=MemoryStorage())
    with TestClient(create_verification_app(container), raise_server_exceptions=False) as client:
        document = client.app.openapi()  # type: ignore[attr-defined]
        schemas = document["components"]["schemas"]
        assert {ref.rsplit("/", 1)[1] for ref in _refs(document["paths"])} <= set(schemas)
        for method, template, answer, spec in _answers_over_the_body_limit(client):
            assert answer.status_code == 413 and "413" in spec["responses"], (method, template)
    container.close()


def test_head_is_answered_wherever_get_is(api: Api) -> None:
    """Before, HEAD was 405 (`Allow: GET`) on every GET route but the static assets and /openapi.json:
    `/`, `/config.json`, `/healthz/live`, `/.well-known/jwks.json`, `/hello`... RFC 9110 requires HEAD
    wherever GET is served; uptime checks and `curl -I` use it. It is now the GET's answer without a body,
    and a 405 names HEAD beside GET."""
    paths = [operation.path for operation in api.operations if operation.method == "GET"]
    for path in [*paths, "/", "/index.html", "/config.json", "/docs", "/assets/app.js"]:
        for headers in (api.auth, {}):
            get = api.client.get(path, headers=headers)
            head = api.client.head(path, headers=headers)
            assert head.status_code == get.status_code, (path, head.status_code, get.status_code)
            assert head.content == b"", path
            assert head.headers.get("content-type") == get.headers.get("content-type"), path
            policies = [r.headers.get("content-security-policy", "") for r in (head, get)]
            assert len({re.sub("'nonce-[^']+'", "", policy) for policy in policies}) == 1, path
    refused = api.client.post("/healthz/live")
    assert refused.status_code == 405
    assert refused.headers["allow"].split(", ") == ["GET", "HEAD"]
    assert api.client.head("/login").status_code == 405, "HEAD only where GET is served"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "TRACE"])
def test_unsupported_methods_get_405_with_allow(api: Api, method: str) -> None:
    """V8: unknown methods get 405 problem+json naming every method the path serves."""
    for operation in api.operations:
        if any(other.path == operation.path and other.method == method for other in api.operations):
            continue  # served here (DELETE /me, DELETE /sessions)
        response = api.client.request(method, operation.path)
        assert response.status_code == 405, (operation, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert operation.method in response.headers["allow"].split(", ")


ODD_AGENTS = [
    "x" * 10_000,
    "\x7f\x01\x1b[31m",
    "Firefox/1.0 \u00e9\u00ff visit https://evil.example/ to keep your account",
    "curl/8.5.0 " + "%0D%0ABcc: someone@evil.example",
    " ",
]
LABELS = re.compile(r"[A-Za-z0-9._ -]{1,60}")


@pytest.mark.parametrize("agent", ODD_AGENTS)
def test_an_odd_user_agent_signs_in_and_is_shown_only_by_its_names(tmp_path: Any, agent: str) -> None:
    """The User-Agent is read on every sign-in (the session's client, a remembered device's label): a huge,
    binary or lying one still signs in, and the session and device lists show only the names the parser
    knows ("Firefox", "curl"), never the rest of the header."""
    headers = {"User-Agent": agent.encode("latin-1")}  # as a client sends it: bytes, not always ASCII
    container = build(settings_for_tests(tmp_path), clock=FixedClock(), storage=MemoryStorage())
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        register(client)
        started = client.post(
            "/login", json={"email": "test@example.com", "password": PASSWORD}, headers=headers
        )
        assert started.status_code == 200, started.text[:300]
        verified = client.post(
            f"/otp/{started.json()['otpId']}/verify",
            json={"otp": latest_code(container), "rememberDevice": True},
            headers=headers,
        )
        assert verified.status_code == 200, verified.text[:300]
        auth = {"Authorization": f"Bearer {verified.json()['accessToken']}"}
        sessions = client.get("/sessions", headers=auth).json()["sessions"]
        devices = client.get("/me/devices", headers=auth).json()
    container.close()
    shown = [session["client"] for session in sessions] + [device["label"] for device in devices]
    assert len(shown) == 2, shown
    assert all(name is None or LABELS.fullmatch(name) for name in shown), shown
    assert not any("evil" in str(name) for name in shown), shown
