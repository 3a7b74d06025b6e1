"""Fixtures for the token attack tests: one signed-in service per algorithm, and a recording web server.

Imported by the test modules that use them (not a conftest, so this folder's conftest stays free for
the fault tests).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from tests.adversarial.jwt_catalogue import ALGORITHMS, Target, attacker_certificate, attacker_jwk
from tests.conftest import PASSWORD, latest_code, register, settings_for_tests
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.keys import Algorithm
from twostep.storage.memory import MemoryStorage


@dataclass
class RecordingServer:
    """Serves an attacker's JWKS and certificate on loopback and records every request it gets."""

    url: str
    requests: list[str] = field(default_factory=list)


@dataclass
class Service:
    container: Container
    client: TestClient
    target: Target
    settings_env: dict[str, str]


def _handler_for(server: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            if self.path == "/jwks.json":
                body = json.dumps({"keys": [attacker_jwk(a) for a in ALGORITHMS]}).encode()
            else:
                body = attacker_certificate("RS256").public_bytes(serialization.Encoding.PEM)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def recording_server() -> Iterator[RecordingServer]:
    record = RecordingServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(record))
    record.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield record
    httpd.shutdown()
    httpd.server_close()


def _start_service(workdir: Path, algorithm: Algorithm, fetch_url: str) -> Service:
    # Real wall-clock time (to the second), so a verifier with a system clock agrees with this one.
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    settings = settings_for_tests(workdir, jwt_algorithm=algorithm)
    container = build(settings, clock=clock, storage=MemoryStorage())
    client = TestClient(create_app(container))
    register(client)
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).json()
    verified = client.post(f"/otp/{started['otpId']}/verify", json={"otp": latest_code(container)})
    assert verified.status_code == 200, verified.text
    pair = verified.json()
    target = Target(
        key=container.keys.current,
        issuer=settings.issuer,
        audience=settings.audience,
        now=int(clock.now().timestamp()),
        leeway=settings.jwt_leeway_seconds,
        ttl=settings.access_token_ttl_seconds,
        access_token=pair["accessToken"],
        refresh_token=pair["refreshToken"],
        otp_id=started["otpId"],
        fetch_url=fetch_url,
    )
    # The authorizer reads a key file outside AWS; the service keeps its keys in its storage.
    settings.jwt_key_file.write_text(container.keys.material.to_json())
    settings.jwt_key_file.chmod(0o600)
    env = {
        "TWOSTEP_STAGE": "dev",
        "TWOSTEP_STORAGE": "memory",
        "TWOSTEP_JWT_ALGORITHM": algorithm,
        "TWOSTEP_JWT_KEY_FILE": str(settings.jwt_key_file),
        "TWOSTEP_ISSUER": settings.issuer,
        "TWOSTEP_AUDIENCE": settings.audience,
        "TWOSTEP_SQLITE_PATH": str(settings.sqlite_path),
    }
    return Service(container=container, client=client, target=target, settings_env=env)


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory, recording_server: RecordingServer
) -> Iterator[dict[str, Service]]:
    """One signed-in service per algorithm, built on first use."""
    built: dict[str, Service] = {}

    class Lazy(dict[str, Service]):
        def __missing__(self, algorithm: str) -> Service:
            workdir = tmp_path_factory.mktemp(f"jwt-{algorithm}")
            service = _start_service(workdir, algorithm, recording_server.url)  # type: ignore[arg-type]
            built[algorithm] = self[algorithm] = service
            return service

    yield Lazy()
    for service in built.values():
        service.client.close()
        service.container.close()
