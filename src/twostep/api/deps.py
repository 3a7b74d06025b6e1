"""Request-scoped pieces: the container, who is calling (IP, request id), and the signed-in user."""

from __future__ import annotations

import functools
import ipaddress
from typing import Annotated

from fastapi import Depends, Request

from twostep.container import Container
from twostep.domain.models import RequestContext
from twostep.domain.tokens import AccessClaims, extract_bearer
from twostep.logs import request_id_var


# The dependencies below are `async def` on purpose: they never block, and FastAPI runs a sync
# dependency on its thread pool, one thread hop each (the bench measured /hello at 0.77 of a bare
# route with three hops, against one there).
async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]
# Enough for dozens of hops; only the right-hand end of a longer header is read.
MAX_FORWARDED_LENGTH = 2048


@functools.lru_cache(maxsize=8)
def _parse_networks(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The trusted proxies as networks, parsed once per setting rather than on every request."""
    parsed = []
    for network in networks:
        try:
            parsed.append(ipaddress.ip_network(network, strict=False))
        except ValueError:
            continue
    return tuple(parsed)


def _in_networks(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _parse_networks(tuple(networks)))


def client_ip(request: Request, trusted_proxies: list[str]) -> str | None:
    """The peer address; `X-Forwarded-For` is believed only when the peer is a trusted proxy, and then
    only up to the first address that is not itself a trusted proxy (right to left). A hop that is not
    an IP address means the chain cannot be trusted, so the peer is used."""
    peer = request.client.host if request.client else None
    if peer is None or not trusted_proxies or not _in_networks(peer, trusted_proxies):
        return peer
    header = request.headers.get("x-forwarded-for", "")
    if len(header) > MAX_FORWARDED_LENGTH:  # the nearest hops are on the right; drop a cut-off first one
        header = header[-MAX_FORWARDED_LENGTH:].split(",", 1)[-1]
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    for hop in reversed(forwarded):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return peer
        if not _in_networks(address, trusted_proxies):
            return address
    return peer


async def get_context(request: Request, container: ContainerDep) -> RequestContext:
    return RequestContext(
        ip=client_ip(request, container.settings.trusted_proxies), request_id=request_id_var.get()
    )


ContextDep = Annotated[RequestContext, Depends(get_context)]


async def get_claims(request: Request) -> AccessClaims:
    """The caller's access-token claims from `Authorization: Bearer <jwt>` or a raw `<jwt>`.

    Checking a token is one short CPU-bound step (an RSA verify, well under a millisecond): cheaper
    on the event loop than a thread hop. The header is read from the request rather than declared as
    a `Header` parameter of a nested dependency, which FastAPI re-inspects on every request: the two
    together cost /hello about a fifth of a bare route's speed in the bench.
    """
    container: Container = request.app.state.container
    return container.tokens.authenticate(extract_bearer(request.headers.get("authorization")))


ClaimsDep = Annotated[AccessClaims, Depends(get_claims)]
