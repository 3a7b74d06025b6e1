"""The prefix guard: a number block whose codes are sent but not used is blocked for a while (403
`destination_blocked`, audited once, a warning); a converting block never is; the safe list never is;
`twostep fraud status` lists blocks and `twostep fraud unblock` lifts one."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.fraud.conftest import MakeGuarded, mobile
from tests.limits.helpers import SPEC
from tests.live import run_cli
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import DestinationBlocked, NotFound
from twostep.domain.models import RequestContext
from twostep.logs import JsonFormatter

PUMPED, OTHER = "+49151123", "+49170123"  # two number blocks (prefixes +491511230 and +491701230)
SETTINGS = {"ip_sms_per_hour": 100_000, "fraud_min_sends": 10, "fraud_min_conversion": 0.3}


def send(container: Container, phone: str) -> str:
    """Issue one code (each from its own address); "sent" or the refusal's code."""
    ctx = RequestContext(ip=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.1")
    try:
        container.codes.issue(
            challenge_id=str(uuid.uuid4()), purpose="verify", subject="a", phone=phone, spec=SPEC, ctx=ctx
        )
    except DestinationBlocked as refused:
        return refused.code
    return "sent"


def send_and_verify(container: Container, phone: str) -> None:
    challenge_id = str(uuid.uuid4())
    container.codes.issue(challenge_id=challenge_id, purpose="verify", subject="a", phone=phone, spec=SPEC)
    body = container.storage.list_outbox(to=phone, last=1)[-1].body
    code = re.match(r"\d+", body)
    assert code is not None
    container.codes.check(challenge_id, code.group(0), "verify")


def test_unused_codes_block_the_prefix(guarded: MakeGuarded, caplog: pytest.LogCaptureFixture) -> None:
    container = guarded(**SETTINGS)
    caplog.set_level(logging.WARNING, logger="twostep.fraud")
    results = [send(container, mobile(i, PUMPED)) for i in range(15)]
    assert results == ["sent"] * 10 + ["destination_blocked"] * 5
    assert send(container, mobile(1, OTHER)) == "sent"  # another block is not affected
    blocked = [e for e in container.storage.list_audit(limit=500) if e.event == "destination_blocked"]
    assert len(blocked) == 1  # recorded once, however many sends it refuses
    assert blocked[0].detail["prefix"] == "+491511230"
    assert (blocked[0].detail["sent"], blocked[0].detail["verified"]) == ("10", "0")
    warnings = [r for r in caplog.records if getattr(r, "prefix", None) == "+491511230"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_a_converting_prefix_stays_open(guarded: MakeGuarded) -> None:
    container = guarded(**SETTINGS)
    for i in range(40):  # real users: nine in ten use their code
        if i % 10 == 9:
            assert send(container, mobile(i, PUMPED)) == "sent"
        else:
            send_and_verify(container, mobile(i, PUMPED))
    assert container.fraud.blocked() == []


def test_the_block_answers_403_with_retry_after_and_lifts_by_itself(
    guarded: MakeGuarded, clock: FixedClock
) -> None:
    container = guarded(**SETTINGS, fraud_block_seconds=3600)
    for i in range(10):
        send(container, mobile(i, PUMPED))
    with TestClient(create_app(container)) as client:
        api = client.post("/verifications", json={"auth_id": "x", "recipient": mobile(50, PUMPED)})
        assert api.status_code == 403, api.text
        assert (api.json()["reason"], api.json()["code"]) == ("DestinationBlocked", "destination_blocked")
        assert api.headers["retry-after"] == "3600"
    clock.advance(3600 * 2)  # the block ran out and the window moved on: the counts start again
    assert send(container, mobile(51, PUMPED)) == "sent"


def test_the_safe_list_is_never_blocked(guarded: MakeGuarded) -> None:
    container = guarded(**SETTINGS, sms_safe_list=f"{mobile(77, PUMPED)},+4917")
    for i in range(12):
        send(container, mobile(i, PUMPED))
    assert send(container, mobile(78, PUMPED)) == "destination_blocked"
    assert send(container, mobile(77, PUMPED)) == "sent"  # a safe number inside a blocked prefix
    for i in range(30):  # a safe prefix never gets blocked at all
        assert send(container, mobile(i, OTHER)) == "sent"


@pytest.mark.parametrize(
    ("entry", "e164"),
    [
        ("+4407911123456", "+447911123456"),
        ("+784951234567", "+74951234567"),
        ("+\uff14\uff1915112345678", None),
    ],
)
def test_a_safe_list_entry_in_another_spelling_of_a_number_is_refused(entry: str, e164: str | None) -> None:
    """Before, a number written with its national trunk digit (+44 0…, Russia's 8) or in full-width digits
    was taken, then never matched: the guard compares numbers in E.164 form, so it could still block it."""
    from pydantic import ValidationError

    from twostep.settings import Settings

    with pytest.raises(ValidationError, match=re.escape(e164 or "is not an E.164 number")):
        Settings(_env_file=None, sms_safe_list=[entry])  # type: ignore[call-arg]
    assert Settings(_env_file=None, sms_safe_list=["+447911123456", "+44791"]).sms_safe_list  # type: ignore[call-arg]


def test_status_and_unblock(guarded: MakeGuarded) -> None:
    container = guarded(**SETTINGS)
    for i in range(11):
        send(container, mobile(i, PUMPED))
    (block,) = container.fraud.blocked()
    assert (block.prefix, block.sent, block.verified) == ("+491511230", 10, 0)
    container.fraud.unblock("+491511230")
    assert container.fraud.blocked() == []
    assert send(container, mobile(20, PUMPED)) == "sent"  # the counts started afresh
    with pytest.raises(NotFound):
        container.fraud.unblock("+491511230")
    events = [e.event for e in container.storage.list_audit(limit=500)]
    assert "destination_unblocked" in events


def test_the_log_lines_name_the_prefix(guarded: MakeGuarded, caplog: pytest.LogCaptureFixture) -> None:
    """Before, the warnings on a block and an unblock carried `"prefix": "[redacted]"` (the phone number
    rule matched +491511230), so an operator's alert could not say which prefix; now it is written whole."""
    container = guarded(**SETTINGS)
    caplog.set_level(logging.WARNING, logger="twostep.fraud")
    for i in range(11):
        send(container, mobile(i, PUMPED))
    container.fraud.unblock("+491511230")
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "twostep.fraud"]
    assert [(line["message"][:24], line["prefix"]) for line in lines] == [
        ("sms to a number prefix b", "+491511230"),
        ("sms prefix unblocked by ", "+491511230"),
    ]


def test_the_guard_can_be_turned_off(guarded: MakeGuarded) -> None:
    container = guarded(**{**SETTINGS, "fraud_guard": False})
    assert [send(container, mobile(i, PUMPED)) for i in range(20)] == ["sent"] * 20


def test_cli_status_and_unblock(make_container: MakeGuarded, clock: FixedClock) -> None:
    import os
    import subprocess

    clock.advance((datetime.now(UTC) - clock.now()).total_seconds())  # the CLI reads the real clock
    container = make_container(storage="sqlite", **{**SETTINGS, "fraud_guard": True})
    for i in range(11):
        send(container, mobile(i, PUMPED))
    settings = container.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env |= {
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(settings.sqlite_path),
        "TWOSTEP_JWT_KEY_FILE": str(settings.jwt_key_file),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(env, "fraud", *args, timeout=60)

    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert "+491511230" in status.stdout and "sent 10, verified 0" in status.stdout
    assert cli("unblock", "+491511230").returncode == 0
    assert "no prefix is blocked" in cli("status").stdout
    again = cli("unblock", "+491511230")
    assert again.returncode == 3 and "not blocked" in again.stderr
    assert cli("unblock", "49151").returncode == 1


@pytest.mark.parametrize(("window", "refused"), [(3600, 8), (60, 0)])
def test_the_window_decides_which_sends_are_judged_together(
    guarded: MakeGuarded, clock: FixedClock, window: int, refused: int
) -> None:
    """TWOSTEP_FRAUD_WINDOW_SECONDS at another value than its default (never run so before): unused codes
    50 s apart are pumping within an hour, and never add up within a minute."""
    container = guarded(fraud_min_sends=4, fraud_window_seconds=window)
    results = []
    for i in range(12):
        results.append(send(container, mobile(i, PUMPED)))
        clock.advance(50)
    assert results.count("destination_blocked") == refused
