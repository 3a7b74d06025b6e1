"""The trailing-slash redirect's relative `Location` (`api.slash_redirect`); the live test against a forged
`Host` is `tests/functional/test_network_edge.py`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from twostep.api.slash_redirect import install_slash_redirect


def app_with(path: str) -> FastAPI:
    app = FastAPI()

    @app.get(path)
    def found() -> dict[str, str]:
        return {"found": "yes"}

    install_slash_redirect(app)
    return app


def raw_get(app: FastAPI, path: str) -> tuple[int, dict[str, str]]:
    """The status and headers of a GET of `path` exactly as written (an HTTP client reads `//host/...` as
    another host, a server is sent it as a path)."""
    answer: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"twostep.example")],
        "server": ("twostep.example", 80),
        "client": ("127.0.0.1", 1234),
    }
    asyncio.run(app(scope, receive, send))
    start = answer[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def test_a_path_that_would_read_as_another_host_is_not_redirected() -> None:
    """A relative `//evil.example/x` names another host: Starlette's redirect of `//evil.example/x/` kept
    the request's host in front of it, a path alone would not, so none is sent (404)."""
    app = app_with("/{rest:path}/x")
    status, headers = raw_get(app, "/a/x/")
    assert (status, headers["location"]) == (307, "/a/x")
    status, headers = raw_get(app, "//evil.example/x/")
    assert status == 404
    assert "location" not in headers


def test_the_slash_is_added_too_with_the_query_kept() -> None:
    client = TestClient(app_with("/folder/"), follow_redirects=False)
    answer = client.get("/folder?page=2", headers={"Host": "evil.example"})
    assert (answer.status_code, answer.headers["location"]) == (307, "/folder/?page=2")
