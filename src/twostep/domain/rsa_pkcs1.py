"""RSASSA-PKCS1-v1_5 with SHA-256 (the signature of JWS `RS256`, RFC 8017 §8.2.2), verify only.

Why not PyJWT or `cryptography` alone: importing them is most of the API Gateway authorizer's cold
start (PyJWT pulls in X.509, JWKS fetching and urllib; cryptography's RSA bindings alone take ~15 ms).
So a process checks its first signature with Python's own modular exponentiation, which imports
nothing, and from its second signature on uses OpenSSL through `cryptography` (about 8x faster per
check), imported then. Both answer the same: the differential tests in
`tests/unit/test_rs256_differential.py` hold them to PyJWT on thousands of generated tokens.

The pure check follows RFC 8017 exactly: the signature must be exactly `k` octets (the modulus length)
and, as an integer, below the modulus; `s^e mod n` must equal, byte for byte, the one valid encoding
`00 01 FF..FF 00 || DigestInfo(SHA-256) || H(m)` (compared in constant time). Nothing is parsed out of
the decrypted block, so the Bleichenbacher'06 family of lenient-parser forgeries does not apply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from twostep.domain.cold_start_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# DER of DigestInfo { AlgorithmIdentifier { id-sha256, NULL }, OCTET STRING (32) } (RFC 8017 §9.2 note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1
MIN_MODULUS_BITS = 2048  # twostep never makes smaller keys; a smaller one in a key record is refused


class RsaPublicKey:
    """An RSA public key `(n, e)` that checks RS256 signatures: the first `python_checks` in Python,
    the later ones with OpenSSL (tests set 0, or a huge number, to exercise one of the two alone)."""

    __slots__ = ("_expected_prefix", "_length", "_openssl", "_python_checks", "e", "n")

    def __init__(self, n: int, e: int, *, python_checks: int = 1) -> None:
        """Raises: ValueError for a modulus below 2048 bits or an exponent that is not odd and > 1."""
        if n.bit_length() < MIN_MODULUS_BITS or e < 3 or e % 2 == 0 or e >= n:
            raise ValueError("not a usable RSA public key")
        self.n, self.e = n, e
        self._length = (n.bit_length() + 7) // 8
        padding = self._length - 3 - len(SHA256_DIGEST_INFO) - 32
        self._expected_prefix = b"\x00\x01" + b"\xff" * padding + b"\x00" + SHA256_DIGEST_INFO
        self._python_checks = python_checks
        self._openssl: Any = None

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is a valid RS256 signature of `message` under this key."""
        if self._python_checks > 0:
            self._python_checks -= 1  # not atomic: a rare extra check in Python under threads is harmless
            return self.verify_pure(message, signature)
        if self._openssl is None:
            self._openssl = openssl_key(self.n, self.e)
        return len(signature) == self._length and bool(self._openssl(message, signature))

    def verify_pure(self, message: bytes, signature: bytes) -> bool:
        """RFC 8017 §8.2.2 in Python integers (no import; ~8x slower than OpenSSL per check)."""
        if len(signature) != self._length:
            return False
        s = int.from_bytes(signature, "big")
        if s >= self.n:
            return False
        encoded = pow(s, self.e, self.n).to_bytes(self._length, "big")
        expected = self._expected_prefix + hashlib.sha256(message).digest()
        return hmac.compare_digest(encoded, expected)

    def verify_openssl(self, message: bytes, signature: bytes) -> bool:
        """The same check by OpenSSL (imports `cryptography`)."""
        if len(signature) != self._length:
            return False
        return bool(openssl_key(self.n, self.e)(message, signature))


