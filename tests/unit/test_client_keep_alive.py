"""The Python clients stop using an idle connection before `twostep serve` closes it, so none of their
requests goes out on a connection the server is closing at that moment (that request would be lost)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from twostep import client as clients
from twostep.settings import Settings


def test_clients_let_go_of_idle_connections_before_the_server_does() -> None:
    margin = Settings.model_fields["http_keep_alive_seconds"].default - clients.KEEPALIVE_EXPIRY_SECONDS
    assert margin >= 1  # a second for the client's own delays


@contextmanager
def counting_server() -> Iterator[tuple[str, list[int]]]:
    """A keep-alive HTTP/1.1 server answering Flowroute's check; yields its address and connections so far."""
    connections = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections[0] += 1

        def do_GET(self) -> None:
            body = b'{"authenticated": true, "auth_id": "a", "message": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", connections
    finally:
        server.shutdown()
        server.server_close()


def test_an_idle_connection_is_replaced_after_the_clients_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "KEEPALIVE_EXPIRY_SECONDS", 0.3)
    with counting_server() as (endpoint, connections), clients.SMSAuthClient(endpoint) as client:
        client.authenticate_code("a", "123456")
        client.authenticate_code("a", "123456")
        assert connections[0] == 1  # kept alive
        time.sleep(0.6)
        client.authenticate_code("a", "123456")
        assert connections[0] == 2  # idle past the expiry: a new connection, not the old one
