"""The authorizer's signed AWS calls (`aws.signed_calls`): signatures as botocore makes them, the HTTP
exchange against a local server that reads each request byte for byte, retries, and when boto3 must do
the call instead."""

from __future__ import annotations

import json
import random
import socket
import ssl
import string
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from tests.certificate_authority import CertificateAuthority
from twostep.aws import signed_calls
from twostep.aws.signed_calls import (
    DYNAMODB,
    SECRETS_MANAGER,
    AwsCallFailed,
    Credentials,
    SignedClient,
    signed_client,
    signed_headers,
    split_endpoint,
)

MOMENT = datetime(2026, 11, 29, 9, 30, 15, tzinfo=UTC)


def botocore_authorization(
    credentials: Credentials, service: str, region: str, url: str, headers: dict[str, str], body: bytes
) -> str:
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    boto = BotoCredentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token
    )
    signer = SigV4Auth(boto, service, region)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("botocore.auth.get_current_datetime", lambda: MOMENT.replace(tzinfo=None))
        signer.add_auth(request)
    return str(request.headers["Authorization"])


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "/+=") for _ in range(size))


@pytest.mark.parametrize("seed", range(40))
def test_signature_is_botocores(seed: int) -> None:
    rng = random.Random(seed)
    credentials = Credentials(
        "AKIA" + random_text(rng, 16), random_text(rng, 40), random_text(rng, 300) if seed % 2 else None
    )
    service = rng.choice([DYNAMODB, SECRETS_MANAGER])
    region = rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2"])
    host = rng.choice([f"{service.signing_name}.{region}.amazonaws.com", "127.0.0.1:4566", "localhost:8443"])
    path = rng.choice(["/", "/proxy/"])
    body = json.dumps({"TableName": random_text(rng, 12), "Limit": rng.randint(1, 99)}).encode()
    headers = {"content-type": service.content_type, "x-amz-target": f"{service.target_prefix}.Query"}
    ours = signed_headers(credentials, region, service.signing_name, host, path, headers, body, MOMENT)
    theirs = botocore_authorization(
        credentials, service.signing_name, region, f"https://{host}{path}", headers, body
    )
    assert ours["authorization"] == theirs
    assert ours["x-amz-date"] == "20261129T093015Z"
    assert ours.get("x-amz-security-token") == credentials.session_token


@pytest.mark.parametrize(
    ("endpoint", "parts"),
    [
        ("https://dynamodb.eu-west-1.amazonaws.com", (True, "dynamodb.eu-west-1.amazonaws.com", 443, "/")),
        ("http://127.0.0.1:5000", (False, "127.0.0.1", 5000, "/")),
        ("http://127.0.0.1:5000/", (False, "127.0.0.1", 5000, "/")),
        ("HTTPS://example.com:8443/base/", (True, "example.com", 8443, "/base/")),
    ],
)
def test_endpoints_are_split(endpoint: str, parts: tuple[bool, str, int, str]) -> None:
    assert split_endpoint(endpoint) == parts


@pytest.mark.parametrize(
    "endpoint", ["ftp://example.com", "example.com", "http://", "http://user@example.com", "http://host:port"]
)
def test_other_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(ValueError):
        split_endpoint(endpoint)


