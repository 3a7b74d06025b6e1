"""Request-scoped pieces: the container, who is calling (IP, request id), and the signed-in user."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Header, Request

from twostep.container import Container
from twostep.domain.models import RequestContext
from twostep.domain.tokens import AccessClaims, extract_bearer
from twostep.logs import request_id_var


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]
# Enough for dozens of hops; only the right-hand end of a longer header is read.
MAX_FORWARDED_LENGTH = 2048


def _in_networks(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


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


def get_context(request: Request, container: ContainerDep) -> RequestContext:
    return RequestContext(
        ip=client_ip(request, container.settings.trusted_proxies), request_id=request_id_var.get()
    )


ContextDep = Annotated[RequestContext, Depends(get_context)]


def get_claims(
    container: ContainerDep,
    authorization: Annotated[str | None, Header(description="`Bearer <jwt>` or a raw `<jwt>`")] = None,
) -> AccessClaims:
    return container.tokens.authenticate(extract_bearer(authorization))


ClaimsDep = Annotated[AccessClaims, Depends(get_claims)]
