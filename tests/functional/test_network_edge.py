"""The network edge of a live `twostep serve`: whose X-Forwarded-For counts, and slow clients cut off.

The per-IP login limit is set low (5 a minute) and each scenario sends 2 x limit + 1 sign-ins with a
fresh email each (no per-account delay): whichever side of a minute boundary they fall, one window
sees more than the limit, so a single client address must meet a 429.
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import ServerProcess
from tests.reverse_proxy import MISSING, NGINX, Nginx

LIMIT = 5
ATTEMPTS = 2 * LIMIT + 1
_emails = itertools.count()


def sign_ins(base_url: str, *, forged: bool, local_address: str | None = None) -> list[int]:
    """Statuses of ATTEMPTS wrong-password sign-ins, each with a new forged X-Forwarded-For if asked."""
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    statuses = []
    with httpx.Client(base_url=base_url, transport=transport, timeout=30) as client:
        for n in range(ATTEMPTS):
            headers = {"X-Forwarded-For": f"203.0.113.{n + 1}"} if forged else {}
            body = {"email": f"edge{next(_emails)}@example.com", "password": "not the password"}
            statuses.append(client.post("/login", json=body, headers=headers).status_code)
    return statuses


def audited_ips(server: ServerProcess) -> set[str]:
    result = server.cli("audit", "tail", "--json", "--last", "1000")
    assert result.returncode == 0, result.stderr
    return {row["ip"] for row in json.loads(result.stdout) if row["ip"]}


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    extra = dict(getattr(request, "param", {}))
    args = tuple(extra.pop("serve_args", "").split())
    with ServerProcess(tmp_path, serve_args=args, TWOSTEP_IP_LOGIN_PER_MINUTE=str(LIMIT), **extra) as live:
        yield live


@pytest.mark.parametrize("server", [{}, {"serve_args": "--workers 2"}], indirect=True, ids=["1", "2-workers"])
def test_forged_forwarded_for_is_ignored_by_default(server: ServerProcess) -> None:
    statuses = sign_ins(server.base_url, forged=True)
    assert 429 in statuses, statuses
    assert set(statuses) <= {401, 429}
    assert not any(ip.startswith("203.0.113.") for ip in audited_ips(server))


@pytest.mark.parametrize("server", [{"TWOSTEP_TRUSTED_PROXIES": "127.0.0.1/32"}], indirect=True)
def test_forwarded_for_from_an_untrusted_peer_is_ignored(server: ServerProcess) -> None:
    """127.0.0.3 is not the trusted proxy, so what it claims is not believed."""
    statuses = sign_ins(server.base_url, forged=True, local_address="127.0.0.3")
    assert 429 in statuses, statuses
    assert audited_ips(server) <= {"127.0.0.3"}


pytestmark_nginx = pytest.mark.skipif(NGINX is None, reason=MISSING)


@pytestmark_nginx
@pytest.mark.parametrize("server", [{"TWOSTEP_TRUSTED_PROXIES": "127.0.0.1/32"}], indirect=True)
def test_a_trusted_reverse_proxy_reports_each_client(server: ServerProcess, tmp_path: Path) -> None:
    """Behind nginx, each client counts under the address nginx saw, and forgeries through it fail."""
    with Nginx(tmp_path, server.port) as proxy:
        clients = [f"127.0.0.{n}" for n in range(10, 10 + ATTEMPTS)]
        for address in clients:  # one sign-in each from many real addresses: none is limited
            assert sign_ins(proxy.base_url, forged=False, local_address=address)[:1] != [429]
        assert set(clients) <= audited_ips(server)
        forged = sign_ins(proxy.base_url, forged=True, local_address="127.0.0.50")
    assert 429 in forged, forged
    assert not any(ip.startswith("203.0.113.") for ip in audited_ips(server))


# --- slow clients ---

SLOW = {"TWOSTEP_HTTP_REQUEST_TIMEOUT_SECONDS": "1", "TWOSTEP_HTTP_KEEP_ALIVE_SECONDS": "1"}
# Generous: the server's deadline is 1 s; this only bounds the test if the server never closes.
CLOSE_WITHIN_SECONDS = 20.0


def closed_by_server(sock: socket.socket, drip: bytes | None) -> bool:
    """Drip `drip` every 0.2 s (or send nothing) until the server closes the connection."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + CLOSE_WITHIN_SECONDS
    while time.monotonic() < deadline:
        try:
            if drip:
                sock.sendall(drip)
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


@pytest.mark.parametrize("server", [SLOW], indirect=True)
def test_slow_clients_are_cut_off(server: ServerProcess) -> None:
    starts = {
        "silent": (b"", None),
        "slow headers": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n"),
        "slow body": (
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n",
            b" ",
        ),
        "idle keep-alive": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", None),
    }
    sockets = {}
    for name, (first, _) in starts.items():
        sockets[name] = socket.create_connection(("127.0.0.1", server.port))
        sockets[name].sendall(first)
    try:
        for name, (_, drip) in starts.items():
            assert closed_by_server(sockets[name], drip), f"{name}: still open"
        # The server still serves everyone else.
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
    finally:
        for sock in sockets.values():
            sock.close()


