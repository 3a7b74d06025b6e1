"""`Idempotency-Key` over HTTP (TestClient, fixed clock): replays send nothing and answer the same; the
same key with another body is refused; bad keys are 400; failures that may pass on a retry let the key
go; answers with tokens are never stored; keys expire."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register, settings_for_tests
from twostep.api.app import create_app
from twostep.api.errors import retry_headers
from twostep.api.verification_app import create_verification_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import SmsDeliveryError, StorageUnavailable
from twostep.domain.idempotency import IdempotencyRecord, IdempotencyRequestInProgress
from twostep.storage.memory import MemoryStorage

LOGIN = {"email": "test@example.com", "password": PASSWORD}


def texts(container: Container, to: str = PHONE) -> int:
    return len(container.storage.list_outbox(to=to, last=1000))


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def test_a_replayed_login_returns_the_first_answer_and_texts_once(
    client: TestClient, container: Container
) -> None:
    register(client)
    first = client.post("/login", json=LOGIN, headers=keyed("login-1"))
    assert first.status_code == 200, first.text
    assert texts(container) == 1
    # Key order and spacing of the body do not matter; the email's case neither.
    again = client.post(
        "/login",
        content=f'{{ "password": "{PASSWORD}", "email": "test@example.com" }}',
        headers=keyed("login-1"),
    )
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert "idempotent-replayed" not in first.headers
    assert texts(container) == 1
    # Without the key (or with another one) it is a new sign-in.
    other = client.post("/login", json=LOGIN, headers=keyed("login-2"))
    assert other.json()["otpId"] != first.json()["otpId"]
    assert texts(container) == 2


def test_the_same_key_with_another_password_is_a_counted_attempt(
    client: TestClient, container: Container
) -> None:
    register(client)
    assert client.post("/login", json=LOGIN, headers=keyed("k")).status_code == 200
    reused = client.post("/login", json=LOGIN | {"password": "another password"}, headers=keyed("k"))
    # Another password is no repeat: it is a sign-in attempt of its own, refused and counted as a guess.
    assert reused.status_code == 401 and "idempotent-replayed" not in reused.headers
    assert reused.headers["content-type"] == "application/problem+json"
    assert "another password" not in reused.text
    assert len([e for e in container.storage.list_audit() if e.event == "login_failed"]) == 1
    # Another account's email is another scope: the same key is fresh there.
    register(client, email="other@example.com", phone="+905555555556")
    other = client.post(
        "/login", json={"email": "other@example.com", "password": PASSWORD}, headers=keyed("k")
    )
    assert other.status_code == 200 and "idempotent-replayed" not in other.headers
    assert texts(container) == 1


def test_a_replayed_login_is_limited_like_a_sign_in(client: TestClient, container: Container) -> None:
    """A replay's password check (the account's Argon2 hash) counted nothing and passed no limit: once a
    client's wrong passwords had closed its delay gate (429 for every sign-in), a repeat of a stored
    sign-in still answered 200 to the right password and a 429 to a wrong one, a guessing oracle past
    the login limits (and Argon2 work without any limit). It is now limited like a sign-in."""
    register(client)
    assert client.post("/login", json=LOGIN, headers=keyed("k")).status_code == 200
    wrong = LOGIN | {"password": "not the password"}
    statuses = [client.post("/login", json=wrong).status_code for _ in range(12)]
    assert statuses[-1] == 429, statuses
    repeat = client.post("/login", json=LOGIN, headers=keyed("k"))
    assert repeat.status_code == 429 and "idempotent-replayed" not in repeat.headers
    assert "Retry-After" in repeat.headers
    assert texts(container) == 1


def test_a_repeat_whose_password_is_no_string_is_refused_by_the_schema(
    client: TestClient, container: Container
) -> None:
    """A repeat of a stored sign-in had its password hashed before any schema check: a lone surrogate
    (`"\\ud800"`, valid JSON the schema refuses) could not be encoded for Argon2 and answered 500. The
    repeat is now refused as the same body without the key is (422)."""
    register(client)
    assert client.post("/login", json=LOGIN, headers=keyed("k")).status_code == 200
    body = '{"email": "test@example.com", "password": "\\ud800"}'
    headers = {"Content-Type": "application/json"}
    plain = client.post("/login", content=body, headers=headers)
    repeat = client.post("/login", content=body, headers=headers | keyed("k"))
    assert plain.status_code == repeat.status_code == 422, repeat.text
    assert "idempotent-replayed" not in repeat.headers


def test_a_wrong_password_is_not_kept_a_retry_runs_and_counts_again(
    client: TestClient, container: Container
) -> None:
    register(client)
    bad = LOGIN | {"password": "not the password"}
    first = client.post("/login", json=bad, headers=keyed("bad"))
    assert first.status_code == 401
    again = client.post("/login", json=bad, headers=keyed("bad"))
    assert again.status_code == 401 and "idempotent-replayed" not in again.headers
    assert len([e for e in container.storage.list_audit() if e.event == "login_failed"]) == 2
    # ...so the right password with the same key is a sign-in, not the wrong one's stored 401.
    right = client.post("/login", json=LOGIN, headers=keyed("bad"))
    assert right.status_code == 200 and "idempotent-replayed" not in right.headers


def test_a_login_fingerprint_holds_nothing_of_the_password(client: TestClient, container: Container) -> None:
    register(client)
    seen: list[bytes] = []
    begin = container.idempotency.begin

    def spy(scope: str, key: str, request: bytes) -> Any:
        seen.append(request)
        return begin(scope, key, request)

    container.idempotency.begin = spy  # type: ignore[method-assign]
    assert client.post("/login", json=LOGIN, headers=keyed("fp-1")).status_code == 200
    assert client.post("/login", json=LOGIN | {"password": "guess"}, headers=keyed("fp-2")).status_code == 401
    assert len(seen) == 2 and seen[0] == seen[1]  # the same material whatever the password
    assert PASSWORD.encode() not in seen[0] and b"guess" not in seen[1]


@pytest.mark.parametrize(
    "value", ["", "   ", "x" * 256, "tab\there", "\u00e9t\u00e9", "two words", '"unterminated\\"']
)
def test_invalid_keys_are_400(client: TestClient, container: Container, value: str) -> None:
    register(client)
    refused = client.post("/login", json=LOGIN, headers={"Idempotency-Key": value.encode()})
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "invalid_idempotency_key"
    assert texts(container) == 0


def test_a_key_sent_twice_is_400_and_the_drafts_quoted_form_is_accepted(
    client: TestClient, container: Container
) -> None:
    register(client)
    twice = client.post("/login", json=LOGIN, headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
    assert twice.status_code == 400
    quoted = client.post("/login", json=LOGIN, headers=keyed('"a key with spaces"'))
    assert quoted.status_code == 200
    again = client.post("/login", json=LOGIN, headers=keyed('"a key with spaces"'))
    assert again.headers["idempotent-replayed"] == "true"
    assert texts(container) == 1


def test_resend_and_send_are_replayed_per_challenge(client: TestClient, container: Container) -> None:
    register(client)
    otp_id = client.post("/login", json=LOGIN).json()["otpId"]
    resent = client.post(f"/otp/{otp_id}/resend", headers=keyed("r1"))
    assert resent.status_code == 202
    assert client.post(f"/otp/{otp_id}/resend", headers=keyed("r1")).json() == resent.json()
    assert texts(container) == 2
    sent = client.post(f"/otp/{otp_id}/send", json={"channel": "sms"}, headers=keyed("s1"))
    assert sent.status_code == 202
    replayed = client.post(f"/otp/{otp_id}/send", json={"channel": "sms"}, headers=keyed("s1"))
    assert replayed.status_code == 202 and replayed.json() == sent.json()
    assert texts(container) == 3
    # The same key on another challenge is that challenge's own.
    other = client.post("/login", json=LOGIN).json()["otpId"]
    assert "idempotent-replayed" not in client.post(f"/otp/{other}/resend", headers=keyed("r1")).headers
    assert texts(container) == 5


def test_a_refusal_that_may_pass_later_is_not_kept(client: TestClient, container: Container) -> None:
    register(client)
    # A schema error: no work started, the key stays free.
    assert client.post("/login", json={"email": "x"}, headers=keyed("v")).status_code == 422
    assert client.post("/login", json=LOGIN, headers=keyed("v")).status_code == 200


def test_answers_with_tokens_are_never_stored(make_container: Callable[..., Container]) -> None:
    container = make_container(require_second_factor=False)
    with TestClient(create_app(container)) as client:
        register(client, phone=None)
        first = client.post("/login", json=LOGIN, headers=keyed("t"))
        assert first.status_code == 200 and first.json()["accessToken"]
        again = client.post("/login", json=LOGIN, headers=keyed("t"))
        assert again.status_code == 200 and "idempotent-replayed" not in again.headers
        assert again.json()["refreshToken"] != first.json()["refreshToken"]
    stored = container.storage._idempotency  # type: ignore[attr-defined]
    assert stored == {}  # released, never written with an answer


def test_keys_expire(make_container: Callable[..., Container], clock: FixedClock) -> None:
    container = make_container(idempotency_ttl_seconds=600)
    with TestClient(create_app(container)) as client:
        register(client)
        first = client.post("/login", json=LOGIN, headers=keyed("e")).json()
        clock.advance(599)
        assert client.post("/login", json=LOGIN, headers=keyed("e")).json() == first
        clock.advance(1)
        fresh = client.post("/login", json=LOGIN, headers=keyed("e"))
        assert "idempotent-replayed" not in fresh.headers and fresh.json()["otpId"] != first["otpId"]
    assert texts(container) == 2


class FlakySender:
    """Fails its first text with a provider error, then delivers."""

    name = "flaky"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failures = 1

    def send(self, to: str, body: str) -> str:
        if self.failures:
            self.failures -= 1
            raise SmsDeliveryError("provider_error", "flaky", retryable=True)
        self.sent.append(body)
        return "id"


@pytest.fixture(params=["full", "standalone"])
def verification(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[tuple[TestClient, str]]:
    settings = settings_for_tests(tmp_path, verify_api_keys=["shop:key-1", "bank:key-2"])
    container = build(settings, clock=clock, storage=MemoryStorage(), sender=FlakySender())
    app, path = (
        (create_app(container), "/verifications")
        if request.param == "full"
        else (
            create_verification_app(container),
            "/",
        )
    )
    with TestClient(app) as client:
        yield client, path
    container.close()


def test_a_503_lets_the_key_go_and_a_replayed_create_sends_nothing(
    verification: tuple[TestClient, str],
) -> None:
    client, path = verification
    body = {"auth_id": "order-1", "recipient": "+14155552671"}
    headers = {"X-Api-Key": "key-1"} | keyed("create-1")
    failed = client.post(path, json=body, headers=headers)
    assert failed.status_code == 503
    created = client.post(path, json=body, headers=headers)
    assert created.status_code == 200 and "idempotent-replayed" not in created.headers
    sender: FlakySender = client.app.state.container.sender  # type: ignore[attr-defined]
    assert len(sender.sent) == 1
    replayed = client.post(path, json=body, headers=headers)
    assert replayed.status_code == 200 and replayed.json() == created.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    assert len(sender.sent) == 1
    # Another tenant's key is its own scope; another body under the same key is refused.
    assert (
        "idempotent-replayed"
        not in client.post(path, json=body, headers=headers | {"X-Api-Key": "key-2"}).headers
    )
    reused = client.post(path, json=body | {"auth_id": "order-2"}, headers=headers)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert reused.json()["reason"] == "IdempotencyKeyReused"  # the verification API's own error shape
    assert len(sender.sent) == 2
    bad = client.post(path, json=body, headers=headers | keyed(""))
    assert bad.status_code == 400 and bad.json()["reason"] == "InvalidAPIUsage"
    assert bad.json()["code"] == "invalid_idempotency_key" and bad.json()["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("compat", "standalone"), [("twostep", False), ("twostep", True), ("flowroute", True)]
)
@pytest.mark.parametrize(
    "bad_body",
    ['{"auth_id": "order-1", "recipient": "+14155552671", "code_length": "6"}', '{"auth_id": "order-1",'],
    ids=["schema", "not-json"],
)
def test_a_schema_error_on_a_create_lets_the_key_go(
    tmp_path: Path, clock: FixedClock, compat: str, standalone: bool, bad_body: str
) -> None:
    """The verification routes turned a schema error or a body that is not JSON into their 400 inside the
    idempotent handler, so it was kept under the key: the corrected request got 422 (400 in Flowroute
    mode) `IdempotencyKeyReused` and the bad one a replay, though schema errors are never kept."""
    settings = settings_for_tests(tmp_path, verify_api_keys=["shop:key-1"], verify_compat=compat)
    container = build(settings, clock=clock, storage=MemoryStorage())
    app = create_verification_app(container) if standalone else create_app(container)
    path = "/" if standalone else "/verifications"
    headers = {"X-Api-Key": "key-1", "Content-Type": "application/json"} | keyed("create-1")
    with TestClient(app) as client:
        bad = client.post(path, content=bad_body, headers=headers)
        assert bad.status_code == 400 and bad.json()["reason"] == "InvalidAPIUsage", bad.text
        again = client.post(path, content=bad_body, headers=headers)
        assert again.status_code == 400 and "idempotent-replayed" not in again.headers
        body = {"auth_id": "order-1", "recipient": "+14155552671", "code_length": 6}
        created = client.post(path, json=body, headers=headers)
        assert created.status_code == 200, created.text
        assert "idempotent-replayed" not in created.headers
        assert client.post(path, json=body, headers=headers).headers["idempotent-replayed"] == "true"
    assert texts(container, "+14155552671") == 1
    container.close()


@pytest.mark.parametrize("compat", ["twostep", "flowroute"])
def test_a_limited_create_lets_the_key_go_in_either_error_shape(
    tmp_path: Path, clock: FixedClock, compat: str
) -> None:
    """Flowroute's compatibility mode answers a limit with 400 (its status for every refusal), and that 400
    was kept under the key like a final refusal: a retry after `Retry-After` replayed the limit for the
    key's whole lifetime instead of sending the code. A limit now lets the key go in either shape."""
    settings = settings_for_tests(tmp_path, verify_api_keys=["shop:key-1"], verify_compat=compat)
    container = build(settings, clock=clock, storage=MemoryStorage())
    recipient = "+14155552671"
    with TestClient(create_verification_app(container)) as client:
        answers = [
            client.post(
                "/",
                json={"auth_id": f"order-{n}", "recipient": recipient},
                headers={"X-Api-Key": "key-1"} | keyed(f"create-{n}"),
            )
            for n in range(8)
        ]
        limited = next(n for n, answer in enumerate(answers) if answer.json().get("reason") == "RateLimited")
        sent = texts(container, recipient)
        clock.advance(int(answers[limited].headers["Retry-After"]) + 1)
        retried = client.post(
            "/",
            json={"auth_id": f"order-{limited}", "recipient": recipient},
            headers={"X-Api-Key": "key-1"} | keyed(f"create-{limited}"),
        )
        assert retried.status_code == 200, retried.text
        assert "idempotent-replayed" not in retried.headers
    assert texts(container, recipient) == sent + 1
    container.close()


