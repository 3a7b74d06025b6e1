"""Token pairs: short-lived access JWTs and rotating refresh tokens with reuse detection (RFC 9700)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.errors import InvalidToken, RefreshTokenReused
from twostep.domain.models import NO_CONTEXT, RefreshToken, RequestContext, User
from twostep.domain.ports import RefreshTokenStore, UserStore
from twostep.domain.tokens import AccessClaims, hash_refresh_token, new_refresh_token
from twostep.services.audit import AuditService
from twostep.services.keyring import KeyRing


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    token_type: str = "Bearer"


class TokenService:
    def __init__(
        self,
        *,
        store: RefreshTokenStore,
        users: UserStore,
        keys: KeyRing,
        audit: AuditService,
        clock: Clock,
        refresh_ttl_seconds: int,
    ) -> None:
        self._store, self._users = store, users
        self._keys = keys  # signs with the key active now, verifies with every published key
        self._audit, self._clock = audit, clock
        self._refresh_ttl = timedelta(seconds=refresh_ttl_seconds)

    def issue_pair(self, user: User, amr: tuple[str, ...]) -> TokenPair:
        """A new session: a new refresh-token family."""
        now = self._clock.now()
        return self._pair(user, amr, family_id=str(uuid.uuid4()), family_expires_at=now + self._refresh_ttl)

    def refresh(self, refresh_token: str, ctx: RequestContext = NO_CONTEXT) -> TokenPair:
        """Rotate: the presented token is spent; presenting a spent token ends its whole family.

        Raises:
            InvalidToken: unknown, expired or revoked.
            RefreshTokenReused: the token was already used; the family is now revoked.
        """
        token_hash = hash_refresh_token(refresh_token)
        now = self._clock.now()
        claimed = self._store.claim_refresh_token(token_hash, now)
        if claimed is None:
            self._handle_failed_claim(token_hash, ctx)
            raise InvalidToken()
        user = self._users.get_user(claimed.user_id)
        if user is None:
            self._store.revoke_family(claimed.family_id, now)
            raise InvalidToken()
        return self._pair(user, claimed.amr, claimed.family_id, claimed.family_expires_at)

    def logout(self, refresh_token: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """End the session the token belongs to; unknown tokens are ignored (nothing to end)."""
        record = self._store.get_refresh_token(hash_refresh_token(refresh_token))
        if record is not None:
            self._store.revoke_family(record.family_id, self._clock.now())
            self._audit.record("logout", ctx=ctx, user_id=record.user_id)

    def authenticate(self, access_token: str | None) -> AccessClaims:
        """Raises: InvalidToken."""
        if not access_token:
            raise InvalidToken()
        return self._keys.verifier().verify(access_token)

    def _handle_failed_claim(self, token_hash: str, ctx: RequestContext) -> None:
        existing = self._store.get_refresh_token(token_hash)
        if existing is not None and (existing.used_at is not None or existing.revoked_at is not None):
            self._store.revoke_family(existing.family_id, self._clock.now())
            self._audit.record("token_reuse", ctx=ctx, user_id=existing.user_id)
            raise RefreshTokenReused()

    def _pair(
        self, user: User, amr: tuple[str, ...], family_id: str, family_expires_at: datetime
    ) -> TokenPair:
        now = self._clock.now()
        refresh = new_refresh_token()
        self._store.add_refresh_token(
            RefreshToken(
                token_hash=hash_refresh_token(refresh),
                family_id=family_id,
                user_id=user.id,
                created_at=now,
                expires_at=family_expires_at,
                family_expires_at=family_expires_at,
                amr=amr,
            )
        )
        issuer = self._keys.issuer()
        access = issuer.issue(user_id=user.id, email=user.email, amr=amr)
        return TokenPair(access_token=access, expires_in=issuer.ttl_seconds, refresh_token=refresh)
