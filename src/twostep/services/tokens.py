"""Token pairs: short-lived access JWTs and rotating refresh tokens with reuse detection (RFC 9700).

Each sign-in is a session (the refresh-token family); access tokens name it in `sid`. Ending a session
revokes its family and puts it on the revocation list that `authenticate` consults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.counter_batch import CounterChange, Unless
from twostep.domain.errors import (
    AccountLocked,
    InvalidToken,
    RefreshTokenReused,
    SessionLacksSecondFactor,
    SessionRevoked,
)
from twostep.domain.ids import new_uuid4
from twostep.domain.models import (
    NO_CONTEXT,
    AuditEvent,
    CodeUse,
    RefreshToken,
    RequestContext,
    Session,
    User,
)
from twostep.domain.ports import RefreshTokenStore, SessionStore, UserStore
from twostep.domain.revocation import RevocationList
from twostep.domain.tokens import (
    AccessClaims,
    TokenIssuer,
    has_second_factor,
    hash_refresh_token,
    new_refresh_token,
    timestamp,
)
from twostep.services.account_locks import AccountLocks
from twostep.services.audit import AuditService
from twostep.services.client_description import describe_client, truncate_ip
from twostep.services.keyring import KeyRing
from twostep.services.unchanged_credentials import refuse_changed


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    session_id: str = ""
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    refresh_ttl_seconds: int
    require_second_factor: bool
    idle_seconds: int | None = None  # None: a session ends only at its absolute lifetime


class TokenService:
    def __init__(
        self,
        *,
        store: RefreshTokenStore,
        sessions: SessionStore,
        users: UserStore,
        keys: KeyRing,
        revocations: RevocationList,
        locks: AccountLocks,
        audit: AuditService,
        clock: Clock,
        policy: SessionPolicy,
    ) -> None:
        self._store, self._sessions, self._users = store, sessions, users
        self._keys = keys  # signs with the key active now, verifies with every published key
        self.revocations = revocations
        self._locks, self._audit, self._clock = locks, audit, clock
        self._refresh_ttl = timedelta(seconds=policy.refresh_ttl_seconds)
        self._require_second_factor = policy.require_second_factor
        self._idle = None if policy.idle_seconds is None else timedelta(seconds=policy.idle_seconds)

    def issue_pair(
        self,
        user: User,
        amr: tuple[str, ...],
        ctx: RequestContext = NO_CONTEXT,
        audits: Sequence[AuditEvent] = (),
    ) -> TokenPair:
        """A new session (a new refresh-token family), described by the caller's client and address;
        `audits`, the events of the step that opened it, are stored with it (one storage request).

        `user` is the account as the sign-in checked it: a password, number or address change (which
        ends the account's sessions) committed since then refuses the session, so one checked in the
        moments before such a change cannot outlive it.

        Raises:
            CredentialsChanged: the account's credentials changed since (or it is gone); nothing stored,
                audited as a failed sign-in.
            DependencyUnavailable: no key of this process's algorithm signs (`KeyRing.current`); nothing
                stored.
        """
        issuer = self._keys.issuer()  # before anything is stored: it refuses when no key signs
        session, refresh, record = self._new_session(user, amr, ctx)
        if not self._sessions.add_session(session, record, audits, unchanged=user):
            refuse_changed(user, self._audit, ctx, event="login_failed")
        return self._access(issuer, user, session, refresh)

    def issue_pair_counted(
        self,
        user: User,
        amr: tuple[str, ...],
        ctx: RequestContext,
        audits: Sequence[AuditEvent],
        counts: tuple[Sequence[CounterChange], Sequence[Unless]],
        consuming: CodeUse | None = None,
    ) -> TokenPair | None:
        """`issue_pair`, with `counts` (counter changes without limits, and the records that hold them
        back) and `consuming` (the code that opens the session) written in the same storage request,
        all or none (`add_session_counted`); None, having stored nothing, while one of those records
        holds, the code's challenge cannot be used or the account's credentials changed (`issue_pair`)."""
        issuer = self._keys.issuer()  # before anything is stored: it refuses when no key signs
        session, refresh, record = self._new_session(user, amr, ctx)
        changes, unless = counts
        if not self._sessions.add_session_counted(
            session, record, audits, changes, session.created_at, unless, consuming, unchanged=user
        ):
            return None
        return self._access(issuer, user, session, refresh)

    def _new_session(
        self, user: User, amr: tuple[str, ...], ctx: RequestContext
    ) -> tuple[Session, str, RefreshToken]:
        now = self._clock.now()
        session = Session(
            id=new_uuid4(),
            user_id=user.id,
            created_at=now,
            expires_at=now + self._refresh_ttl,
            auth_time=now,
            amr=amr,
            last_used_at=now,
            client=describe_client(ctx.user_agent),
            ip=truncate_ip(ctx.ip),
        )
        refresh = new_refresh_token()
        return session, refresh, self._token_record(refresh, user.id, session)

    def refresh(self, refresh_token: str, ctx: RequestContext = NO_CONTEXT) -> TokenPair:
        """Rotate: the presented token is spent; presenting a spent token ends its whole family.

        Raises:
            InvalidToken: unknown, expired or revoked (SessionRevoked: the session was ended, or was idle
                longer than the idle lifetime and ends now).
            RefreshTokenReused: the token was already used; the family is now revoked.
            SessionLacksSecondFactor: a second factor is required and the session had none (it ends).
            AccountLocked: the account was locked (the session ends).
            DependencyUnavailable: no key of this process's algorithm signs; the token is not spent.
        """
        issuer = self._keys.issuer()  # before the token is spent: it refuses when no key signs
        token_hash = hash_refresh_token(refresh_token)
        now = self._clock.now()
        # Each refresh rotates the token, so the presented token's issue time is the session's last
        # refresh or sign-in: its last activity, with no write on any other request.
        idle_since = None if self._idle is None else now - self._idle
        claimed = self._store.claim_refresh_token(token_hash, now, idle_since)
        if claimed is None:
            self._handle_failed_claim(token_hash, now, idle_since, ctx)
            raise InvalidToken()
        if self._require_second_factor and not has_second_factor(claimed.amr):
            self.end_session(claimed.family_id)
            raise SessionLacksSecondFactor()
        user = self._users.get_user(claimed.user_id)
        if user is None:
            self.end_session(claimed.family_id)
            raise InvalidToken()
        if self._locks.is_locked(user.id):
            self.end_session(claimed.family_id)
            raise AccountLocked()
        session = self._sessions.touch_session(user.id, claimed.family_id, now)
        if session is None or session.revoked_at is not None:
            # No session record: a family from before sessions were kept; one fresh sign-in mends it.
            self.end_session(claimed.family_id)
            raise SessionRevoked()
        refresh = new_refresh_token()
        self._store.add_refresh_token(self._token_record(refresh, user.id, session))
        return self._access(issuer, user, session, refresh)

    def logout(self, refresh_token: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """End the session the token belongs to; unknown tokens are ignored (nothing to end)."""
        record = self._store.get_refresh_token(hash_refresh_token(refresh_token))
        if record is not None:
            self.end_session(record.family_id)
            self._audit.record("logout", ctx=ctx, user_id=record.user_id)

    def end_session(self, session_id: str) -> bool:
        """Revoke the family and list it, so its access tokens stop working here at once."""
        ended = self._store.revoke_family(session_id, self._clock.now())
        self.revocations.note(session_id)
        return ended

    def end_sessions(self, user_id: str, keep: str | None = None) -> list[str]:
        """End every live session of the user but `keep`, in a few storage requests, and list them here
        (see `end_session`); the ids of those ended. Sessions that ended within `ended_sessions_grace`
        too: their last access token may still be accepted."""
        now = self._clock.now()
        ended = self._sessions.end_sessions(user_id, now, now - self.ended_sessions_grace, keep)
        self.revocations.note(*ended)
        return ended

    def authenticate(self, access_token: str | None) -> AccessClaims:
        """The claims of a valid token of a session that is still on.

        Raises:
            InvalidToken: missing, malformed, expired (SessionRevoked, SessionLacksSecondFactor;
                UnknownSigningKey: see `reread_keys`).
            StorageUnavailable: the revocation list is stale and cannot be read (closed).
        """
        if not access_token:
            raise InvalidToken()
        claims = self._keys.verifier().verify(access_token)
        self.check_session(claims)
        return claims

    def keys_reread_due(self) -> bool:
        """Whether `reread_keys` would read now: checked first, so that tokens of made-up keys cost no thread."""
        return self._keys.reread_due()

    def reread_keys(self) -> bool:
        """After `UnknownSigningKey`: read the shared key set now (at most once a second), since another
        host may sign with a key rotated in moments ago; True when it changed. Raises what the source raises.
        """
        return self._keys.reread_for_unknown_key()

    def check_session(self, claims: AccessClaims) -> None:
        """The stateful half of `authenticate`: the session is not ended, and meets the factor policy.

        Raises:
            SessionRevoked, SessionLacksSecondFactor: refused.
            StorageUnavailable: the revocation list is stale and cannot be read (closed).
        """
        if self._require_second_factor and not has_second_factor(claims.amr):
            raise SessionLacksSecondFactor()
        if self.revocations.is_revoked(claims.sid):
            raise SessionRevoked()

    def _handle_failed_claim(
        self, token_hash: str, now: datetime, idle_since: datetime | None, ctx: RequestContext
    ) -> None:
        existing = self._store.get_refresh_token(token_hash)
        if existing is None:
            return
        if existing.used_at is not None:
            self.end_session(existing.family_id)
            self._audit.record("token_reuse", ctx=ctx, user_id=existing.user_id)
            raise RefreshTokenReused()
        if existing.revoked_at is not None:
            raise SessionRevoked()
        if idle_since is not None and existing.created_at <= idle_since and existing.expires_at > now:
            # Idle too long: ended (and listed, so its access tokens stop too) like any ended session,
            # and answered alike; the token stays unspent, so presenting it again answers the same.
            if self.end_session(existing.family_id):
                self._audit.record("session_ended", ctx=ctx, user_id=existing.user_id, reason="idle")
            raise SessionRevoked()

    def _token_record(self, refresh: str, user_id: str, session: Session) -> RefreshToken:
        return RefreshToken(
            token_hash=hash_refresh_token(refresh),
            family_id=session.id,
            user_id=user_id,
            created_at=self._clock.now(),
            expires_at=session.expires_at,
            family_expires_at=session.expires_at,
            amr=session.amr,
        )

    @property
    def ended_sessions_grace(self) -> timedelta:
        """How long after its session's end an access token is still accepted (the verifier's leeway on
        its `exp`, which is at most the session's end): ending sessions reaches back this far."""
        return self._keys.leeway

    def _access(self, issuer: TokenIssuer, user: User, session: Session, refresh: str) -> TokenPair:
        # Capped at the session's end: a token refreshed just before it would otherwise outlive it, and
        # ending every session (a password change, a reset) only lists sessions that have not ended.
        session_end = timestamp(session.expires_at)
        access = issuer.issue(
            user_id=user.id,
            email=user.email,
            amr=session.amr,
            sid=session.id,
            auth_time=timestamp(session.auth_time),
            not_after=session_end,
        )
        left = session_end - timestamp(self._clock.now())
        return TokenPair(
            access_token=access,
            expires_in=max(0, min(issuer.ttl_seconds, left)),
            refresh_token=refresh,
            session_id=session.id,
        )
