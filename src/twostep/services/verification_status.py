"""What the verification API's status read shows: the code's state and its latest message's delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from twostep.domain.clock import Clock
from twostep.domain.errors import ChallengeNotFound
from twostep.domain.models import Challenge, Tenant
from twostep.domain.otp import CANCELED_CODE
from twostep.domain.ports import ChallengeStore
from twostep.domain.receipts import Delivery, DeliveryStore
from twostep.services.verification_input import checked_auth_id, verification_id

CodeState = Literal["pending", "verified", "canceled", "expired", "exhausted"]


@dataclass(frozen=True, slots=True)
class VerificationStatus:
    auth_id: str
    state: CodeState
    expires_at: datetime
    attempts_left: int
    delivery: Delivery | None  # the newest message of the code (None: no receipt-capable record)


def state_of(challenge: Challenge, now: datetime) -> CodeState:
    if challenge.consumed_at is not None:
        return "verified"
    if challenge.code_hmac == CANCELED_CODE:
        return "canceled"
    if challenge.attempts >= challenge.max_attempts:
        return "exhausted"
    return "expired" if challenge.expires_at <= now else "pending"


class VerificationStatusReader:
    def __init__(self, challenges: ChallengeStore, deliveries: DeliveryStore, clock: Clock) -> None:
        self._challenges, self._deliveries, self._clock = challenges, deliveries, clock

    def read(self, auth_id: str, tenant: Tenant | None) -> VerificationStatus:
        """The tenant's verification of `auth_id`.

        Raises:
            InvalidInput: a malformed auth_id. ChallengeNotFound: none was created (or it was purged).
        """
        auth_id = checked_auth_id(auth_id)
        challenge = self._challenges.get_challenge(verification_id(auth_id, tenant))
        if challenge is None or challenge.purpose != "verify":
            raise ChallengeNotFound()
        return VerificationStatus(
            auth_id=auth_id,
            state=state_of(challenge, self._clock.now()),
            expires_at=challenge.expires_at,
            attempts_left=challenge.attempts_remaining,
            delivery=self._deliveries.latest_delivery(challenge.id),
        )