LAMBDA_ENVIRONMENT = {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s"}


def test_lambdas_environment_gets_a_client_at_the_services_endpoint() -> None:
    client = signed_client(DYNAMODB, LAMBDA_ENVIRONMENT)
    assert client is not None and client.region == "eu-west-1"
    assert client._netloc == "dynamodb.eu-west-1.amazonaws.com"


def test_configured_endpoints_come_first_as_in_boto3() -> None:
    both = LAMBDA_ENVIRONMENT | {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1000",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:2000",
    }
    secrets, dynamodb = signed_client(SECRETS_MANAGER, both), signed_client(DYNAMODB, both)
    assert secrets is not None and secrets._netloc == "127.0.0.1:2000"
    assert dynamodb is not None and dynamodb._netloc == "127.0.0.1:1000"


@pytest.mark.parametrize(
    "change",
    [
        {"AWS_ACCESS_KEY_ID": ""},
        {"AWS_SECRET_ACCESS_KEY": ""},
        {"AWS_REGION": ""},
        {"AWS_PROFILE": "work"},
        {"AWS_CONFIG_FILE": "/etc/aws"},
        {"AWS_USE_FIPS_ENDPOINT": "true"},
        {"AWS_USE_DUALSTACK_ENDPOINT": "true"},
        {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
        {"AWS_REGION": "cn-north-1"},
        {"AWS_REGION": "us-isob-east-1"},
        {"AWS_REGION": "eu-west-1.evil.example#"},
        {"AWS_REGION": "eu-west-\uff11"},  # a fullwidth digit: alphanumeric, not a region
        {"AWS_ENDPOINT_URL": "ftp://127.0.0.1"},
    ],
)
def test_anything_else_is_left_to_boto3(change: dict[str, str]) -> None:
    assert signed_client(DYNAMODB, LAMBDA_ENVIRONMENT | change) is None


def test_the_region_may_come_from_aws_default_region() -> None:
    environment = LAMBDA_ENVIRONMENT | {"AWS_REGION": "", "AWS_DEFAULT_REGION": "us-west-2"}
    client = signed_client(SECRETS_MANAGER, environment)
    assert client is not None and client.region == "us-west-2"


# A local server that answers each request with the next scripted answer and keeps what it received.

Answer = Callable[[bytes], bytes]


def ok(payload: object) -> Answer:
    data = json.dumps(payload).encode()
    return lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data


def error(status: int, kind: str) -> Answer:
    data = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "no"}).encode()
    return lambda _: b"HTTP/1.1 %d Bad\r\nContent-Length: %d\r\n\r\n" % (status, len(data)) + data


def then_hang_up(answer: Answer) -> Answer:
    """`answer`, then the connection closed without a word (as a server drops an idle kept connection)."""

    def hanging(body: bytes) -> bytes:
        return answer(body)

    hanging.hang_up = True  # type: ignore[attr-defined]
    return hanging


class ScriptedServer:
    def __init__(self, answers: list[Answer], tls: ssl.SSLContext | None = None) -> None:
        self.answers, self.tls = answers, tls
        self.requests: list[tuple[bytes, dict[str, str], bytes]] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):  # the client refused the certificate
                    conn.close()
                    continue
            with conn, conn.makefile("rb") as reader:
                while self.answers:
                    line = reader.readline()
                    if not line:
                        break
                    headers: dict[str, str] = {}
                    while (header := reader.readline().rstrip(b"\r\n")) != b"":
                        name, _, value = header.decode().partition(":")
                        headers[name.strip().lower()] = value.strip()
                    body = reader.read(int(headers["content-length"]))
                    self.requests.append((line.rstrip(b"\r\n"), headers, body))
                    answer = self.answers.pop(0)
                    reply = answer(body)
                    conn.sendall(reply)
                    if (
                        getattr(answer, "hang_up", False)
                        or b"Connection: close" in reply.split(b"\r\n\r\n")[0]
                    ):
                        break

    def close(self) -> None:
        self.listener.close()


StartServer = Callable[..., ScriptedServer]  # `scripted`: answers, and a TLS context for https


