"""A user's sessions: list them, end one, end all (or all but the current one).

`SessionService.end_all` is the one way to sign a user out everywhere; password reset and change,
account deletion and `twostep users lock` call it.
"""

from __future__ import annotations

from twostep.domain.clock import Clock
from twostep.domain.errors import NotFound
from twostep.domain.models import NO_CONTEXT, Page, RequestContext, Session
from twostep.domain.ports import SessionStore
from twostep.services.audit import AuditService
from twostep.services.tokens import TokenService


class SessionNotFound(NotFound):
    code = "session_not_found"
    default_message = "No such session."


class SessionService:
    def __init__(
        self, *, store: SessionStore, tokens: TokenService, audit: AuditService, clock: Clock
    ) -> None:
        self._store, self._tokens, self._audit, self._clock = store, tokens, audit, clock

    def page(self, user_id: str, limit: int, cursor: str | None = None) -> Page[Session]:
        """The user's live sessions a page at a time, newest first.

        Raises:
            InvalidInput: a cursor no page gave.
        """
        return self._store.page_sessions(user_id, self._clock.now(), limit, cursor)

    def end(self, user_id: str, session_id: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """End one of the user's sessions (ending one already ended succeeds).

        Raises:
            SessionNotFound: no such session of this user.
        """
        if self._store.get_session(user_id, session_id) is None:
            raise SessionNotFound()
        if self._tokens.end_session(session_id):
            self._audit.record("session_ended", ctx=ctx, user_id=user_id)

    def end_all(
        self, user_id: str, *, keep: str | None = None, ctx: RequestContext = NO_CONTEXT, reason: str = "user"
    ) -> int:
        """End every live session of the user except `keep` (None: every one); returns how many ended.

        Their access tokens are refused within the revocation list's refresh time.
        """
        ended = len(self._tokens.end_sessions(user_id, keep))
        self._audit.record("sessions_ended", ctx=ctx, user_id=user_id, count=str(ended), reason=reason)
        return ended
