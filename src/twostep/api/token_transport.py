"""How token pairs travel: one object per kind of client, chosen once per request.

API clients send and receive the refresh token in JSON bodies. The web UI keeps the access token in
memory only; its refresh token travels in an `HttpOnly; Secure; SameSite=Strict` cookie that page
scripts cannot read. A request opts in with the header `X-Twostep-Client: web`: only then is the
cookie set, read or cleared, so API clients keep the JSON-body contract unchanged. A custom header
cannot be sent cross-site without a CORS preflight, so requiring it for the cookie path also shuts
out cross-site request forgery.

Routes ask the transport (`TransportDep`) and never branch on the kind of client themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from twostep.api.deps import ContainerDep
from twostep.api.errors import error_response
from twostep.api.middleware import header_text
from twostep.api.schemas import RefreshRequest, TokenPairOut
from twostep.domain.errors import InvalidToken
from twostep.services.tokens import TokenPair
from twostep.settings import Settings

CLIENT_HEADER = b"x-twostep-client"
WEB_CLIENT = "web"
# `__Host-`: the browser refuses the cookie unless it is Secure, Path=/ and bound to this exact host.
REFRESH_COOKIE = "__Host-twostep-refresh"


class TokenTransport:
    """API clients: the refresh token in JSON bodies, both ways."""

    def presented(self, request: Request, body: RefreshRequest | None) -> str:
        """The refresh token the client sent. Raises: InvalidToken when there is none."""
        if body is not None and body.refresh_token:
            return body.refresh_token
        raise InvalidToken("A refresh token is required.")

    def deliver(self, pair: TokenPair, response: Response) -> TokenPairOut:
        """The pair as the response body (and whatever else this client needs on `response`)."""
        return TokenPairOut.of(pair)

    def refused(self, error: InvalidToken) -> Response:
        """The answer when a refresh failed. Raises the error for API clients (the usual problem+json)."""
        raise error

    def ended(self, response: Response) -> None:
        """The session ended (logout): nothing to clean up for an API client."""

    def tolerates_missing_session(self) -> bool:
        """Whether signing out without a valid session still succeeds."""
        return False


class CookieTransport(TokenTransport):
    """The web UI: the refresh token only in its HttpOnly cookie, null in bodies."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def presented(self, request: Request, body: RefreshRequest | None) -> str:
        if body is not None and body.refresh_token:
            return body.refresh_token
        from_cookie = request.cookies.get(REFRESH_COOKIE)
        if from_cookie:
            return from_cookie
        raise InvalidToken("A refresh token is required.")

    def deliver(self, pair: TokenPair, response: Response) -> TokenPairOut:
        response.set_cookie(
            REFRESH_COOKIE,
            pair.refresh_token,
            max_age=self._settings.refresh_token_ttl_seconds,
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        return TokenPairOut.of(pair, for_web=True)

    def refused(self, error: InvalidToken) -> Response:
        failed = error_response(error)
        self.ended(failed)
        return failed

    def ended(self, response: Response) -> None:
        """Tell the browser to drop the refresh cookie at once (Max-Age=0)."""
        response.delete_cookie(REFRESH_COOKIE, path="/", secure=True, httponly=True, samesite="strict")

    def tolerates_missing_session(self) -> bool:
        return True  # signing out of an already ended session succeeds (and clears the cookie)


def is_web_client(request: Request) -> bool:
    return (header_text(request.scope, CLIENT_HEADER) or "").strip().lower() == WEB_CLIENT


def transport_for(request: Request, settings: Settings) -> TokenTransport:
    return CookieTransport(settings) if is_web_client(request) else TokenTransport()


async def get_transport(request: Request, container: ContainerDep) -> TokenTransport:
    return transport_for(request, container.settings)


TransportDep = Annotated[TokenTransport, Depends(get_transport)]