@pytest.fixture
def scripted() -> Iterator[StartServer]:
    servers: list[ScriptedServer] = []

    def start(answers: list[Answer], tls: ssl.SSLContext | None = None) -> ScriptedServer:
        servers.append(ScriptedServer(answers, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def client_for(server: ScriptedServer, service: signed_calls.Service = DYNAMODB) -> SignedClient:
    return SignedClient(
        service, "us-east-1", Credentials("AKIDEXAMPLE", "secret", "token"), f"http://127.0.0.1:{server.port}"
    )


def test_a_call_sends_the_request_aws_expects(scripted: StartServer) -> None:
    server = scripted([ok({"Items": []})])
    answer = client_for(server).call("Query", {"TableName": "t"})
    assert answer == {"Items": []}
    line, headers, body = server.requests[0]
    assert line == b"POST / HTTP/1.1"
    assert json.loads(body) == {"TableName": "t"}
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert headers["x-amz-target"] == "DynamoDB_20120810.Query"
    assert headers["x-amz-security-token"] == "token"
    sent = {k: v for k, v in headers.items() if k in ("content-type", "x-amz-target")}
    when = datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    credentials = Credentials("AKIDEXAMPLE", "secret", "token")
    expected = signed_headers(credentials, "us-east-1", "dynamodb", headers["host"], "/", sent, body, when)
    assert headers["authorization"] == expected["authorization"]


def test_the_connection_is_kept_between_calls(scripted: StartServer) -> None:
    server = scripted([ok({"n": 1}), ok({"n": 2})])
    client = client_for(server, SECRETS_MANAGER)
    assert [client.call("GetSecretValue", {})["n"] for _ in range(2)] == [1, 2]
    assert server.connections == 1


def test_a_chunked_answer_is_read_whole(scripted: StartServer) -> None:
    def chunked(_: bytes) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'5;name=value\r\n{"a":\r\n3\r\n 1}\r\n0\r\nX-Trailer: yes\r\n\r\n'
        )

    server = scripted([chunked, ok({"after": True})])
    client = client_for(server)
    assert client.call("Query", {}) == {"a": 1}
    assert client.call("Query", {}) == {"after": True}  # the connection is still in step
    assert server.connections == 1


def test_an_answer_that_closes_is_read_to_the_end(scripted: StartServer) -> None:
    server = scripted([lambda _: b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"b": 2}', ok({"c": 3})])
    client = client_for(server)
    assert client.call("Query", {}) == {"b": 2}
    assert client.call("Query", {}) == {"c": 3}
    assert server.connections == 2


def test_a_refusal_is_not_retried(scripted: StartServer) -> None:
    server = scripted([error(400, "ResourceNotFoundException"), ok({})])
    with pytest.raises(AwsCallFailed) as failed:
        client_for(server).call("Query", {})
    assert failed.value.code == "ResourceNotFoundException"
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "first",
    [error(400, "ThrottlingException"), error(500, "InternalServerError"), lambda _: b"garbage\r\n\r\n"],
)
def test_throttling_server_errors_and_garbage_are_tried_once_more(
    scripted: StartServer, first: Answer
) -> None:
    server = scripted([first, ok({"done": 1})])
    assert client_for(server).call("Query", {}) == {"done": 1}
    assert len(server.requests) == 2


def test_after_the_last_attempt_the_failure_names_the_cause_only(
    scripted: StartServer,
) -> None:
    server = scripted([error(503, "ServiceUnavailable"), error(503, "ServiceUnavailable")])
    with pytest.raises(AwsCallFailed) as failed:
        client_for(server).call("Query", {"TableName": "secret-table"})
    assert str(failed.value) == "Query failed: ServiceUnavailable"


def test_an_endpoint_that_refuses_connections_fails_the_call() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    client = SignedClient(DYNAMODB, "us-east-1", Credentials("a", "b", None), f"http://127.0.0.1:{port}")
    with pytest.raises(AwsCallFailed) as failed:
        client.call("Query", {})
    assert failed.value.code == "ConnectionRefusedError"


def test_an_answer_cut_short_fails_the_call(scripted: StartServer) -> None:
    cut = b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n\r\n{"short"'
    server = scripted([lambda _: cut, lambda _: cut])
    with pytest.raises(AwsCallFailed) as failed:
        client_for(server).call("Query", {})
    assert failed.value.code == "ConnectionError"


def test_an_answer_larger_than_any_aws_answer_is_refused(
    scripted: StartServer,
) -> None:
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\n{}"
    server = scripted([lambda _: huge, lambda _: huge])
    with pytest.raises(AwsCallFailed) as failed:
        client_for(server).call("Query", {})
    assert failed.value.code == "ValueError"


def test_a_line_break_in_a_header_is_never_sent(scripted: StartServer) -> None:
    server = scripted([ok({})])
    forged = Credentials("AKIDEXAMPLE", "secret", "token\r\nX-Forged: yes")
    client = SignedClient(DYNAMODB, "us-east-1", forged, f"http://127.0.0.1:{server.port}")
    with pytest.raises(AwsCallFailed) as failed:
        client.call("Query", {})
    assert failed.value.code == "ValueError"
    assert server.requests == []


def test_a_kept_connection_the_server_dropped_is_reopened_without_spending_a_try(
    scripted: StartServer,
) -> None:
    server = scripted([then_hang_up(ok({"n": 1})), error(500, "InternalServerError"), ok({"n": 3})])
    client = client_for(server)
    assert client.call("Query", {}) == {"n": 1}
    assert client.call("Query", {}) == {"n": 3}  # reopened, then the 500 still had its retry
    assert server.connections == 2 and len(server.requests) == 3


# HTTPS: the server's certificate is checked against the system's trust store, or the client's
# environment's `AWS_CA_BUNDLE`.


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1, the bundle of the authority that issued it (what a client must be given)
    and a server context that presents it. The module's TLS contexts start empty (other tests' are not
    this test's)."""
    monkeypatch.setattr(signed_calls, "_tls_contexts", {})
    authority = CertificateAuthority(tmp_path, file_name="bundle.pem")
    issued = authority.issue("127.0.0.1")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(issued.certificate, issued.key)
    return authority.path, server


def https_client(
    server: ScriptedServer, ca_bundle: Path | None, service: signed_calls.Service = DYNAMODB
) -> SignedClient:
    """A client as `signed_client` makes it from Lambda's environment, with `AWS_CA_BUNDLE` when given."""
    environ = {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"https://127.0.0.1:{server.port}",
    }
    if ca_bundle is not None:
        environ["AWS_CA_BUNDLE"] = str(ca_bundle)
    client = signed_client(service, environ)
    assert client is not None
    return client


def test_https_checks_the_server_against_aws_ca_bundle(
    scripted: StartServer, certificate: tuple[Path, ssl.SSLContext]
) -> None:
    bundle, tls = certificate
    server = scripted([ok({"n": 1})], tls)
    assert https_client(server, bundle).call("Query", {}) == {"n": 1}
    assert server.requests[0][1]["host"] == f"127.0.0.1:{server.port}"


def test_https_refuses_a_server_the_trust_store_does_not_know(
    scripted: StartServer, certificate: tuple[Path, ssl.SSLContext]
) -> None:
    server = scripted([ok({"n": 1})] * 2, certificate[1])
    with pytest.raises(AwsCallFailed) as failed:
        https_client(server, None).call("Query", {})
    assert failed.value.code == "SSLCertVerificationError"
    assert server.requests == []


def test_connections_share_one_tls_context(
    scripted: StartServer,
    certificate: tuple[Path, ssl.SSLContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading the trust store is most of a TLS context's cost; a cold start opens two connections."""
    bundle, tls = certificate
    made: list[str | None] = []
    create = ssl.create_default_context

    def counted(*args: object, cafile: str | None = None) -> ssl.SSLContext:
        made.append(cafile)
        return create(cafile=cafile)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    dynamodb = scripted([ok({"n": 1})], tls)
    secrets = scripted([ok({"n": 2})], tls)
    assert https_client(dynamodb, bundle).call("Query", {}) == {"n": 1}
    assert https_client(secrets, bundle, SECRETS_MANAGER).call("GetSecretValue", {}) == {"n": 2}
    assert made == [str(bundle)]