def openssl_key(n: int, e: int) -> Any:
    """A callable `(message, signature) -> bool` backed by OpenSSL's RSASSA-PKCS1-v1_5/SHA-256 verify."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.hashes import SHA256

    key = rsa.RSAPublicNumbers(e, n).public_key()
    scheme, digest = padding.PKCS1v15(), SHA256()

    def check(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message, scheme, digest)
        except InvalidSignature:
            return False
        return True

    return check


def _der_item(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """The (start, end) of the DER item with `tag` at `pos`. Raises: ValueError."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("unexpected DER item")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        octets = length & 0x7F
        if octets == 0 or octets > 4 or pos + octets > len(data):
            raise ValueError("bad DER length")
        length, pos = int.from_bytes(data[pos : pos + octets], "big"), pos + octets
    if pos + length > len(data):
        raise ValueError("truncated DER item")
    return pos, pos + length


def _der_integer(data: bytes, pos: int) -> tuple[int, int]:
    start, end = _der_item(data, pos, 0x02)
    value = int.from_bytes(data[start:end], "big", signed=True)
    if value <= 0:
        raise ValueError("RSA key numbers are positive")
    return value, end


def public_key_from_pkcs8_pem(pem: str) -> RsaPublicKey:
    """`(n, e)` of an unencrypted PKCS#8 RSA private key, as twostep's key records hold it.

    Raises:
        ValueError: not an unencrypted PKCS#8 RSA private key.
    """
    lines = pem.strip().splitlines()
    if (
        len(lines) < 3
        or lines[0] != "-----BEGIN PRIVATE KEY-----"
        or lines[-1] != "-----END PRIVATE KEY-----"
    ):
        raise ValueError("not a PKCS#8 PEM private key")
    der = base64.b64decode("".join(lines[1:-1]), validate=True)
    start, _ = _der_item(der, 0, 0x30)  # PrivateKeyInfo
    pos = _after_version_zero(der, start)
    algorithm_start, pos = _der_item(der, pos, 0x30)
    oid_start, oid_end = _der_item(der, algorithm_start, 0x06)
    if der[oid_start:oid_end] != RSA_ENCRYPTION_OID:
        raise ValueError("not an RSA key")
    key_start, _ = _der_item(der, pos, 0x04)  # privateKey OCTET STRING holding RSAPrivateKey
    inner, _ = _der_item(der, key_start, 0x30)
    pos = _after_version_zero(der, inner)
    n, pos = _der_integer(der, pos)
    e, _ = _der_integer(der, pos)
    return RsaPublicKey(n, e)


def public_key_from_spki_pem(pem: str) -> RsaPublicKey:
    """`(n, e)` of an RSA public key in SubjectPublicKeyInfo PEM, as a sealed secret's public records
    hold it (`SigningKey.public_record`).

    Raises:
        ValueError: not an RSA SubjectPublicKeyInfo PEM.
    """
    lines = pem.strip().splitlines()
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----" or lines[-1] != "-----END PUBLIC KEY-----":
        raise ValueError("not a PEM public key")
    der = base64.b64decode("".join(lines[1:-1]), validate=True)
    start, _ = _der_item(der, 0, 0x30)  # SubjectPublicKeyInfo
    algorithm_start, pos = _der_item(der, start, 0x30)
    oid_start, oid_end = _der_item(der, algorithm_start, 0x06)
    if der[oid_start:oid_end] != RSA_ENCRYPTION_OID:
        raise ValueError("not an RSA key")
    bits_start, _ = _der_item(der, pos, 0x03)  # subjectPublicKey BIT STRING holding RSAPublicKey
    if der[bits_start : bits_start + 1] != b"\x00":
        raise ValueError("unexpected unused bits")
    inner, _ = _der_item(der, bits_start + 1, 0x30)
    n, pos = _der_integer(der, inner)
    e, _ = _der_integer(der, pos)
    return RsaPublicKey(n, e)


def _after_version_zero(data: bytes, pos: int) -> int:
    """Where the item after the INTEGER `version` (which must be 0) at `pos` starts. Raises: ValueError."""
    start, end = _der_item(data, pos, 0x02)
    if data[start:end] != b"\x00":
        raise ValueError("unsupported key version")
    return end
