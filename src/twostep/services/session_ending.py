"""Ending an account's sessions after its password, number or address changed: one small port, which
`SessionService.end_all` satisfies (its access tokens are refused too, through the revocation list)."""

from __future__ import annotations

from typing import Protocol

from twostep.domain.models import NO_CONTEXT, RequestContext


class SessionEnder(Protocol):
    def end_all(
        self, user_id: str, *, keep: str | None = None, ctx: RequestContext = NO_CONTEXT, reason: str = "user"
    ) -> int:
        """End every session of the user except `keep`; returns how many ended (-1: not counted)."""
        ...
