"""Request-scoped pieces: the container, who is calling (IP, request id), and the signed-in user."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from twostep.api.middleware import header_text
from twostep.container import Container
from twostep.domain.addresses import unmapped
from twostep.domain.errors import ReauthenticationRequired, UnknownSigningKey
from twostep.domain.locales import accepted_languages
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
    # A server listening on `::` sees an IPv4 proxy as `::ffff:10.0.0.5`, which no IPv4 network contains:
    # its forwarded header was ignored, and every client behind it shared the proxy's limits.
    ip = unmapped(ip)
    return any(ip in network for network in _parse_networks(tuple(networks)))


def client_ip(request: Request, trusted_proxies: list[str]) -> str | None:
    """The peer address; `X-Forwarded-For` is believed only when the peer is a trusted proxy, and then
    only up to the first address that is not itself a trusted proxy (right to left). A hop that is not
    an IP address means the chain cannot be trusted, so the peer is used."""
    peer = request.client.host if request.client else None
    if peer is None or not trusted_proxies or not _in_networks(peer, trusted_proxies):
        return peer
    header = _forwarded_for(request)
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


def _forwarded_for(request: Request) -> str:
    """Every `X-Forwarded-For` line as one list (RFC 9110, 5.3). A proxy may add its own line after the
    client's instead of appending to it (HAProxy's `option forwardfor`): the first line alone was then the
    client's, so a client named any address it liked, for the per-IP limits and the audit trail."""
    lines = [value for key, value in request.scope.get("headers", ()) if key == b"x-forwarded-for"]
    return b", ".join(lines).decode("latin-1")


def request_context(request: Request, container: Container) -> RequestContext:
    """Who is calling: address, request id, user agent and languages (`ContextDep` without FastAPI's
    dependency solving, for the sign-in routes)."""
    return RequestContext(
        ip=client_ip(request, container.settings.trusted_proxies),
        request_id=request_id_var.get(),
        user_agent=header_text(request.scope, b"user-agent"),
        locales=accepted_languages(header_text(request.scope, b"accept-language")),
    )


async def get_context(request: Request, container: ContainerDep) -> RequestContext:
    return request_context(request, container)


ContextDep = Annotated[RequestContext, Depends(get_context)]


async def get_claims(request: Request) -> AccessClaims:
    """The caller's access-token claims from `Authorization: Bearer <jwt>` or a raw `<jwt>`.

    Checking a token is one short CPU-bound step (an RSA verify, well under a millisecond): cheaper
    on the event loop than a thread hop. The header is read from the request rather than declared as
    a `Header` parameter of a nested dependency, which FastAPI re-inspects on every request: the two
    together cost /hello about a fifth of a bare route's speed in the bench.

    The revocation list is re-read from storage every couple of seconds; that read (the one blocking
    step) runs on the thread pool, so only the request that finds the list due pays a thread hop. So does
    the key set's read for a token of a key this process does not know yet.
    """
    container: Container = request.app.state.container
    token = extract_bearer(request.headers.get("authorization"))
    if token and container.tokens.revocations.due():
        await run_in_threadpool(container.tokens.revocations.refresh)
    tokens = container.tokens
    try:
        return tokens.authenticate(token)
    except UnknownSigningKey:
        if not (tokens.keys_reread_due() and await run_in_threadpool(tokens.reread_keys)):
            raise
        return tokens.authenticate(token)


ClaimsDep = Annotated[AccessClaims, Depends(get_claims)]


def recent_sign_in(max_age_seconds: int | None = None) -> Callable[..., Awaitable[AccessClaims]]:
    """A dependency: the caller's claims, if they signed in (`auth_time`) at most `max_age_seconds`
    ago (default: `TWOSTEP_RECENT_AUTH_MAX_AGE_SECONDS`). Refreshing does not renew `auth_time`.

    Raises (from the dependency): ReauthenticationRequired (403).
    """

    async def check(request: Request, claims: ClaimsDep) -> AccessClaims:
        container: Container = request.app.state.container
        limit = max_age_seconds or container.settings.recent_auth_max_age_seconds
        if container.clock.now().timestamp() - claims.auth_time > limit:
            raise ReauthenticationRequired()
        return claims

    return check


RecentClaimsDep = Annotated[AccessClaims, Depends(recent_sign_in())]
