"""The placeholder a password reset or an address claim stores for every address it is asked about."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from twostep.domain.identity import E164
from twostep.domain.models import Challenge, ChallengePurpose
from twostep.domain.otp import CodeHasher
from twostep.services.code_spec import CodeSpec


def code_placeholder(
    challenge_id: str,
    purpose: ChallengePurpose,
    *,
    subject: str,
    address: str,
    code_hasher: CodeHasher,
    spec: CodeSpec,
    now: datetime,
) -> Challenge:
    """A challenge whose code nobody knows, stored before a real code is emailed or texted (to one account
    only, if any): the same storage work for every address, and the same answers to codes typed after.
    `address` is the one typed, known or not: its codes' wrong tries spend that address's budget."""
    return Challenge(
        id=challenge_id,
        purpose=purpose,
        subject=subject,
        phone=E164(""),
        code_hmac=code_hasher.digest(challenge_id, secrets.token_hex(16)),
        email=address,
        created_at=now,
        expires_at=now + timedelta(seconds=spec.ttl_seconds),
        max_attempts=spec.max_attempts,
    )
