"""Recovery codes: ten random codes shown once; only a keyed hash of each is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

RECOVERY_CODE_COUNT = 10
# Lower-case letters and digits without look-alikes (0/o, 1/l/i): easy to read off paper and type.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_GROUP = 5


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """`count` codes like `k7m2p-x9qrt`: 10 characters of a 31-letter alphabet, ~49.5 bits each."""
    return [
        "-".join("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP)) for _ in range(2))
        for _ in range(count)
    ]


def normalise_recovery_code(raw: str) -> str:
    """What people type: any case, with or without the dash or spaces."""
    return "".join(ch for ch in raw.lower() if ch not in "- \t")


class RecoveryCodeHasher:
    """HMAC keyed by the service and bound to the user, so a leaked table cannot be tried offline."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"twostep recovery codes v1\x00" + key).digest()

    def digest(self, user_id: str, code: str) -> str:
        message = f"{user_id}\x00{normalise_recovery_code(code)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