@pytest.mark.parametrize("compat", ["twostep", "flowroute"])
def test_a_blocked_prefix_lets_the_key_go(tmp_path: Path, clock: FixedClock, compat: str) -> None:
    """The fraud guard's prefix block (403 `destination_blocked` with `Retry-After`; 400 in Flowroute's
    mode) was kept under the key like a final refusal: once the block ended, the retry with the same key
    was replayed the block, without its `Retry-After`, for the key's whole lifetime (a new key sent at
    once). A refusal that says when to retry now lets the key go."""
    settings = settings_for_tests(
        tmp_path,
        verify_api_keys=["shop:key-1"],
        verify_compat=compat,
        fraud_guard=True,
        ip_sms_per_hour=100_000,
        fraud_min_sends=2,
        fraud_block_seconds=600,
    )
    container = build(settings, clock=clock, storage=MemoryStorage())
    headers = {"X-Api-Key": "key-1"} | keyed("create-3")
    body = {"auth_id": "order-3", "recipient": "+4915112300003"}  # the prefix of the two before it
    with TestClient(create_verification_app(container)) as client:
        for n in range(2):
            sent = {"auth_id": f"order-{n}", "recipient": f"+491511230000{n}"}
            assert client.post("/", json=sent, headers={"X-Api-Key": "key-1"}).status_code == 200
        blocked = client.post("/", json=body, headers=headers)
        assert blocked.json()["reason"] == "DestinationBlocked", blocked.text
        clock.advance(int(blocked.headers["Retry-After"]) + 1)
        retried = client.post("/", json=body, headers=headers)
        assert retried.status_code == 200, retried.text
        assert "idempotent-replayed" not in retried.headers
    assert texts(container, "+4915112300003") == 1
    container.close()


