"""A live `twostep serve` for fuzzing, with helpers to get a signed-in user and a live challenge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.live import ServerProcess

PASSWORD = "correct horse battery staple"


class LiveServer(ServerProcess):
    @property
    def url(self) -> str:
        return self.base_url

    def start_login(self, email: str) -> str:
        """Password step only; returns the otpId of the challenge it opened."""
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            started = http.post("/login", json={"email": email, "password": PASSWORD})
        assert started.status_code == 200, started.text
        return str(started.json()["otpId"])

    def sign_in(self, email: str, phone: str) -> dict[str, str]:
        """Register (if needed), log in and verify the texted code; returns the token pair."""
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            http.post(
                "/register",
                json={
                    "firstName": "Fuzz",
                    "lastName": "Er",
                    "email": email,
                    "password": PASSWORD,
                    "phoneNumber": phone,
                },
            )
            started = http.post("/login", json={"email": email, "password": PASSWORD})
            assert started.status_code == 200, started.text
            otp_id = started.json()["otpId"]
            verified = http.post(f"/otp/{otp_id}/verify", json={"otp": self.latest_code(phone)})
            assert verified.status_code == 200, verified.text
            return dict(verified.json())


@contextmanager
def live_server(workdir: Path, app: str = "api", **extra_env: str) -> Iterator[LiveServer]:
    """Start `twostep serve --app <app>`, wait until it answers, and stop it afterwards."""
    port_env = {"TWOSTEP_LOG_LEVEL": "WARNING", **extra_env}
    with LiveServer(workdir, app, **port_env) as server:
        yield server
