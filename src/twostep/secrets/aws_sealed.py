"""The keys secret on AWS with its private parts sealed by KMS, so that its readers need not all see them.

The authorizer must read the secret (its public keys), and may `kms:Decrypt` the stack's key only through
Secrets Manager and DynamoDB (`kms:ViaService`). A plain secret (`KeyMaterial.to_json`) gave it every
private signing key, the code HMAC key and the SMS credentials (`extra`). A sealed secret holds:

    {"format": "twostep-sealed-v1",
     "signing_keys": [<SigningKey.public_record>, ...],          # what the authorizer reads
     "sealed": {"key_id": ..., "data_key": <KMS ciphertext, b64>, "material": <AES-GCM, b64>}}

`material` is the whole `KeyMaterial.to_json()`, sealed with AES-256-GCM under a data key from
`kms:GenerateDataKey` with the encryption context `ENCRYPTION_CONTEXT`: envelope encryption, because a
direct `kms:Encrypt` takes at most 4 KiB and three RSA keys' PEMs are more. Opening it is one direct
`kms:Decrypt` with that context, which the API and the delivery-status functions may make and the
authorizer may not. HS256 material is never sealed (its one key is the secret the authorizer needs).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from twostep.domain.errors import ConfigurationError, SecretStoreUnavailable
from twostep.domain.keys import KeyMaterial

SEALED_FORMAT = "twostep-sealed-v1"
ENCRYPTION_CONTEXT = {"purpose": "twostep-key-material"}
_AAD = b"twostep-key-material-v1"


def is_sealed(data: dict[str, Any]) -> bool:
    return data.get("format") == SEALED_FORMAT


def sealable(material: KeyMaterial) -> bool:
    """Whether `material` can be split: no HS256 key (whose secret every verifier needs)."""
    return all(key.algorithm != "HS256" for key in material.signing_keys)


def seal(material: KeyMaterial, kms: Any, key_id: str) -> str:
    """The secret's value for `material`, private parts sealed under `key_id`.

    Raises:
        SecretStoreUnavailable: KMS refused or could not be reached.
    """
    answer = _kms_call(
        kms,
        "seal",
        "generate_data_key",
        KeyId=key_id,
        KeySpec="AES_256",
        EncryptionContext=ENCRYPTION_CONTEXT,
    )
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(bytes(answer["Plaintext"])).encrypt(nonce, material.to_json().encode(), _AAD)
    return json.dumps(
        {
            "format": SEALED_FORMAT,
            "signing_keys": material.public_records(),
            "sealed": {
                "key_id": key_id,
                "data_key": base64.b64encode(bytes(answer["CiphertextBlob"])).decode(),
                "material": base64.b64encode(sealed).decode(),
            },
        },
        indent=2,
    )


def sealed_key_id(data: dict[str, Any]) -> str:
    return str(data["sealed"]["key_id"])


def open_sealed(data: dict[str, Any], kms: Any) -> KeyMaterial:
    """The whole key material of a sealed secret's parsed value.

    Raises:
        SecretStoreUnavailable: KMS refused to open the data key (no `kms:Decrypt`, another encryption
            context, a disabled key) or could not be reached.
        ConfigurationError: the sealed part is damaged or not key material.
    """
    try:
        part = data["sealed"]
        data_key, sealed = base64.b64decode(part["data_key"]), base64.b64decode(part["material"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError("TWOSTEP_SECRET_ARN: the secret's sealed part is damaged.") from exc
    answer = _kms_call(kms, "open", "decrypt", CiphertextBlob=data_key, EncryptionContext=ENCRYPTION_CONTEXT)
    try:
        text = AESGCM(bytes(answer["Plaintext"])).decrypt(sealed[:12], sealed[12:], _AAD)
        return KeyMaterial.from_json(text.decode())
    except (InvalidTag, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError("TWOSTEP_SECRET_ARN: the secret's sealed part is damaged.") from exc


def _kms_call(kms: Any, verb: str, operation: str, **kwargs: Any) -> Any:
    """KMS's answer. Raises: SecretStoreUnavailable naming the cause (KMS's error code, never a key)."""
    try:
        return getattr(kms, operation)(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "an error")
        raise SecretStoreUnavailable(
            f"TWOSTEP_SECRET_ARN: KMS refused to {verb} the keys secret's private part ({code})."
        ) from exc
    except BotoCoreError as exc:
        raise SecretStoreUnavailable(
            f"TWOSTEP_SECRET_ARN: KMS could not be reached to {verb} the keys secret's private part."
        ) from exc
