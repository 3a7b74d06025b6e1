"""How `twostep serve` meets the network: whose forwarded headers to believe, and slow clients cut off.

uvicorn believes `X-Forwarded-For` from 127.0.0.1 unless told otherwise, so behind any local proxy (or
from any local process) a forged header would pick the client address every per-IP limit and the audit
trail use. Here forwarded headers are believed only from `TWOSTEP_TRUSTED_PROXIES`, and the app's own
`client_ip` applies the same list, so both layers agree.

uvicorn has a keep-alive timeout but no limit on how long a request may take to arrive: a client that
sends its headers a byte at a time (slowloris) holds a connection forever. `SlowClientProtocol`
closes a connection whose request (headers and body) is not complete `request_timeout` seconds after
its first byte, or after the connection opened. It is uvicorn's httptools protocol (the C parser; the
pure-Python h11 one cost a sign-in about as much CPU as twostep's own request handling). It also turns Nagle's algorithm off on every connection:
asyncio does so only when the listening socket was made with `proto=IPPROTO_TCP`, which the sockets
`twostep serve` binds (one, or one per `--workers` worker) are not (uvicorn issue #3149), and then each
kept-alive response waits out the client's delayed ACK (40 ms on Linux) between its headers and body.

When the server stops (SIGTERM, or a worker replaced on SIGHUP), uvicorn closes every idle kept-alive
connection at once, and a request its client sent a moment before is lost: the client reads a reset or
an empty answer (a soak of 32 clients lost 3-5 requests at each rolling restart). Here an idle connection
is kept `DRAIN_SECONDS` longer; a request that arrives meanwhile is answered with `Connection: close`, so
its client's next request goes to a server still running.

An idle connection whose keep-alive ends is not closed while its next request already waits unread in the
socket. uvloop runs due timers before it polls the sockets, so when the loop was busy (a long callback,
the GIL held by request threads) as the keep-alive ran out, the timer closed a connection whose request
had arrived meanwhile, and closing with unread bytes resets it: the client lost a request it had sent in
time (a soak under load met it about once in 30 minutes; a proxy that keeps connections open longer than
the server does risks it at every expiry).

httptools puts no limit on the size of a request's headers: within the read deadline one connection
sent 200 MiB of them on loopback (0.4 s), all held in memory. A request whose request line and headers
pass `MAX_HEADER_BYTES` is answered 431 and closed; no more of it is read or parsed.

A request the parser refuses (both Content-Length and chunked, a folded header line) is answered 400
`malformed_request` problem+json and closed, instead of uvicorn's bare text.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from twostep.api.middleware import SECURITY_HEADERS
from twostep.domain.addresses import mapped_network
from twostep.settings import Settings

logger = logging.getLogger("twostep.edge")

# Peek without waiting, even where a library set a default socket timeout (a new socket object would then
# poll for it). Windows has no MSG_DONTWAIT; the transport's socket is non-blocking there too.
PEEK_NOW = socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)
DRAIN_SECONDS = 1.0  # how long a stopping server keeps an idle connection for a request already on its way
# A request line and headers together: twice nginx's default (4 buffers of 8 KiB, per header line), far
# above a browser's (cookies included, a few KiB); twostep reads a handful of short headers.
MAX_HEADER_BYTES = 32 * 1024


class SlowClientProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on reading each request and a drain when stopping."""

    def __init__(self, *args: Any, request_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self._read_deadline: asyncio.TimerHandle | None = None
        self._reading_request = False  # between a request's first byte and its last
        self._stopping = False  # the server called `shutdown`
        self._in_headers = True  # the parser waits for a request line or headers, not a body
        self._header_bytes = 0  # bytes fed to the parser since the current request's headers began

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)
        self._arm_read_deadline()

    def data_received(self, data: bytes) -> None:
        head, rest = self._split_at_header_limit(data)
        super().data_received(head)
        if rest and not self.transport.is_closing():
            if self._in_headers:  # the limit is reached and the headers are still not all in
                self._refuse_large_headers()
                return
            super().data_received(rest)  # a body (or a next request): the headers ended within the limit
        self._track_request()

    def _split_at_header_limit(self, data: bytes) -> tuple[bytes, bytes]:
        """While headers are read, the part of `data` the header limit still allows, and the rest."""
        if not self._in_headers:
            return data, b""
        room = max(MAX_HEADER_BYTES - self._header_bytes, 0)
        head = data[:room]
        self._header_bytes += len(head)
        return head, data[room:]

    def send_400_response(self, msg: str) -> None:
        """What the parser refused (ambiguous framing, a folded header): problem+json like every other
        error, not uvicorn's bare text (its `msg` is logged already)."""
        self.transport.write(malformed_request_answer(self.server_state.default_headers))
        self.transport.close()

    def _refuse_large_headers(self) -> None:
        logger.info("refused a request whose headers passed %s bytes", MAX_HEADER_BYTES)
        self.transport.write(header_too_large_answer(self.server_state.default_headers))
        self.transport.close()

    # The parser's callbacks: a request's first byte, and its end (headers and body all in).
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_request = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_request = False
        self._in_headers = True  # the next request's headers are counted from zero
        self._header_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer for the idle connection
        self._track_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()
        if self._stopping and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with `Connection: close`, then closed

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing() and request_waiting(self.transport):
            return  # read in this loop turn; answering it arms the keep-alive again
        super().timeout_keep_alive_handler()

    def shutdown(self) -> None:
        """The server is stopping (uvicorn's call): what is in flight finishes and closes; an idle
        connection waits `DRAIN_SECONDS` for a request already sent before it closes."""
        self._stopping = True
        if self._answering():
            self.cycle.keep_alive = False
        else:
            self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)

    def _close_if_idle(self) -> None:
        busy = self._answering() or self._reading_request or self.transport.is_closing()
        if not (busy or request_waiting(self.transport)):
            self.transport.close()

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _track_request(self) -> None:
        """A deadline runs while a request is partly received; none once it is in, or between requests."""
        if self._reading_request:
            self._arm_read_deadline()
        else:
            self._cancel_read_deadline()

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is None:  # from the first byte: more bytes do not extend it
            self._read_deadline = self.loop.call_later(self.request_timeout, self._drop_slow_client)

    def _cancel_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _drop_slow_client(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        logger.info("closed a connection whose request was not in after %ss", self.request_timeout)
        self.transport.close()


def header_too_large_answer(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole 431 problem+json answer that closes the connection (written by the protocol: no app ran)."""
    detail = f"The request line and headers are larger than {MAX_HEADER_BYTES} bytes."
    return closing_problem(
        431, "Request Header Fields Too Large", "headers_too_large", detail, default_headers
    )


def malformed_request_answer(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole 400 problem+json answer, closing, for bytes the HTTP parser refused."""
    detail = "The request is not valid HTTP/1.1 (its request line, headers or body framing)."
    return closing_problem(400, "Bad Request", "malformed_request", detail, default_headers)


def closing_problem(
    status: int, title: str, code: str, detail: str, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """A problem+json answer with the security headers every answer has, then `Connection: close`."""
    problem = {"type": "about:blank", "title": title, "status": status, "code": code, "detail": detail}
    body = json.dumps(problem).encode()
    lines = [f"HTTP/1.1 {status} {title}".encode()]
    lines += [name + b": " + value for name, value in (*default_headers, *SECURITY_HEADERS)]
    lines += [
        b"content-type: application/problem+json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once (TCP_NODELAY) on a TCP connection; see the module docstring."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # a connection already reset: nothing left to speed up
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def request_waiting(transport: asyncio.BaseTransport) -> bool:
    """Whether bytes sit unread in the connection's socket: peeked, so the protocol still reads them."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    # uvloop's transport socket cannot `recv`; a socket object over the same descriptor can, and
    # `detach` leaves the descriptor open for the transport.
    try:
        view = socket.socket(fileno=sock.fileno())
    except (OSError, ValueError):  # the descriptor is closed already
        return False
    try:
        return bool(view.recv(1, PEEK_NOW))
    except OSError:  # nothing waiting (BlockingIOError), or the connection is gone
        return False
    finally:
        view.detach()


def forwarded_allow_ips(settings: Settings) -> list[str]:
    """The proxies whose `X-Forwarded-For`/`-Proto` uvicorn may believe: only the configured ones, each as
    the network `client_ip` reads it as, so both layers agree. uvicorn took `127.0.0.1/8` (host bits set)
    for a name no peer has, and on `::` met an IPv4 proxy as `::ffff:127.0.0.1`, in no IPv4 network: it
    left such a proxy's clients unrewritten, so the metrics' loopback check took them for the proxy."""
    allowed: list[str] = []
    for entry in settings.trusted_proxies:  # each a valid network: the settings refuse anything else
        network = ipaddress.ip_network(entry, strict=False)
        mapped = mapped_network(network)
        allowed += [str(network)] if mapped is None else [str(network), str(mapped)]
    return allowed


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`/`uvicorn.Config` that every way of serving twostep shares."""
    proxies = forwarded_allow_ips(settings)
    return {
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or [],
        "http": functools.partial(SlowClientProtocol, request_timeout=settings.http_request_timeout_seconds),
        # uvloop where it is installed (a dependency off Windows): per sign-in ~0.4 ms less CPU in the bench.
        "loop": "auto",
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "log_config": None,
        "access_log": False,
        "server_header": False,
    }
