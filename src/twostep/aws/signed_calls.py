"""AWS JSON API calls signed with Signature Version 4, for the authorizer's cold start.

The authorizer makes two read calls on AWS: `GetSecretValue` for its keys and a DynamoDB `Query` for the
revocation list. Through boto3 a new Lambda container first imports boto3 and botocore and loads both
services' models and endpoint rules: 330-380 ms on the bench's machine, six times the rest of the cold
start. These two calls need none of it: each is one HTTPS POST of a JSON body, signed with
HMAC-SHA256 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).

Only the plain case is handled, the one Lambda gives a function: credentials and the region in the
environment. Anything that changes how boto3 would find its credentials or endpoint (a profile or config
file, FIPS or dual-stack endpoints, a partition other than `aws`) makes `signed_client` return None, and
the caller uses boto3. Endpoints set through `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` are
honoured as boto3 honours them (tests point both at a moto server).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from twostep.domain.cold_start_typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

CONNECT_TIMEOUT = 2.0  # seconds, as the boto3 clients' `connect_timeout`
READ_TIMEOUT = 5.0
ATTEMPTS = 2  # then the caller falls back to boto3, which retries on its own
# The largest answer read: a Query page is at most 1 MB and a secret at most 64 KiB; more is not AWS.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalServerError",
        "InternalServiceError",
        "ServiceUnavailable",
    }
)
# Settings that make boto3 look for credentials or endpoints somewhere this module does not.
BOTO3_ONLY_SETTINGS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


class Service(NamedTuple):
    signing_name: str  # the service name in the credential scope, and the endpoint's host prefix
    endpoint_variable: str  # AWS_ENDPOINT_URL_<this>, as botocore names it
    target_prefix: str  # X-Amz-Target is "<prefix>.<Operation>"
    content_type: str


DYNAMODB = Service("dynamodb", "DYNAMODB", "DynamoDB_20120810", "application/x-amz-json-1.0")
SECRETS_MANAGER = Service("secretsmanager", "SECRETS_MANAGER", "secretsmanager", "application/x-amz-json-1.1")


class Credentials(NamedTuple):
    access_key_id: str
    secret_access_key: str
    session_token: str | None


class AwsCallFailed(Exception):
    """A call that got no usable answer; `code` is AWS's error type, an HTTP status or the network error's
    class. Never carries the request, the credentials or the answer's body."""

    def __init__(self, operation: str, code: str) -> None:
        super().__init__(f"{operation} failed: {code}")
        self.code = code


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.digest(key, text.encode(), "sha256")


