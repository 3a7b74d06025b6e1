"""A real HTTP server on 127.0.0.1 that records requests and answers like an SMS provider would."""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# The longest a "hanging" answer is held; the client's timeout in the tests is far shorter.
MAX_HOLD_SECONDS = 5.0


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    hold_seconds: float = 0.0  # wait before answering, to provoke the client's read timeout
    headers: tuple[tuple[str, str], ...] = ()  # extra answer headers (Retry-After)
    drip_seconds: float = 0.0  # the body sent a byte at a time, this long apart (a trickling answer)

    @classmethod
    def json(cls, status: int, data: Any, content_type: str = "application/json") -> Reply:
        return cls(status, json.dumps(data).encode(), content_type)

    @classmethod
    def text(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode(), "text/plain")

    @classmethod
    def hang(cls) -> Reply:
        return cls(200, b"{}", "application/json", hold_seconds=MAX_HOLD_SECONDS)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def basic_auth(self) -> tuple[str, str]:
        scheme, _, encoded = self.headers.get("authorization", "").partition(" ")
        assert scheme == "Basic", f"not Basic auth: {scheme!r}"
        user, _, secret = base64.b64decode(encoded).decode().partition(":")
        return user, secret


@dataclass
class ProviderServer:
    default: Reply = field(default_factory=lambda: Reply(204))
    requests: list[Recorded] = field(default_factory=list)
    _queue: deque[Reply] = field(default_factory=deque)
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, then with `default`."""
        with self._lock:
            self._queue.extend(replies)

    def always(self, reply: Reply) -> None:
        with self._lock:
            self._queue.clear()
            self.default = reply

    def _next_reply(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            return self._queue.popleft() if self._queue else self.default

    def start(self) -> ProviderServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()  # let held answers finish at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler_for(owner: ProviderServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # a provider's read (the credential check of readiness)
            self.do_POST()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=self.rfile.read(length),
            )
            reply = owner._next_reply(recorded)
            if reply.hold_seconds:
                owner._released.wait(min(reply.hold_seconds, MAX_HOLD_SECONDS))
            try:
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.drip_seconds:
                    self._drip(reply)
                else:
                    self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (timeout); nothing to answer

        def _drip(self, reply: Reply) -> None:
            for index in range(len(reply.body)):
                self.wfile.write(reply.body[index : index + 1])
                self.wfile.flush()
                if owner._released.wait(reply.drip_seconds):
                    return  # the server is stopping

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def start_server() -> Iterator[Callable[[], ProviderServer]]:
    """Start as many local provider servers as a test needs; all stopped afterwards."""
    servers: list[ProviderServer] = []

    def start() -> ProviderServer:
        server = ProviderServer().start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def aws_answering(
    start_server: Callable[[], ProviderServer], monkeypatch: pytest.MonkeyPatch
) -> Callable[[Reply], ProviderServer]:
    """Start a local server that stands for AWS (boto3 is pointed at it by AWS_ENDPOINT_URL) and answers
    every request with `reply`."""

    def start(reply: Reply) -> ProviderServer:
        server = start_server()
        server.always(reply)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        return server

    return start
