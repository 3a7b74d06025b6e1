"""The fast paths the benchmarks led to keep their guarantees: bounded hashing, strict token headers,
and the bearer token read straight from the request."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio.to_thread
import argon2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, latest_code, settings_for_tests
from tests.unit.test_tokens_keys import issuer_and_verifier
from twostep.cli_serve import hash_threads_per_worker
from twostep.container import build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import InvalidToken
from twostep.domain.password_spelling import unmarked
from twostep.domain.passwords import PasswordHasher
from twostep.domain.tokens import TokenVerifier


class _CountingArgon2:
    """Stands in for argon2's hasher and records how many calls ran at once, and on which threads."""

    def __init__(self) -> None:
        self.active = self.peak = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()
        self._gate = threading.Event()

    def _enter(self) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.current_thread().name)
        self._gate.wait(0.05)  # hold the slot a moment so that callers pile up
        with self._lock:
            self.active -= 1

    def verify(self, stored: str, password: str) -> bool:
        self._enter()
        return stored == "hash:" + password

    def hash(self, password: str) -> str:
        self._enter()
        return "hash:" + password


@pytest.mark.parametrize("limit", [1, 2])
def test_hashing_never_runs_on_more_threads_than_allowed(limit: int) -> None:
    hasher = PasswordHasher(max_concurrent=limit)
    fake = _CountingArgon2()
    hasher._argon2id = fake  # type: ignore[assignment]
    try:
        with ThreadPoolExecutor(8) as callers:
            results = list(callers.map(lambda i: hasher.verify("hash:pw", "pw" if i % 2 else "no"), range(8)))
        assert results == [i % 2 == 1 for i in range(8)]
        assert fake.peak <= limit
        assert len(fake.threads) <= limit
        assert all(name.startswith("argon2") for name in fake.threads)
    finally:
        hasher.close()


@pytest.mark.parametrize(("cores", "workers", "threads"), [(2, 1, 2), (2, 2, 1), (1, 4, 1), (8, 3, 2)])
def test_server_workers_share_the_cores_for_hashing(cores: int, workers: int, threads: int) -> None:
    assert hash_threads_per_worker(cores, workers) == threads


@pytest.mark.parametrize("setting", [1, 3])
def test_the_hashing_threads_follow_the_setting(tmp_path: Path, setting: int) -> None:
    container = build(settings_for_tests(tmp_path, password_hash_threads=setting))
    fake = _CountingArgon2()
    container.passwords._argon2id = fake  # type: ignore[assignment]
    try:
        with ThreadPoolExecutor(8) as callers:
            list(callers.map(lambda _: container.passwords.verify("hash:pw", "pw"), range(8)))
        assert 1 <= fake.peak <= setting and len(fake.threads) <= setting
        assert container.passwords._pool.threads == setting
    finally:
        container.close()


def test_real_argon2_still_verifies_through_the_pool() -> None:
    hasher = PasswordHasher(max_concurrent=2)
    try:
        stored = hasher.hash(PASSWORD)
        assert hasher.verify(stored, PASSWORD)
        assert not hasher.verify(stored, PASSWORD + "x")
        assert not hasher.verify(None, PASSWORD)  # the dummy hash never matches
    finally:
        hasher.close()


@pytest.mark.parametrize(("memory_kib", "time_cost", "parallelism"), [(19456, 2, 1), (8192, 3, 2)])
def test_the_unknown_user_check_costs_a_real_verification(
    memory_kib: int, time_cost: int, parallelism: int
) -> None:
    """The dummy hash (made without hashing at start-up) has the real parameters, so checking against it
    runs a full Argon2id pass that then fails on the digest, rather than failing early on its form."""
    hasher = PasswordHasher(memory_kib, time_cost, parallelism)
    try:
        real = argon2.extract_parameters(unmarked(hasher.hash(PASSWORD))[0])
        dummy = hasher._dummy_hash
        assert argon2.extract_parameters(dummy) == real
        with pytest.raises(argon2.exceptions.VerifyMismatchError):  # not InvalidHashError: the work is done
            hasher._hasher.verify(dummy, PASSWORD)
        with pytest.raises(argon2.exceptions.VerifyMismatchError):  # and by the path a real hash takes
            hasher._argon2id.verify(dummy, PASSWORD)
        assert dummy != PasswordHasher(memory_kib, time_cost, parallelism)._dummy_hash  # random per process
        assert not hasher.verify(None, PASSWORD)
    finally:
        hasher.close()


