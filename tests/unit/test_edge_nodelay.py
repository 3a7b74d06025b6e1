"""Every connection `twostep serve` accepts sends its writes at once (TCP_NODELAY), however its listening
socket was made: uvicorn's `--workers` supervisor and `twostep serve` bind theirs without
`proto=IPPROTO_TCP`, and asyncio then leaves Nagle's algorithm on (a 40 ms wait per kept-alive response)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from uvicorn.server import ServerState

from twostep.api.edge import SlowClientProtocol


async def _app(scope: object, receive: object, send: object) -> None:  # never called: no request is sent
    raise AssertionError("no request expected")


async def _accepted_nodelay(proto: int) -> int:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, log_config=None)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(SlowClientProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server = await asyncio.get_running_loop().create_server(
        lambda: Probe(config=config, server_state=ServerState(), app_state={}), sock=listener
    )
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        nodelay = await asyncio.wait_for(accepted, 10)
        writer.close()
        return nodelay
    finally:
        server.close()


@pytest.mark.parametrize("proto", [0, socket.IPPROTO_TCP], ids=["bound-like-uvicorn-workers", "tcp"])
def test_accepted_connections_have_nagle_off(proto: int) -> None:
    assert asyncio.run(_accepted_nodelay(proto)) != 0
