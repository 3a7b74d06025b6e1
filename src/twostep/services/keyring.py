"""The key set a process signs and verifies with, kept in step with the deployment's shared key source.

Every process of a deployment holds the same key material (see `domain.ports.KeySource`). A rotation
writes a new key that is published at once and signs only after an activation delay; each server re-reads
the source every `refresh_seconds` (one small read; the material is opened only when its version
changed), so every server publishes and accepts a new key long before any server signs with it.

A rotation without that delay (`keys rotate --activation-delay 0`, after a leak) reaches the servers at
different moments: one signs with the new key while another has not read it yet. A token naming a key
this process does not know therefore makes it read the key set at once (`reread_for_unknown_key`), at
most once every `UNKNOWN_KEY_REREAD_SECONDS`, so tokens of made-up keys cannot turn into a storage read
each.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.errors import DependencyUnavailable
from twostep.domain.keys import Algorithm, KeyMaterial, SigningKey, VersionedKeys
from twostep.domain.ports import KeySource
from twostep.domain.tokens import TokenIssuer, TokenVerifier

logger = logging.getLogger("twostep.keys")

UNKNOWN_KEY_REREAD_SECONDS = 1.0
_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    algorithm: Algorithm  # the one algorithm verification accepts (RFC 8725: never the token's choice)
    issuer: str
    audience: str
    access_ttl_seconds: int
    leeway_seconds: int

    @property
    def max_token_age(self) -> timedelta:
        return timedelta(seconds=self.access_ttl_seconds + self.leeway_seconds)


class KeyRing:
    """Thread-safe; `issuer()` and `verifier()` are cheap (built once per key set, not per request)."""

    def __init__(self, source: KeySource, clock: Clock, policy: TokenPolicy, refresh_seconds: int) -> None:
        self._source, self._clock, self._policy = source, clock, policy
        self._refresh = timedelta(seconds=refresh_seconds)
        self._lock = threading.Lock()
        self._keys = source.load()
        self._checked_at = clock.now()
        self._issuer: TokenIssuer | None = None
        self._signing: tuple[SigningKey, datetime, datetime] | None = None  # see `current`
        self._verifier: tuple[datetime, TokenVerifier] | None = None

    @property
    def material(self) -> KeyMaterial:
        return self._keys.material

    @property
    def version(self) -> str:
        return self._keys.version

    @property
    def current(self) -> SigningKey:
        """The key that signs now: the newest active one of this process's algorithm (`signing_key_of`).

        Raises:
            DependencyUnavailable: no key of that algorithm verifies any more (the deployment changed
                its algorithm and this process was not restarted with the new one).
        """
        now = self._clock.now()
        chosen = self._signing
        # every sign-in asks: the choice is kept while it holds (a clock set back chooses again too)
        if chosen is None or not chosen[1] <= now < chosen[2]:
            chosen = self._signing = self._choose_signing_key(now)
        return chosen[0]

    def _choose_signing_key(self, now: datetime) -> tuple[SigningKey, datetime, datetime]:
        """`current`'s key, when it was chosen, and the moment the choice must be made again (a key of
        this algorithm activates, or the chosen key's tokens stop verifying).

        Raises:
            DependencyUnavailable: see `current`.
        """
        algorithm, max_age = self._policy.algorithm, self._policy.max_token_age
        key = self.material.signing_key_of(algorithm, now, max_age)
        if key is None:
            logger.error(
                "no signing key of this process's algorithm; restart it with the deployment's "
                "TWOSTEP_JWT_ALGORITHM",
                extra={"jwt_algorithm": algorithm},
            )
            raise DependencyUnavailable()
        changes = [
            other.activates_at
            for other in self.material.signing_keys
            if other.algorithm == algorithm and other.activates_at is not None and other.activates_at > now
        ]
        if key.retired_at is not None:
            changes.append(key.retired_at + max_age)
        return key, now, min(changes, default=_NEVER)

    @property
    def otp_hmac_key(self) -> bytes:
        return self.material.otp_hmac_key

    @property
    def leeway(self) -> timedelta:
        """How long after its `exp` a token is still accepted (clock skew)."""
        return timedelta(seconds=self._policy.leeway_seconds)

    def issuer(self) -> TokenIssuer:
        key = self.current
        issuer = self._issuer
        if issuer is None or issuer.kid != key.kid:
            issuer = self._issuer = TokenIssuer(
                kid=key.kid,
                algorithm=key.algorithm,
                key=key.signing_material,
                issuer=self._policy.issuer,
                audience=self._policy.audience,
                ttl_seconds=self._policy.access_ttl_seconds,
                clock=self._clock,
            )
        return issuer

    def verifier(self) -> TokenVerifier:
        """Accepts tokens of every published key; rebuilt each minute so retired keys drop out (a retired
        key's tokens are refused from the moment it leaves the JWKS, whenever the verifier was built)."""
        now = self._clock.now()
        built = self._verifier
        if built is None or now - built[0] >= timedelta(minutes=1):
            built = self._verifier = (now, self._build_verifier(now))
        return built[1]

    def published(self) -> dict[str, SigningKey]:
        """Keys of this process's algorithm whose tokens may be alive, and such keys waiting for their
        activation (the JWKS): a key of another algorithm, which a rotation from a process configured
        differently added, is left out, as this process's verifier refuses its tokens."""
        keys = self.material.verification_keys(self._clock.now(), self._policy.max_token_age)
        return {kid: key for kid, key in keys.items() if key.algorithm == self._policy.algorithm}

    def refresh(self) -> bool:
        """Re-read the source; True when the key set changed. Raises what the source raises."""
        with self._lock:
            return self._reread()

    def reread_due(self) -> bool:
        """Whether `reread_for_unknown_key` would read the source now (a hint: another thread may first)."""
        return self._clock.now() - self._checked_at >= timedelta(seconds=UNKNOWN_KEY_REREAD_SECONDS)

    def reread_for_unknown_key(self) -> bool:
        """`refresh`, unless the source was read in the last `UNKNOWN_KEY_REREAD_SECONDS`; True when the
        key set changed (a token of an unknown key is then worth checking again)."""
        with self._lock:
            return self.reread_due() and self._reread()

    def refresh_if_due(self) -> bool:
        """`refresh` when the last one is `refresh_seconds` old (for hosts without a background task)."""
        if self._clock.now() - self._checked_at < self._refresh:
            return False
        return self.refresh()

    def _reread(self) -> bool:
        """The source read with the lock held."""
        self._checked_at = self._clock.now()
        changed = self._source.changed_since(self._keys.version)
        if changed is None:
            return False
        self._use(changed)
        logger.info("key set changed", extra={"keys_version": changed.version})
        return True

    def _use(self, keys: VersionedKeys) -> None:
        self._keys = keys
        self._issuer = None
        self._signing = None
        self._verifier = None

    def _build_verifier(self, now: datetime) -> TokenVerifier:
        published = self.material.verification_keys(now, self._policy.max_token_age)
        return TokenVerifier(
            algorithm=self._policy.algorithm,
            keys={
                kid: key.verification_material
                for kid, key in published.items()
                if key.algorithm == self._policy.algorithm
            },
            issuer=self._policy.issuer,
            audience=self._policy.audience,
            leeway_seconds=self._policy.leeway_seconds,
            clock=self._clock,
            key_ends=self.material.verification_ends(self._policy.max_token_age),
        )