def _verifier_and_token() -> tuple[TokenVerifier, str]:
    issuer, verifier, _ = issuer_and_verifier("RS256", FixedClock())
    return verifier, issuer.issue(
        user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0
    )


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "header",
    [
        _segment(b"[1, 2]"),  # JSON, but not an object
        _segment(b"not json"),
        _segment(b"\xff\xfe"),  # not UTF-8
        "A",  # one base64 character cannot decode
        _segment(json.dumps({"alg": "none", "typ": "at+jwt", "kid": "x"}).encode()),
        _segment(json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": 7}).encode()),
    ],
)
def test_malformed_or_unexpected_headers_are_refused(header: str) -> None:
    verifier, token = _verifier_and_token()
    _, payload, signature = token.split(".")
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{payload}.{signature}")


def test_valid_token_still_verifies() -> None:
    verifier, token = _verifier_and_token()
    assert verifier.verify(token).email == "a@example.com"


def _signed_in(client: TestClient) -> str:
    client.post(
        "/register",
        json={
            "firstName": "A",
            "lastName": "B",
            "email": "p@example.com",
            "password": PASSWORD,
            "phoneNumber": PHONE,
        },
    )
    started = client.post("/login", json={"email": "p@example.com", "password": PASSWORD}).json()
    container = client.app.state.container  # type: ignore[attr-defined]
    verified = client.post(f"/otp/{started['otpId']}/verify", json={"otp": latest_code(container)})
    return str(verified.json()["accessToken"])


@pytest.mark.parametrize("form", ["Bearer {t}", "bearer {t}", "{t}"])
@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_hello_reads_the_token_in_every_accepted_form(client: TestClient, form: str, name: str) -> None:
    token = _signed_in(client)
    answer = client.get("/hello", headers={name: form.format(t=token)})
    assert answer.status_code == 200
    assert answer.json() == {"message": "Hello, p@example.com!"}


@pytest.mark.parametrize("value", [None, "", "Bearer", "Bearer not-a-jwt"])
def test_hello_without_a_good_token_is_401(client: TestClient, value: str | None) -> None:
    headers = {} if value is None else {"Authorization": value}
    assert client.get("/hello", headers=headers).status_code == 401


def test_problem_bodies_are_documented_as_a_response_model_would_document_them() -> None:
    """`errors()` carries no `"model"` (FastAPI built a field per route and status for it); the document
    gets the same bodies and component afterwards, byte for byte."""
    from fastapi import FastAPI

    from twostep.api.responses import _TEXT, PROBLEM_REF, add_problem_bodies, errors
    from twostep.api.schemas import Problem

    def with_models() -> dict[str, object]:
        app = FastAPI()
        responses = {
            status: {
                "model": Problem,
                "description": _TEXT[status],
                "content": {"application/problem+json": {"schema": dict(PROBLEM_REF)}},
            }
            for status in (400, 401, 503)
        }
        app.get("/a", responses=responses)(lambda: None)  # type: ignore[arg-type]
        app.post("/b", responses={503: responses[503]})(lambda: None)  # type: ignore[arg-type]
        return app.openapi()

    def without() -> dict[str, object]:
        app = FastAPI()
        app.get("/a", responses=errors(400, 401, 503))(lambda: None)  # type: ignore[arg-type]
        app.post("/b", responses=errors(503))(lambda: None)  # type: ignore[arg-type]
        document = app.openapi()
        add_problem_bodies(document)
        return document

    assert json.dumps(without()) == json.dumps(with_models())


def test_hello_answers_on_the_event_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync endpoint costs a thread hop per request (in-process, /hello took 318 µs of CPU with one
    and 214 µs without); only the revocation list's periodic storage read may leave the event loop."""
    token = _signed_in(client)
    container = client.app.state.container  # type: ignore[attr-defined]
    hops: list[object] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        if getattr(func, "func", func) != container.tokens.revocations.refresh:  # starlette wraps it
            hops.append(func)
        return await real(func, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    for _ in range(3):
        assert client.get("/hello", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert hops == [], [repr(h)[:300] for h in hops]
