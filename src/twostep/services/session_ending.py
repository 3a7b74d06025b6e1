"""Ending an account's sessions after its password changed: one small port, so the session service
(when it is wired in) replaces the refresh-family fallback without touching the account services."""

from __future__ import annotations

from typing import Protocol

from twostep.domain.clock import Clock
from twostep.domain.models import NO_CONTEXT, RequestContext
from twostep.domain.ports import RefreshTokenStore
from twostep.services.audit import AuditService


class SessionEnder(Protocol):
    def end_all(
        self, user_id: str, *, keep: str | None = None, ctx: RequestContext = NO_CONTEXT, reason: str = "user"
    ) -> int:
        """End every session of the user except `keep`; returns how many ended (-1: not counted)."""
        ...


class RefreshFamilyEnder:
    """Revokes every refresh token of the user (all sessions; `keep` cannot be honoured here, because
    access tokens do not name their session). Access tokens already issued live until they expire."""

    def __init__(self, tokens: RefreshTokenStore, audit: AuditService, clock: Clock) -> None:
        self._tokens, self._audit, self._clock = tokens, audit, clock

    def end_all(
        self, user_id: str, *, keep: str | None = None, ctx: RequestContext = NO_CONTEXT, reason: str = "user"
    ) -> int:
        self._tokens.revoke_user_tokens(user_id, self._clock.now())
        self._audit.record("logout", ctx=ctx, user_id=user_id, reason=reason, scope="all")
        return -1
