"""Readiness asks the SMS providers whether they still take our credentials, by a read that sends nothing.

Before, `/healthz/ready` checked storage only: with every provider's credentials wrong (a rotated Twilio
token, a mistyped Flowroute secret) the service passed its probes and failed every sign-in's text. Now
it answers 503 `sms_credentials_refused` when every configured provider refuses them (401/403); a
timeout, a lost connection or a 5xx is not the credentials' fault and keeps it ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.sms.conftest import CREDENTIALS, SECRETS, sms_settings
from tests.sms.provider_server import ProviderServer, Reply
from tests.sms.test_sns import sns_error
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import CredentialsRefused
from twostep.domain.provider_checks import CredentialAnswer
from twostep.services.credential_watch import CredentialWatch, Kind

SID = CREDENTIALS["twilio_account_sid"]
TWILIO_REFUSED = Reply.json(401, {"code": 20003, "message": "Authenticate", "status": 401})
OK = Reply.json(200, {"status": "active"})


@pytest.fixture
def containers(tmp_path: Path, http_client: httpx.Client) -> Iterator[Callable[..., Container]]:
    built: list[Container] = []

    def make(
        clock: FixedClock | None = None, boto_session: boto3.Session | None = None, **overrides: Any
    ) -> Container:
        settings = sms_settings(tmp_path, **overrides)
        container = build(settings, clock=clock or FixedClock(), http=http_client, boto_session=boto_session)
        built.append(container)
        return container

    yield make
    for container in built:
        container.close()


def ready(container: Container) -> httpx.Response:
    with TestClient(create_app(container)) as client:
        return client.get("/healthz/ready")


def test_wrong_twilio_token_makes_readiness_fail_without_the_token(
    start_server: Callable[[], ProviderServer],
    containers: Callable[..., Container],
    caplog: pytest.LogCaptureFixture,
) -> None:
    twilio = start_server()
    twilio.always(TWILIO_REFUSED)
    container = containers(sms_providers=["twilio"], twilio_base_url=twilio.url)

    with caplog.at_level(logging.WARNING):
        answer = ready(container)

    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "sms_credentials_refused"
    assert answer.json()["cause"] == "twilio: HTTP 401"
    (request,) = twilio.requests
    assert (request.method, request.path) == ("GET", f"/2010-04-01/Accounts/{SID}.json")
    assert request.basic_auth() == (SID, CREDENTIALS["twilio_auth_token"])
    lines = [record for record in caplog.records if record.getMessage() == "dependency unavailable"]
    assert [(line.code, line.cause) for line in lines] == [("sms_credentials_refused", "twilio: HTTP 401")]  # type: ignore[attr-defined]
    for secret in SECRETS:
        assert secret not in answer.text and secret not in caplog.text


def test_every_http_provider_is_asked_by_its_own_read(
    start_server: Callable[[], ProviderServer], containers: Callable[..., Container]
) -> None:
    twilio, flowroute, sipgate = start_server(), start_server(), start_server()
    for server in (twilio, flowroute, sipgate):
        server.always(Reply.json(403, {"errors": [{"detail": "no"}]}))
    container = containers(
        sms_providers=["twilio", "flowroute", "sipgate"],
        twilio_base_url=twilio.url,
        flowroute_base_url=flowroute.url,
        sipgate_base_url=sipgate.url,
    )

    answer = ready(container)

    assert answer.status_code == 503, answer.text
    assert answer.json()["cause"] == "twilio: HTTP 403; flowroute: HTTP 403; sipgate: HTTP 403"
    (flowroute_read,) = flowroute.requests
    assert (flowroute_read.method, flowroute_read.path) == ("GET", "/v2/numbers?limit=1")
    assert flowroute_read.basic_auth() == ("fr-access-key", "fr-secret-key-2")
    (sipgate_read,) = sipgate.requests
    assert (sipgate_read.method, sipgate_read.path) == ("GET", "/v2/authorization/userinfo")
    assert sipgate_read.basic_auth() == ("token-ABC123", "sipgate-secret-3")


def test_one_provider_that_takes_its_credentials_keeps_readiness(
    start_server: Callable[[], ProviderServer], containers: Callable[..., Container]
) -> None:
    twilio, flowroute = start_server(), start_server()
    twilio.always(TWILIO_REFUSED)
    flowroute.always(Reply.json(200, {"data": []}))
    container = containers(
        sms_providers=["twilio", "flowroute"], twilio_base_url=twilio.url, flowroute_base_url=flowroute.url
    )

    assert ready(container).status_code == 200


@pytest.mark.parametrize(
    "reply", [Reply.json(500, {"message": "oops"}), Reply(503), Reply.hang()], ids=["500", "503", "hang"]
)
def test_a_provider_failure_that_is_not_the_credentials_keeps_readiness(
    reply: Reply, start_server: Callable[[], ProviderServer], containers: Callable[..., Container]
) -> None:
    twilio = start_server()
    twilio.always(reply)
    container = containers(sms_providers=["twilio"], twilio_base_url=twilio.url)

    started = time.monotonic()
    answer = ready(container)

    assert answer.status_code == 200, answer.text
    assert time.monotonic() - started < 10  # bounded by the check's own short timeout


def test_an_unreachable_provider_keeps_readiness(containers: Callable[..., Container]) -> None:
    container = containers(sms_providers=["twilio"], twilio_base_url="http://127.0.0.1:9")

    assert ready(container).status_code == 200


def test_the_verdict_is_kept_a_minute_when_passed_and_shorter_when_refused(
    start_server: Callable[[], ProviderServer], containers: Callable[..., Container]
) -> None:
    twilio = start_server()
    twilio.always(OK)
    clock = FixedClock()
    container = containers(clock, sms_providers=["twilio"], twilio_base_url=twilio.url)

    for _ in range(5):
        assert ready(container).status_code == 200
    assert len(twilio.requests) == 1
    twilio.always(TWILIO_REFUSED)  # the token is rotated at Twilio
    clock.advance(59)
    assert ready(container).status_code == 200
    assert len(twilio.requests) == 1
    clock.advance(2)
    assert ready(container).status_code == 503
    assert ready(container).status_code == 503
    assert len(twilio.requests) == 2
    twilio.always(OK)  # the new token is deployed; the refusal is asked again after 10 s
    clock.advance(9)
    assert ready(container).status_code == 503
    clock.advance(2)
    assert ready(container).status_code == 200
    assert len(twilio.requests) == 3


def test_the_console_provider_always_passes(containers: Callable[..., Container]) -> None:
    assert ready(containers(sms_providers=["console"])).status_code == 200


class SlowCheck:
    """A provider whose check takes `seconds` and counts how often it is asked."""

    name = "slow"

    def __init__(self, seconds: float, refused: bool) -> None:
        self.seconds, self.refused, self.calls = seconds, refused, 0
        self._lock = threading.Lock()

    def check_credentials(self) -> CredentialAnswer:
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)
        return CredentialAnswer.of_status(self.name, 401 if self.refused else 200)


def test_concurrent_probes_share_one_check_and_none_waits_past_the_limit() -> None:
    check = SlowCheck(1.0, refused=True)
    watch = CredentialWatch([Kind.sms([check])], FixedClock(), wait_seconds=0.2)
    answers: list[CredentialsRefused | None] = []
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: answers.append(watch.refusal())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert time.monotonic() - started < 0.9  # nobody waited for the slow provider
    assert answers == [None] * 8  # no verdict yet: not known to be refused
    assert check.calls == 1
    time.sleep(1.0)
    refusal = watch.refusal()
    assert refusal is not None and refusal.reason == "slow: HTTP 401"
    assert check.calls == 1


def test_sns_wrong_keys_fail_readiness(
    aws_answering: Callable[[Reply], ProviderServer],
    session: boto3.Session,
    containers: Callable[..., Container],
) -> None:
    server = aws_answering(sns_error(403, "InvalidClientTokenId"))
    answer = ready(containers(boto_session=session, sms_providers=["sns"]))

    assert answer.status_code == 503, answer.text
    assert answer.json()["cause"] == "sns: HTTP 403 InvalidClientTokenId"
    (request,) = server.requests
    assert b"Action=GetSMSAttributes" in request.body


def test_sns_keys_without_the_read_permission_keep_readiness(
    aws_answering: Callable[[Reply], ProviderServer],
    session: boto3.Session,
    containers: Callable[..., Container],
) -> None:
    """AuthorizationError: real keys whose IAM policy allows sns:Publish only; they still send."""
    aws_answering(sns_error(403, "AuthorizationError"))
    assert ready(containers(boto_session=session, sms_providers=["sns"])).status_code == 200


def test_sns_on_moto_is_ready(
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
    session: boto3.Session,
    containers: Callable[..., Container],
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    container = containers(boto_session=session, sms_providers=["sns"], sms_timeout_seconds=10)
    assert container.health is not None
    checks = container.sender.credential_checks()  # type: ignore[attr-defined]
    assert [check.check_credentials() for check in checks] == [CredentialAnswer("sns", False, "HTTP 200")]
    assert ready(container).status_code == 200


def test_probes_arriving_during_a_check_answer_at_once_with_the_last_verdict() -> None:
    """Before, every probe that arrived while a check was in flight waited up to 2 s for it, each holding a
    worker thread: a flood of `/healthz/ready` (served on the public app too) while a provider answered
    slowly took the threads every sign-in needs. Only the probe that starts a check waits for it now."""
    check = SlowCheck(0.0, refused=False)
    clock = FixedClock()
    watch = CredentialWatch([Kind.sms([check])], clock, wait_seconds=2.0)
    assert watch.refusal() is None  # a pass, known
    check.seconds = 1.0  # the provider answers slowly now
    clock.advance(61)  # the pass is stale: the next probe starts a check and waits for it
    starter = threading.Thread(target=watch.refusal)
    starter.start()
    time.sleep(0.1)
    waits: list[float] = []

    def probe() -> None:
        began = time.monotonic()
        assert watch.refusal() is None  # the last verdict
        waits.append(time.monotonic() - began)

    probes = [threading.Thread(target=probe) for _ in range(8)]
    for thread in probes:
        thread.start()
    for thread in [*probes, starter]:
        thread.join()

    assert len(waits) == 8 and max(waits) < 0.3, waits
    assert check.calls == 2


def test_twilio_test_credentials_keep_readiness(
    start_server: Callable[[], ProviderServer], containers: Callable[..., Container]
) -> None:
    """Before, Twilio's test credentials, which send (Messages) but are answered 403 code 20008 on any
    other resource, the account's record too, made readiness fail for good on a deployment whose texts
    went out: only a 403 of another code counts against the credentials now."""
    twilio = start_server()
    test_credentials = {"code": 20008, "message": "Resource not accessible with Test Account Credentials"}
    twilio.always(Reply.json(403, {**test_credentials, "status": 403}))
    assert ready(containers(sms_providers=["twilio"], twilio_base_url=twilio.url)).status_code == 200

    twilio.always(Reply.json(403, {"code": 20003, "message": "Permission Denied", "status": 403}))
    answer = ready(containers(sms_providers=["twilio"], twilio_base_url=twilio.url))
    assert answer.status_code == 503 and answer.json()["cause"] == "twilio: HTTP 403"
