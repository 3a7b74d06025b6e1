"""Generated RS256 access tokens, good and bad, for the differential test of the PyJWT-free verifier.

`TokenCases(seed).generate(count)` yields `(family, token)` pairs: valid tokens with random claims,
times around every boundary, each claim dropped, nulled or retyped, header changes (alg, typ, kid,
crit, b64, remote-key headers, non-object or non-UTF-8 JSON), signatures by another key, bit flips,
wrong lengths, integers >= n, hand-made encodings a lenient parser would accept (no NULL in the
DigestInfo, SHA-1, block type 2, short padding, trailing bytes), non-canonical base64, padding,
extra segments, and payloads that are not a JSON object. Nothing here decides what is right: the test
compares the new verifier's answer with `TokenVerifier`'s (PyJWT) on each token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256

ISSUER = "https://issuer.example"
AUDIENCE = "twostep-api"
NOW = 1_800_000_000
LEEWAY = 30
KID = "key-1"
OTHER_KID = "key-2"
SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
SHA256_INFO_NO_NULL = bytes.fromhex("302f300b0609608648016503040201" + "0420")
SHA1_INFO = bytes.fromhex("3021300906052b0e03021a05000414")
Json = Any
DROP = object()


@cache
def private_key(name: str) -> rsa.RSAPrivateKey:
    """One 2048-bit key per name for the whole test session (making one takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_sign(key: rsa.RSAPrivateKey, encoded: bytes) -> bytes:
    """`encoded^d mod n`: a signature over any encoded block, valid or not by RFC 8017 (by the CRT)."""
    numbers = key.private_numbers()
    n = numbers.public_numbers.n
    block = int.from_bytes(encoded, "big")
    m1, m2 = pow(block, numbers.dmp1, numbers.p), pow(block, numbers.dmq1, numbers.q)
    signature = m2 + numbers.q * ((numbers.iqmp * (m1 - m2)) % numbers.p)
    return signature.to_bytes((n.bit_length() + 7) // 8, "big")


def emsa(message: bytes, *, info: bytes = SHA256_INFO, block_type: int = 1, fill: int = 0xFF,
         length: int = 256, extra: bytes = b"", padding_len: int | None = None) -> bytes:  # fmt: skip
    """An EMSA-PKCS1-v1_5-like block; with the defaults exactly the valid one."""
    digest = (hashlib.sha1 if info == SHA1_INFO else hashlib.sha256)(message).digest()
    body = info + digest + extra
    pad = length - 3 - len(body) if padding_len is None else padding_len
    block = bytes([0, block_type]) + bytes([fill]) * pad + b"\x00" + body
    return block.rjust(length, b"\x00")[:length] if len(block) != length else block


class TokenCases:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.key, self.other = private_key("service"), private_key("attacker")
        self.n = self.key.public_key().public_numbers().n

    # ---- building blocks
    def claims(self, **changes: Json) -> dict[str, Json]:
        r = self.r
        iat = NOW - r.randrange(0, 800)
        claims: dict[str, Json] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": r.choice(["user-1", "ü-ser", "u" * r.randrange(1, 60)]),
            "email": r.choice(["a@example.com", "é@example.org"]),
            "iat": iat,
            "nbf": iat,
            "exp": iat + 900,
            "jti": f"{r.getrandbits(64):x}",
            "amr": r.choice([["pwd", "sms"], ["mfa"], ["pwd"], [], ["otp", "pwd", "hwk"]]),
            "sid": f"s-{r.getrandbits(32)}",
            "auth_time": iat - r.randrange(0, 5000),
        }
        if r.random() < 0.2:
            claims[f"x{r.randrange(99)}"] = r.choice([1, "two", [3], {"four": 4}, None])
        if r.random() < 0.2:
            del claims["nbf"]
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not DROP}

    def header(self, **changes: Json) -> dict[str, Json]:
        header: dict[str, Json] = {"alg": "RS256", "typ": "at+jwt", "kid": KID}
        header.update(changes)
        return {k: v for k, v in header.items() if v is not DROP}

    def token(
        self, header: Json = None, claims: Json = None, *, sign: Callable[[bytes], bytes] | None = None
    ) -> str:
        head = header if header is not None else self.header()
        body = claims if claims is not None else self.claims()
        head_bytes = head if isinstance(head, bytes) else json.dumps(head).encode()
        body_bytes = body if isinstance(body, bytes) else json.dumps(body).encode()
        signing_input = f"{b64(head_bytes)}.{b64(body_bytes)}".encode()
        signature = (sign or self.sign)(signing_input)
        return f"{signing_input.decode()}.{b64(signature)}"

    def sign(self, signing_input: bytes) -> bytes:
        return self.key.sign(signing_input, padding.PKCS1v15(), SHA256())

    # ---- families
    def valid(self) -> str:
        return self.token()

    def times(self) -> str:
        r = self.r
        edge = r.choice([-2, -1, -0.5, 0, 0.5, 1, 2])
        name = r.choice(["exp", "nbf", "iat", "auth_time"])
        iat = NOW - 100
        value = {
            "exp": NOW - LEEWAY + edge,
            "nbf": NOW + LEEWAY + edge,
            "iat": NOW + LEEWAY + edge,
            "auth_time": iat + LEEWAY + edge,
        }[name]
        if name == "iat":
            return self.token(claims=self.claims(iat=value, nbf=iat, auth_time=iat))
        if name == "auth_time":
            return self.token(claims=self.claims(iat=iat, nbf=iat, exp=NOW + 500, auth_time=value))
        return self.token(claims=self.claims(**{name: value}))

    def claim_types(self) -> str:
        name = self.r.choice(
            ["iss", "aud", "sub", "email", "iat", "nbf", "exp", "jti", "amr", "sid", "auth_time"]
        )
        value = self.r.choice([DROP, None, 0, 1, NOW, NOW + 0.5, True, False, "", "x", str(NOW), [], ["x"],
                               [AUDIENCE], [ISSUER], {}, {"a": 1}, ISSUER, AUDIENCE, "pwd", ["pwd", 1],
                               10**30, -(10**30), 1e300])  # fmt: skip
        return self.token(claims=self.claims(**{name: value}))

    def headers(self) -> str:
        r = self.r
        change = r.choice([
            {"alg": "none"}, {"alg": "rs256"}, {"alg": "RS384"}, {"alg": "HS256"}, {"alg": "ES256"},
            {"alg": DROP}, {"alg": None}, {"alg": ["RS256"]}, {"typ": DROP}, {"typ": "JWT"}, {"typ": "at+JWT"},
            {"typ": "application/at+jwt"}, {"kid": DROP}, {"kid": 1}, {"kid": None}, {"kid": "unknown"},
            {"kid": OTHER_KID}, {"kid": ""}, {"crit": ["exp"]}, {"crit": []}, {"b64": False},
            {"b64": True}, {"b64": 0}, {"b64": False, "crit": ["b64"]}, {"jku": "http://127.0.0.1:9/k"},
            {"x5u": "http://127.0.0.1:9/c"}, {"jwk": {"kty": "RSA"}}, {"cty": "JWT"}, {"zip": "DEF"}, {},
        ])  # fmt: skip
        return self.token(header=self.header(**change))

    def header_bytes(self) -> str:
        header = json.dumps(self.header())
        raw = self.r.choice([
            b"[]", b'"RS256"', b"null", b"{", b"{}", header.encode("utf-16"), header.encode("utf-16-le"),
            header.encode("utf-32"), b"\xef\xbb\xbf" + header.encode(), header.encode() + b" ",
            header.replace('"kid"', '"kid": 1, "kid"').encode(), header.replace('"kid"', '"k\\u0069d"').encode(),
            b"\xff" + header.encode(), b"[" * 2000 + b"]" * 2000,
        ])  # fmt: skip
        return self.token(header=raw)

    def payload_bytes(self) -> str:
        claims = json.dumps(self.claims())
        raw = self.r.choice([
            b"[]", b"1", b'"x"', b"null", b"{", claims.encode("utf-16"), b"\xef\xbb\xbf" + claims.encode(),
            claims.replace('"exp": ', '"exp": 1, "exp": ').encode(),
            claims.replace('"exp": ', '"exp": NaN, "e": ').encode(),
            claims.replace('"exp": ', '"exp": Infinity, "e": ').encode(),
            claims.replace('"exp": ', '"exp": 1e400, "e": ').encode(),
            claims.replace('"iat": ', '"iat": -Infinity, "i": ').encode(),
            b"[" * 2500 + b"]" * 2500, claims.encode() + b"\x00",
        ])  # fmt: skip
        return self.token(claims=raw)

    def signatures(self) -> str:
        r = self.r
        choice = r.randrange(9)
        if choice == 0:
            return self.token(sign=lambda m: self.other.sign(m, padding.PKCS1v15(), SHA256()))
        if choice == 1:
            return self.token(
                header=self.header(kid=OTHER_KID),
                sign=lambda m: self.other.sign(m, padding.PKCS1v15(), SHA256()),
            )
        if choice == 2:  # flip one bit of a valid signature

            def flipped(m: bytes) -> bytes:
                signature = bytearray(self.sign(m))
                signature[r.randrange(len(signature))] ^= 1 << r.randrange(8)
                return bytes(signature)

            return self.token(sign=flipped)
        if choice == 3:  # wrong lengths, with and without the same integer value

            def resized(m: bytes) -> bytes:
                signature = self.sign(m)
                return r.choice([signature[1:], b"\x00" + signature, signature + b"\x00", signature[:-1],
                                 signature.lstrip(b"\x00"), b"", b"\x00"])  # fmt: skip

            return self.token(sign=resized)
        if choice == 4:  # integers at or above the modulus, or degenerate

            def big(m: bytes) -> bytes:
                s = int.from_bytes(self.sign(m), "big")
                value = r.choice([s + self.n, self.n, self.n + 1, 2**2048 - 1, 0, 1, self.n - 1])
                return value.to_bytes(256, "big") if value < 2**2048 else b"\xff" * 256

            return self.token(sign=big)
        if choice == 5:  # well-signed blocks that are not the one valid encoding

            def forged(m: bytes) -> bytes:
                block = r.choice([
                    emsa(m, info=SHA256_INFO_NO_NULL), emsa(m, info=SHA1_INFO), emsa(m, block_type=2),
                    emsa(m, block_type=0, fill=0), emsa(m, padding_len=7), emsa(m, fill=0xFE),
                    emsa(m, extra=b"\x00" * 8, padding_len=192), emsa(m, padding_len=190),
                    emsa(m + b"x"),
                ])  # fmt: skip
                return raw_sign(self.key, block[:256].rjust(256, b"\x00"))

            return self.token(sign=forged)
        if choice == 6:  # tamper the payload after signing
            token = self.token()
            head, _, signature = token.split(".")
            return f"{head}.{b64(json.dumps(self.claims(sub='admin')).encode())}.{signature}"
        if choice == 7:  # tamper the header after signing
            token = self.token()
            _, body, signature = token.split(".")
            return f"{b64(json.dumps(self.header(typ='at+jwt', x=1)).encode())}.{body}.{signature}"
        return self.token(sign=lambda m: raw_sign(self.key, emsa(m)) if r.random() < 0.2 else b"\x00" * 256)

    def encodings(self) -> str:
        r = self.r
        token = self.token()
        parts = token.split(".")
        choice = r.randrange(8)
        if choice == 0:  # non-canonical last character (same bytes, other unused bits) in one segment
            index = r.randrange(3)
            segment = parts[index]
            if len(segment) % 4 in (2, 3):
                alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                value = alphabet.index(segment[-1]) ^ (1 if len(segment) % 4 == 3 else r.choice([1, 2, 4, 8]))
                parts[index] = segment[:-1] + alphabet[value]
            return ".".join(parts)
        if choice == 1:
            parts[r.randrange(3)] += "=" * r.randrange(1, 3)
            return ".".join(parts)
        if choice == 2:
            return ".".join(parts + r.choice([["x"], [""], [parts[2]]]))
        if choice == 3:
            return r.choice(
                [".".join(parts[:2]), parts[0], ".".join(parts[:2]) + ".", "." + token, token + "."]
            )
        if choice == 4:
            parts[r.randrange(3)] += r.choice(["A", "AB", "ABC", "ABCD"])
            return ".".join(parts)
        if choice == 5:
            position = r.randrange(len(token))
            return token[:position] + r.choice(["+", "/", " ", "\n", "é", "\x00", "*"]) + token[position:]
        if choice == 6:
            return token.replace("-", "+").replace("_", "/")
        return token + "A" * r.choice([0, 8192 - len(token), 8193 - len(token), 9000 - len(token)])

    def generate(self, count: int) -> Iterator[tuple[str, str]]:
        families: list[tuple[str, Callable[[], str], int]] = [
            ("valid", self.valid, 3),
            ("times", self.times, 2),
            ("claim_types", self.claim_types, 3),
            ("headers", self.headers, 2),
            ("header_bytes", self.header_bytes, 1),
            ("payload_bytes", self.payload_bytes, 1),
            ("signatures", self.signatures, 3),
            ("encodings", self.encodings, 2),
        ]
        names = [name for name, _, weight in families for _ in range(weight)]
        makers = {name: make for name, make, _ in families}
        for _ in range(count):
            name = self.r.choice(names)
            yield name, makers[name]()
