"""A kept-alive connection whose keep-alive (or a stopping server's drain) runs out while its next request
waits unread is not closed.

uvloop (what `twostep serve` runs on) handles due timers before it polls the sockets. When the loop is
busy as the keep-alive runs out (here an I/O callback that takes a second; under load, other connections
and request threads holding the GIL) and the client's next request arrives meanwhile, uvicorn's keep-alive
timer closed the connection with that request unread, and the client read a reset. Real sockets, uvicorn's
protocol as `twostep serve` configures it, on uvloop and on asyncio's own loop."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
import uvloop
from uvicorn.server import ServerState

from twostep.api.edge import DRAIN_SECONDS, SlowClientProtocol

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
KEEP_ALIVE_SECONDS = 1


async def _ok(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def kept_alive_client(
    state: ServerState, keep_alive: float = KEEP_ALIVE_SECONDS
) -> AsyncIterator[socket.socket]:
    """A client connection that has been answered once and is now idle, kept alive by the server."""
    loop = asyncio.get_running_loop()
    config = uvicorn.Config(_ok, log_config=None, timeout_keep_alive=int(keep_alive))
    config.load()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = await loop.create_server(
        lambda: SlowClientProtocol(config=config, server_state=state, app_state={}), sock=listener
    )
    client = socket.create_connection(listener.getsockname())
    client.setblocking(False)
    try:
        await loop.sock_sendall(client, REQUEST)
        assert (await loop.sock_recv(client, 4096)).startswith(b"HTTP/1.1 200")
        yield client
    finally:
        client.close()
        server.close()


async def next_answer(client: socket.socket) -> bytes:
    """What the server sends next: an answer, b"" (closed) or b"reset"."""
    try:
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(client, 4096), 10)
    except ConnectionResetError:
        return b"reset"


async def send_while_the_loop_is_busy(client: socket.socket, busy_seconds: float) -> None:
    """The next request arrives during one of the loop's I/O callbacks, which takes `busy_seconds`."""
    loop = asyncio.get_running_loop()
    wake, waker = socket.socketpair()
    done = loop.create_future()

    def busy() -> None:
        loop.remove_reader(wake)
        client.send(REQUEST)
        time.sleep(busy_seconds)
        done.set_result(None)

    with wake, waker:
        loop.add_reader(wake, busy)
        waker.send(b"!")
        await done


async def request_sent_as_the_keep_alive_ends() -> bytes:
    async with kept_alive_client(ServerState()) as client:
        await asyncio.sleep(KEEP_ALIVE_SECONDS / 2)
        await send_while_the_loop_is_busy(client, KEEP_ALIVE_SECONDS)
        return await next_answer(client)


async def request_sent_as_the_drain_ends() -> bytes:
    state = ServerState()
    async with kept_alive_client(state, keep_alive=10 * DRAIN_SECONDS) as client:
        for connection in state.connections:
            connection.shutdown()  # as uvicorn's server does when it stops
        await asyncio.sleep(DRAIN_SECONDS / 2)
        await send_while_the_loop_is_busy(client, DRAIN_SECONDS)
        return await next_answer(client)


async def idle_until_closed() -> bytes:
    async with kept_alive_client(ServerState()) as client:
        return await next_answer(client)


def run_on(loop_name: str, main: Coroutine[Any, Any, bytes]) -> bytes:
    return uvloop.run(main) if loop_name == "uvloop" else asyncio.run(main)


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_a_request_waiting_as_the_keep_alive_ends_is_answered(loop_name: str) -> None:
    answer = run_on(loop_name, request_sent_as_the_keep_alive_ends())
    assert answer.startswith(b"HTTP/1.1 200"), answer


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_a_request_waiting_as_a_stopping_servers_drain_ends_is_answered_and_closes(loop_name: str) -> None:
    answer = run_on(loop_name, request_sent_as_the_drain_ends())
    assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer.lower(), answer


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_an_idle_connection_still_closes_when_its_keep_alive_ends(loop_name: str) -> None:
    assert run_on(loop_name, idle_until_closed()) == b""