def test_a_wrong_api_key_is_refused_as_before(verification: tuple[TestClient, str]) -> None:
    client, path = verification
    refused = client.post(
        path, json={"auth_id": "a", "recipient": "+14155552671"}, headers={"X-Api-Key": "nope"} | keyed("w")
    )
    assert refused.status_code == 401 and refused.json()["reason"] == "InvalidApiKey"


def test_openapi_documents_the_header(client: TestClient) -> None:
    paths: dict[str, Any] = client.get("/openapi.json").json()["paths"]
    for path in ("/login", "/otp/{otp_id}/resend", "/otp/{otp_id}/send", "/verifications"):
        operation = paths[path]["post"]
        names = [p["name"] for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, path
        assert {"400", "409", "422"} <= set(operation["responses"]), path
        success = "200" if path in ("/login", "/verifications") else "202"
        assert "Idempotent-Replayed" in operation["responses"][success]["headers"], path
        assert "schema" in operation["responses"][success]["content"]["application/json"], path
    assert "Idempotency-Key" not in [
        p["name"] for p in paths["/otp/{otp_id}/verify"]["post"].get("parameters", [])
    ]


class NoIdempotencyStorage(MemoryStorage):
    """Memory storage whose idempotency records cannot be reached."""

    def claim_idempotency_key(self, record: IdempotencyRecord) -> bool:
        raise StorageUnavailable("idempotency records unreachable")


@pytest.mark.parametrize("app", ["full", "standalone"])
def test_unreachable_records_fail_closed_with_503(tmp_path: Path, clock: FixedClock, app: str) -> None:
    container = build(settings_for_tests(tmp_path), clock=clock, storage=NoIdempotencyStorage())
    create, path = (create_app, "/verifications") if app == "full" else (create_verification_app, "/")
    with TestClient(create(container)) as client:
        body = {"auth_id": "order-1", "recipient": "+14155552671"}
        refused = client.post(path, json=body, headers=keyed("down"))
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert refused.json()["reason"] == "ServiceUnavailable"  # the verification API's shape
        assert texts(container, "+14155552671") == 0
        assert client.post(path, json=body).status_code == 200  # without the header: as before
    container.close()


def test_a_key_still_in_use_answers_409_with_retry_after(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(client)

    def busy(*_: object) -> None:
        raise IdempotencyRequestInProgress()

    monkeypatch.setattr(container.idempotency, "begin", busy)
    answer = client.post("/login", json=LOGIN, headers=keyed("login-1"))
    assert answer.status_code == 409 and answer.json()["code"] == "idempotency_request_in_progress"
    assert answer.headers["retry-after"] == "1"
    assert retry_headers(IdempotencyRequestInProgress()) == {"Retry-After": "1"}  # the one shared table


def test_the_body_is_parsed_once(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    register(client)
    body = json.dumps(LOGIN).encode()
    parsed: list[object] = []
    original = json.loads

    def counting(text: str | bytes, *args: Any, **kwargs: Any) -> Any:
        parsed.append(text)
        return original(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    answer = client.post(
        "/login", content=body, headers=keyed("login-1") | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert parsed.count(body) == 1  # the caller's scope, the fingerprint and the endpoint's model share it


def test_a_keyed_create_looks_its_tenant_up_once(
    verification: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, path = verification
    tenants = client.app.state.container.tenants  # type: ignore[attr-defined]
    looked_up: list[str] = []
    find = tenants.find

    def counting(presented: str) -> Any:
        looked_up.append(presented)
        return find(presented)

    monkeypatch.setattr(tenants, "find", counting)
    body = {"auth_id": "order-1", "recipient": "+14155552671"}
    for headers in ({}, keyed("create-1")):
        looked_up.clear()
        created = client.post(path, json=body, headers={"X-Api-Key": "key-1"} | headers)
        assert created.status_code in (200, 503), created.text  # the flaky sender fails the first one
        assert looked_up == ["key-1"]
