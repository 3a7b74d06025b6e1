"""Phone numbers at rest in DynamoDB: KMS envelope encryption, and a keyed hash for uniqueness.

With `TWOSTEP_KMS_KEY_ID` set, a container asks KMS for one AES-256 data key (`GenerateDataKey`) the
first time it writes a phone number and keeps it in memory; each number is sealed with AES-GCM and
stored with the KMS-encrypted data key beside it. Reading asks KMS to decrypt a data key once per
container and data key (cached). The `PHONE#` uniqueness item is keyed by an HMAC of the number, so
the plaintext number never appears in a key. Without a KMS key, numbers are stored as they are (and
the table's own KMS encryption at rest still applies).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from twostep.domain.errors import StorageUnavailable

ENCRYPTION_CONTEXT = {"purpose": "twostep-phone"}
_AAD = b"twostep-phone-v1"
_MAX_CACHED_KEYS = 64


def derive_phone_index_key(otp_hmac_key: bytes) -> bytes:
    """The key of the phone uniqueness hash, derived from the stable code HMAC key (domain separated)."""
    return hmac.new(otp_hmac_key, b"twostep phone index key v1", hashlib.sha256).digest()


class PhoneCipher:
    """Seals and opens phone numbers; thread-safe; one data key per instance (per container)."""

    def __init__(self, kms_client: Any, key_id: str, index_key: bytes) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._index_key = index_key
        self._lock = threading.Lock()
        self._data_key: tuple[bytes, bytes] | None = None  # (plaintext, encrypted)
        self._opened: dict[bytes, bytes] = {}

    def index(self, phone: str) -> str:
        """The uniqueness key of a number: `h:` + HMAC-SHA256 in hex."""
        return "h:" + hmac.new(self._index_key, phone.encode(), hashlib.sha256).hexdigest()

    def seal(self, phone: str) -> dict[str, bytes]:
        """The attributes to store instead of the number. Raises: StorageUnavailable."""
        plaintext_key, encrypted_key = self._current_data_key()
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(plaintext_key).encrypt(nonce, phone.encode(), _AAD)
        return {"phone_ct": sealed, "phone_dk": encrypted_key}

    def check(self) -> None:
        """Readiness: the KMS key seals (a wrong or disabled `TWOSTEP_KMS_KEY_ID` fails every registration).
        One KMS call until it first succeeds, then none: the data key it gets is the one sealing uses.
        Raises: StorageUnavailable."""
        self._current_data_key()

    def open(self, sealed: bytes, encrypted_key: bytes) -> str:
        """The number back. Raises: StorageUnavailable."""
        plaintext_key = self._open_data_key(bytes(encrypted_key))
        sealed = bytes(sealed)
        return AESGCM(plaintext_key).decrypt(sealed[:12], sealed[12:], _AAD).decode()

    def _current_data_key(self) -> tuple[bytes, bytes]:
        with self._lock:
            if self._data_key is None:
                answer = self._kms_call(
                    "generate_data_key",
                    KeyId=self._key_id,
                    KeySpec="AES_256",
                    EncryptionContext=ENCRYPTION_CONTEXT,
                )
                self._data_key = (bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"]))
                self._opened[self._data_key[1]] = self._data_key[0]
            return self._data_key

    def _open_data_key(self, encrypted_key: bytes) -> bytes:
        with self._lock:
            cached = self._opened.get(encrypted_key)
        if cached is not None:
            return cached
        answer = self._kms_call(
            "decrypt",
            CiphertextBlob=encrypted_key,
            KeyId=self._key_id,
            EncryptionContext=ENCRYPTION_CONTEXT,
        )
        plaintext = bytes(answer["Plaintext"])
        with self._lock:
            if len(self._opened) >= _MAX_CACHED_KEYS:
                self._opened.clear()
            self._opened[encrypted_key] = plaintext
        return plaintext

    def _kms_call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._kms, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable("The encryption key service is unavailable.") from exc