# --- oversized headers ---


def answer_to(port: int, request: bytes) -> bytes:
    """The server's answer to `request` sent at once, or RESET when it closed before reading all of it
    (unread bytes make the close a reset, which may overtake the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        answer = b""
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and not answer.startswith(b"HTTP/1.1 431"):
                    break  # a kept-alive answer: its head is enough here
        except (BrokenPipeError, ConnectionResetError):
            return answer if answer.startswith(b"HTTP/1.1 431") else RESET
        return answer


RESET = b"(reset)"


def test_oversized_headers_are_refused(server: ServerProcess) -> None:
    """Before, headers had no size limit: 200 MiB were read into memory and answered 200. Headers past
    32 KiB are now answered 431 and the connection closed; a request just under, or a large body
    arriving with its headers in one piece, is read as before."""
    pad = b"X-Pad: " + b"a" * (1024 - 9) + b"\r\n"  # one KiB a line
    start = b"GET /healthz/live HTTP/1.1\r\nHost: x\r\n"
    over = answer_to(server.port, start + pad * 40 + b"\r\n")
    assert over.startswith(b"HTTP/1.1 431 "), over[:80]
    assert b"connection: close" in over
    assert json.loads(over.partition(b"\r\n\r\n")[2])["code"] == "headers_too_large"
    huge = answer_to(server.port, start + pad * 8 * 1024 + b"\r\n")  # 8 MiB: cut off, not read
    assert huge.startswith(b"HTTP/1.1 431 ") or huge == RESET, huge[:80]
    under = answer_to(server.port, start + pad * 30 + b"\r\n")
    assert under.startswith(b"HTTP/1.1 200 "), under[:80]
    body = json.dumps({"email": "big@example.com", "password": "p" * 40_000}).encode()
    post = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    post += b"Content-Length: %d\r\n\r\n" % len(body)
    assert answer_to(server.port, post + body).split(b" ")[1] != b"431"
    assert httpx.get(f"{server.base_url}/healthz/live", timeout=10).status_code == 200


# --- requests that are not HTTP ---


def closed_answer(port: int, request: bytes) -> bytes:
    """Everything the server writes back to `request` before it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
        b"GET /healthz/live HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
        b"get /healthz/live HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ],
    ids=["length-and-chunked", "two-lengths", "negative-length", "folded-header", "lower-case-method", "h2"],
)
def test_a_request_that_is_not_http_is_a_problem_json_400(
    server: ServerProcess, request_bytes: bytes
) -> None:
    """Before, uvicorn answered a request it could not parse (ambiguous framing, a folded header, a
    lower-case method) with a bare `text/plain` "Invalid HTTP request received.", the one error twostep
    gave that was not problem+json, and without the security headers every other answer has. It is now a
    problem+json 400 `malformed_request` with those headers, and the connection is closed as before."""
    answer = closed_answer(server.port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert lines[0].startswith(b"http/1.1 400 "), answer[:120]
    assert b"content-type: application/problem+json" in lines
    assert b"x-content-type-options: nosniff" in lines
    assert b"connection: close" in lines
    problem = json.loads(body)
    assert (problem["status"], problem["code"]) == (400, "malformed_request")
    assert httpx.get(f"{server.base_url}/healthz/live", timeout=10).status_code == 200


def test_head_is_served_over_a_kept_alive_connection(server: ServerProcess) -> None:
    """Before, HEAD / and HEAD /healthz/live were 405. Served live, HEAD is the GET's head without a
    body (its Content-Length the GET's), and the same connection serves the next request."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for path in ("/", "/healthz/live", "/.well-known/jwks.json"):
            head = client.head(path)
            get = client.get(path)
            assert (head.status_code, head.content) == (200, b""), path
            assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
            assert head.headers["content-type"] == get.headers["content-type"]


@pytest.mark.parametrize("app", ["api", "verification"])
def test_a_trailing_slash_redirect_ignores_a_forged_host(tmp_path: Path, app: str) -> None:
    """Before, `GET /healthz/` was redirected (307) to `http://<Host header>/healthz`: a request with a
    forged `Host` made the service send its client to another site, an answer a cache in front could keep
    for everyone (host-header injection). The `Location` is now the path alone (query kept), which every
    client follows back to the host it asked."""
    with (
        ServerProcess(tmp_path, app=app) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
    ):
        forged = client.get("/healthz/?probe=1", headers={"Host": "evil.example"})
        assert forged.status_code == 307
        assert forged.headers["location"] == "/healthz?probe=1"
        followed = client.get("/healthz/", follow_redirects=True)
        assert (followed.status_code, followed.url.path) == (200, "/healthz")
