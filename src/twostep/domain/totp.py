"""Authenticator-app codes (RFC 6238, via pyotp) and how their secrets are kept.

A secret is sealed with AES-256-GCM under a key derived from the code-HMAC key, bound to its user id
(the associated data), so a stored value is useless without the key material and cannot be moved to
another account. Codes are compared in constant time; which time step matched is returned so storage
can accept each step once (RFC 6238 section 5.2).
"""

from __future__ import annotations

import base64
import hmac
import secrets
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from twostep.domain.errors import InvalidInput

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1  # one step either side: a phone clock up to ~30 s off still works
_SEAL_VERSION = "v1"


def new_totp_secret() -> str:
    """160 random bits in base32, the size RFC 4226 recommends and every authenticator app accepts."""
    import pyotp  # on first use: a Lambda cold start that checks no app code skips it

    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app scans."""
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (within the allowed drift) whose code is `code`, or None."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    import pyotp

    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = time_step(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # every candidate is compared (no early exit), so timing does not tell which step matched
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def code_at(secret: str, step: int) -> str:
    """The code of one time step (tests and clients that act as an authenticator)."""
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


class SecretSealer:
    """Seals and opens TOTP secrets; the key is derived once from the service's code-HMAC key."""

    def __init__(self, key_material: bytes) -> None:
        if len(key_material) < 32:
            raise ValueError("the key material must be at least 32 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"twostep totp secret v1").derive(
            key_material
        )
        self._aead = AESGCM(key)

    def seal(self, user_id: str, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), user_id.encode())
        return f"{_SEAL_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, user_id: str, sealed: str) -> str:
        """Raises: InvalidInput when the value was not sealed for this user with this key."""
        version, _, payload = sealed.partition(".")
        try:
            raw = base64.urlsafe_b64decode(payload.encode())
            if version != _SEAL_VERSION or len(raw) < 13:
                raise ValueError("unknown seal")
            return self._aead.decrypt(raw[:12], raw[12:], user_id.encode()).decode()
        except (ValueError, InvalidTag) as exc:
            raise InvalidInput("the authenticator secret cannot be read") from exc