def signing_key(secret_access_key: str, day: str, region: str, service: str) -> bytes:
    """SigV4's derived key for one day, region and service."""
    key = _hmac(("AWS4" + secret_access_key).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def signed_headers(
    credentials: Credentials,
    region: str,
    service: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> dict[str, str]:
    """`headers` plus Host, X-Amz-Date, the session token and the Authorization of a SigV4-signed POST."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    every = {**headers, "host": host, "x-amz-date": stamp}
    if credentials.session_token:
        every["x-amz-security-token"] = credentials.session_token
    named = sorted((name.lower(), " ".join(value.split())) for name, value in every.items())
    names = ";".join(name for name, _ in named)
    canonical = "\n".join(
        [
            "POST",
            path,
            "",  # no query string
            "".join(f"{name}:{value}\n" for name, value in named),
            names,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(
        signing_key(credentials.secret_access_key, day, region, service), to_sign.encode(), "sha256"
    ).hexdigest()
    every["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return every


class SignedClient:
    """One service's JSON API at one endpoint, over one kept connection (reopened when it breaks)."""

    def __init__(
        self,
        service: Service,
        region: str,
        credentials: Credentials,
        endpoint: str,
        ca_bundle: str | None = None,
    ) -> None:
        """`ca_bundle`: the PEM file TLS trusts instead of the system's (`AWS_CA_BUNDLE`).

        Raises: ValueError for an endpoint that is not `http(s)://host[:port][/path]`."""
        self.service, self.region, self._credentials = service, region, credentials
        self._https, self._host, self._port, self._path = split_endpoint(endpoint)
        self._ca_bundle = ca_bundle
        default_port = 443 if self._https else 80
        self._netloc = self._host if self._port == default_port else f"{self._host}:{self._port}"
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The answer's JSON. Raises: AwsCallFailed (after `ATTEMPTS` tries where a retry can help)."""
        body = json.dumps(params).encode()
        attempt, reopened = 0, False
        while True:
            kept = self._connection is not None
            try:
                with self._lock:
                    status, answer = self._post(operation, body)
            except (OSError, ValueError) as exc:  # refused, reset, timed out, TLS, a garbled answer
                self._drop()
                if kept and not reopened:
                    reopened = True  # the server closed the idle kept connection: not a try of its own
                    continue
                failure = AwsCallFailed(operation, type(exc).__name__)
            else:
                if status == 200 and isinstance(answer, dict):
                    return answer
                failure = AwsCallFailed(operation, _error_code(status, answer))
                if status < 500 and failure.code not in RETRYABLE_CODES:
                    raise failure
            attempt += 1
            if attempt == ATTEMPTS:
                raise failure
            time.sleep(0.05 * attempt)

    def _post(self, operation: str, body: bytes) -> tuple[int, Any]:
        headers = {
            "content-type": self.service.content_type,
            "x-amz-target": f"{self.service.target_prefix}.{operation}",
        }
        signed = signed_headers(
            self._credentials,
            self.region,
            self.service.signing_name,
            self._netloc,
            self._path,
            headers,
            body,
            datetime.now(UTC),
        )
        if self._connection is None:
            tls = _tls_context(self._ca_bundle) if self._https else None
            self._connection = Connection(self._host, self._port, tls)
        status, data, keep = self._connection.post(self._path, signed, body)
        if not keep:
            self._drop()
        try:
            return status, json.loads(data) if data else {}
        except ValueError:
            return status, None

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Connection:
    """HTTP/1.1 over one socket (TLS for https): a request, then its answer read whole.

    Not `http.client`: importing it (with the `email` package it parses headers with) costs ~20 ms, most
    of what the authorizer's cold start would save by not importing boto3. An answer is read by its
    Content-Length, chunked, or to the end of the connection, as RFC 9112 §6.3 orders them.
    """

    MAX_LINE = 65536
    MAX_HEADERS = 100

    def __init__(self, host: str, port: int, tls: Any = None) -> None:
        """`tls`: an `ssl.SSLContext` for https (`_tls_context`), None for plain HTTP."""
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.settimeout(READ_TIMEOUT)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._reader = sock.makefile("rb")

    def post(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes, bool]:
        """(status, body, whether the connection can take another request). Raises: OSError, ValueError."""
        head = [f"POST {path} HTTP/1.1", f"content-length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if any("\r" in line or "\n" in line for line in head):
            raise ValueError("a line break in the request's head")
        self._sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = self._line()
        version, _, rest = status_line.partition(b" ")
        if not version.startswith(b"HTTP/1.") or not rest[:3].isdigit():
            raise ValueError("not an HTTP/1.x answer")
        answer_headers = self._headers()
        keep = version == b"HTTP/1.1" and answer_headers.get(b"connection", b"").lower() != b"close"
        if answer_headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            return int(rest[:3]), self._chunked(), keep
        length = answer_headers.get(b"content-length")
        if length is not None:
            return int(rest[:3]), self._exactly(int(length)), keep
        data = self._reader.read(MAX_ANSWER_BYTES + 1)
        if len(data) > MAX_ANSWER_BYTES:
            raise ValueError("an answer larger than any AWS answer")
        return int(rest[:3]), data, False

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def _line(self) -> bytes:
        line = self._reader.readline(self.MAX_LINE + 1)
        if not line.endswith(b"\n") or len(line) > self.MAX_LINE:
            raise ConnectionError("the answer ended early or has an overlong line")
        return line.rstrip(b"\r\n")

    def _headers(self) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for _ in range(self.MAX_HEADERS):
            line = self._line()
            if not line:
                return found
            name, colon, value = line.partition(b":")
            if not colon:
                raise ValueError("a header line without a colon")
            found[name.strip().lower()] = value.strip()
        raise ValueError("too many header lines")

    def _exactly(self, size: int) -> bytes:
        if not 0 <= size <= MAX_ANSWER_BYTES:
            raise ValueError("an answer larger than any AWS answer")
        data = self._reader.read(size)
        if len(data) != size:
            raise ConnectionError("the answer ended early")
        return data

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self._line().split(b";", 1)[0].strip(), 16)
            if size == 0:
                self._headers()  # trailers, up to the empty line
                return b"".join(parts)
            parts.append(self._exactly(size))
            if sum(map(len, parts)) > MAX_ANSWER_BYTES:
                raise ValueError("an answer larger than any AWS answer")
            if self._line():
                raise ValueError("a chunk longer than its size")


def split_endpoint(endpoint: str) -> tuple[bool, str, int, str]:
    """(https, host, port, path) of `http(s)://host[:port][/path]`. Raises: ValueError."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ValueError("not an http(s) endpoint")
    https = scheme.lower() == "https"
    netloc, slash, path = rest.partition("/")
    host, colon, port = netloc.rpartition(":") if netloc.count(":") == 1 else (netloc, "", "")
    if not colon:
        host = netloc
    if not host or "@" in host or (colon and not port.isdigit()):
        raise ValueError("not a host[:port]")
    return https, host, int(port) if colon else (443 if https else 80), "/" + path if slash else "/"


def _error_code(status: int, answer: Any) -> str:
    """AWS's error type from a JSON error body (`{"__type": "…#ThrottlingException"}`), else the status."""
    kind = answer.get("__type") if isinstance(answer, dict) else None
    return str(kind).rsplit("#", 1)[-1] if kind else f"HTTP {status}"


_tls_contexts: dict[str | None, Any] = {}  # per CA bundle (None: the system's), for the process
_tls_contexts_lock = threading.Lock()


def _tls_context(cafile: str | None) -> Any:
    """One context per CA bundle, shared by every connection: loading the trust store costs 20-35 ms of
    CPU here (OpenSSL 3 parses the whole bundle), and a cold start opens two connections at once."""
    with _tls_contexts_lock:
        if cafile not in _tls_contexts:
            import ssl

            _tls_contexts[cafile] = ssl.create_default_context(cafile=cafile)
        return _tls_contexts[cafile]


def credentials_from(environ: Mapping[str, str]) -> Credentials | None:
    key_id, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        return None
    return Credentials(key_id, secret, environ.get("AWS_SESSION_TOKEN") or None)


def endpoint_for(service: Service, region: str, environ: Mapping[str, str]) -> str:
    """The endpoint boto3 would use: the service's own variable, then the global one, then AWS's."""
    configured = environ.get(f"AWS_ENDPOINT_URL_{service.endpoint_variable}") or environ.get(
        "AWS_ENDPOINT_URL"
    )
    return configured or f"https://{service.signing_name}.{region}.amazonaws.com"


def signed_client(service: Service, environ: Mapping[str, str] | None = None) -> SignedClient | None:
    """A client for the plain case (see the module docstring), or None where boto3 must do the call."""
    env = os.environ if environ is None else environ
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    credentials = credentials_from(env)
    if not region or credentials is None or any(env.get(name) for name in BOTO3_ONLY_SETTINGS):
        return None
    if not (region.isascii() and region.replace("-", "").isalnum()) or region.startswith(("cn-", "us-iso")):
        return None  # another partition's domain (amazonaws.com.cn, c2s.ic.gov, …): boto3 knows it
    try:
        endpoint = endpoint_for(service, region, env)
        return SignedClient(service, region, credentials, endpoint, env.get("AWS_CA_BUNDLE") or None)
    except ValueError:
        return None
