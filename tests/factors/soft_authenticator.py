"""A software WebAuthn authenticator (P-256, `none` attestation) for API tests without a browser.

It builds exactly what a browser returns from `navigator.credentials.create()` / `.get()` as WebAuthn
JSON, so py_webauthn on the server checks it like any other. The Chromium test uses the browser's own
virtual authenticator instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    origin: str
    synced: bool = False  # backup eligible and backed up: a "multi-device" passkey
    verify_user: bool = True
    counter_step: int = 1  # 0: an authenticator that keeps no signature counter
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    counter: int = 0
    user_handle: bytes = b""

    def _flags(self, extra: int) -> int:
        flags = UP | extra | (UV if self.verify_user else 0)
        return flags | (BE | BS if self.synced else 0)

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """The answer to `navigator.credentials.create({publicKey: options})`."""
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        self.user_handle = unb64url(options["user"]["id"])
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + cose
        auth_data = rp_hash + bytes([self._flags(AT)]) + struct.pack(">I", self.counter) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"])),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }

    def get(self, options: dict[str, Any], *, rp_id: str | None = None) -> dict[str, Any]:
        """The answer to `navigator.credentials.get({publicKey: options})`."""
        self.counter += self.counter_step
        rp_hash = hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
        auth_data = rp_hash + bytes([self._flags(0)]) + struct.pack(">I", self.counter)
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle),
            },
            "clientExtensionResults": {},
        }


def enrol_passkey_and_device(
    base_url: str,
    access_token: str,
    phone: str,
    latest_code: Callable[[str], str],
    email: str = "fuzz@example.com",
    password: str = "correct horse battery staple",
) -> dict[str, str]:
    """For a signed-in account on a live server: register a software passkey and remember one device.

    Returns their ids (`passkey_id`, `device_id`), e.g. for a fuzzer's path parameters.
    """
    headers = {"Authorization": f"Bearer {access_token}"}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        options = http.post(
            "/me/passkeys/options", json={"currentPassword": password}, headers=headers
        ).json()
        key = SoftAuthenticator(base_url)
        added = http.post(
            "/me/passkeys",
            json={"ceremonyId": options["ceremonyId"], "credential": key.create(options["publicKey"])},
            headers=headers,
        )
        assert added.status_code == 201, added.text
        started = http.post("/login", json={"email": email, "password": password}).json()
        remembered = http.post(
            f"/otp/{started['otpId']}/verify", json={"otp": latest_code(phone), "rememberDevice": True}
        )
        assert remembered.status_code == 200, remembered.text
        devices = http.get("/me/devices", headers=headers).json()
    return {"passkey_id": str(added.json()["id"]), "device_id": str(devices[-1]["id"])}
