"""How many DynamoDB, KMS and Secrets Manager requests one sign-in makes (the README's cost estimate).

Counted with a botocore event hook on the boto3 session the container's clients come from. A sign-in
is `POST /login` + `POST /otp/{id}/verify` (registration happens once per user and is counted apart).
The console provider's outbox writes are left out: in a deployed stage SNS sends the text instead.
"""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from tests.aws.conftest import AwsMode
from tests.aws.test_aws_adapters import CallCounter
from twostep.api.app import create_app
from twostep.container import build
from twostep.settings import Settings

pytestmark = pytest.mark.aws

PHONE = "+905555555555"
USER = {
    "firstName": "Cem",
    "lastName": "Onan",
    "email": "count@example.com",
    "password": "correct horse battery staple",
    "phoneNumber": PHONE,
}
# Upper bounds that keep the per-sign-in cost in the README honest; the measured numbers are printed.
# The first sign-in also proves the phone number (a read, one transaction, one Query of other claims):
# three requests that later sign-ins do not make. The fraud guard (issue 12) adds seven: the per-IP and
# per-account SMS counters, the hourly and daily money budgets, the prefix block read, and the prefix's
# sent and verified counts. Issue 20 adds one: a code is stored unusable and armed by one conditional
# write once its SMS went out, so a 503 never leaves a working code behind. Issue 15 adds two: the login
# lists the account's second factors (its authenticator-app record and a Query of its passkeys). Issue 17
# adds one: the delivery record of the texted code (one small PutItem), which its provider's receipt moves.
# Issue 19 folds three: the audit events of the last step (code verified, phone verified on the first
# sign-in, signed in) go in one BatchWriteItem instead of one PutItem each, and the login reads the
# account lock and its wrong-code count with one BatchGetItem. Issue 19 then takes each step's counters
# in one TransactWriteItems (all or nothing: a refused limit takes no unit anywhere), counts and consumes
# a right code in one write, and stores the session with its audit events in one transaction: 33 requests
# become 21, and write units go from 39 to 66, since a transaction's item costs two units. That trade is
# deliberate and priced in docs/guides/aws.md: about $17 more per million sign-ins, twelve fewer round
# trips on the request's latency. Issue 19 also arms a delivered code together with its code_sent audit
# event in one TransactWriteItems (was an UpdateItem and a PutItem): 20 requests, 67 write units.
# The session's transaction then checks that the account still has the credentials its sign-in checked
# (one ConditionCheck: 2 units): 67. The session's pointer by start, in the same transaction (so a page of
# `GET /sessions` reads about a page, not every session of the account), adds 2 units and no request: 69.
SIGN_IN_BUDGET = {"requests": 22, "write_units": 70, "read_units": 12}
# Every later sign-in (the number proven) makes fewer: no proof, and (issue 19) its verify step takes its
# counters, uses its right code and stores the session in one transaction, where an UpdateItem and two
# transactions did that (two requests less, one write unit more); with the account's check, 60 units;
# with the session's pointer by start, 62.
LATER_SIGN_IN_BUDGET = {"requests": 12, "write_units": 62, "read_units": 11}


def _is_outbox(params: dict[str, Any]) -> bool:
    return params.get("Item", {}).get("PK", {}).get("S") == "OUTBOX"


def capacity(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    """Requests and request units for small (< 1 KB) items: a transaction item costs two units,
    a strongly consistent read one, and a write to an item carrying GSI1 keys one more for the index."""
    requests = writes = reads = 0
    for operation, params in calls:
        if _is_outbox(params):
            continue
        requests += 1
        if operation == "TransactWriteItems":
            writes += 2 * len(params["TransactItems"])
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            writes += 1 + ("GSI1PK" in params.get("Item", {}))
        elif operation == "BatchWriteItem":
            for batch in params["RequestItems"].values():
                writes += sum(1 + ("GSI1PK" in r["PutRequest"]["Item"]) for r in batch if "PutRequest" in r)
        elif operation in ("GetItem", "Query"):
            reads += 1
        elif operation == "BatchGetItem":
            reads += sum(len(request["Keys"]) for request in params["RequestItems"].values())
    return {"requests": requests, "write_units": writes, "read_units": reads}


def _sign_in(client: TestClient, container: Any, dynamodb: CallCounter) -> list[tuple[str, dict[str, Any]]]:
    """One sign-in over HTTP; its DynamoDB calls (the test's own outbox read left out)."""
    before = len(dynamodb.calls)
    started = client.post("/login", json={"email": USER["email"], "password": USER["password"]})
    assert started.status_code == 200, started.text
    after_login = len(dynamodb.calls)
    body = container.storage.list_outbox(to=PHONE, last=1)[-1].body  # the test reading, not counted
    code = re.match(r"\d+", body).group(0)  # type: ignore[union-attr]
    marker = len(dynamodb.calls)
    verified = client.post(f"/otp/{started.json()['otpId']}/verify", json={"otp": code})
    assert verified.status_code == 200, verified.text
    return dynamodb.calls[before:after_login] + dynamodb.calls[marker:]


def test_dynamodb_requests_per_sign_in(aws_mode: AwsMode, capsys: pytest.CaptureFixture[str]) -> None:
    session = boto3.session.Session(region_name="us-east-1")
    dynamodb, kms, secrets = (CallCounter(session, name) for name in ("dynamodb", "kms", "secretsmanager"))
    container = build(Settings(), boto_session=session)
    try:
        with TestClient(create_app(container)) as client:
            before_register = len(dynamodb.calls)
            assert client.post("/register", json=USER).status_code == 201
            register_calls = dynamodb.calls[before_register:]
            sign_in_calls = _sign_in(client, container, dynamodb)
            later_calls = _sign_in(client, container, dynamodb)
    finally:
        container.close()
    sign_in, later = capacity(sign_in_calls), capacity(later_calls)
    register = capacity(register_calls)
    with capsys.disabled():
        print(f"\nDynamoDB per sign-in: first {sign_in}, later {later}; per registration: {register}")
        print("later sign-in operations:", [name for name, params in later_calls if not _is_outbox(params)])
        print(f"KMS calls (container lifetime): {len(kms.calls)}; Secrets Manager: {len(secrets.calls)}")
    for name, bound in SIGN_IN_BUDGET.items():
        assert 0 < sign_in[name] <= bound, (name, sign_in)
    for name, bound in LATER_SIGN_IN_BUDGET.items():
        assert 0 < later[name] <= bound, (name, later)
    assert secrets.count("GetSecretValue") == 1
