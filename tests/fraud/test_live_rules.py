"""Every fraud-guard rule, black-box against a live `twostep serve`: number types, the per-IP and
per-account SMS caps, tenants (rates, namespaces, own text), the prefix guard with `twostep fraud
status|unblock`, the money budget, no open relay with a real provider, Twilio's ValidityPeriod and a
provider's Retry-After. Client addresses differ by source address on loopback (127.0.0.x)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.live import ServerProcess, server_env
from tests.sms.provider_server import ProviderServer, Reply

PASSWORD = "correct horse battery staple"
SHOP, BANK = "shop-live-key-0123456789", "bank-live-key-0123456789"
BLOG = "blog-live-key-0123456789"  # a tenant with the defaults: no text of its own
PUMPED = "+49151777"  # one number block: +491517770 followed by four digits
SAFE = "+4915177701234"


def number(block: int, i: int) -> str:
    """A German mobile number; each test uses its own `block` (its own fraud-guard prefix)."""
    return f"+49151{block:04d}{i:04d}"


def guarded_env(workdir: Path, port: int) -> dict[str, str]:
    return server_env(workdir, port) | {
        "TWOSTEP_IP_SMS_PER_HOUR": "3",
        "TWOSTEP_ACCOUNT_SMS_PER_DAY": "2",
        "TWOSTEP_FRAUD_GUARD": "true",
        "TWOSTEP_FRAUD_MIN_SENDS": "5",
        "TWOSTEP_FRAUD_MIN_CONVERSION": "0.5",
        "TWOSTEP_SMS_SAFE_LIST": SAFE,
        "TWOSTEP_VERIFY_API_KEYS": f"shop:{SHOP},bank:{BANK},blog:{BLOG}",
        "TWOSTEP_VERIFY_TENANTS": json.dumps(
            {"shop": {"sms_per_hour": 100, "allow_message": True}, "bank": {"sms_per_hour": 2}}
        ),
        "TWOSTEP_SMS_PRICES": "FR:1",
        "TWOSTEP_SMS_COUNTRY_BUDGETS": "FR:2/10",
        "TWOSTEP_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("fraud-live")
    process = ServerProcess(workdir)
    process.env = guarded_env(workdir, process.port)
    with process:
        yield process


def client_from(server: ServerProcess, last_octet: int, key: str | None = None) -> httpx.Client:
    """A client whose requests come from 127.0.0.<last_octet>."""
    transport = httpx.HTTPTransport(local_address=f"127.0.0.{last_octet}")
    headers = {"X-Api-Key": key} if key else {}
    return httpx.Client(base_url=server.base_url, transport=transport, headers=headers, timeout=30)


def register(client: httpx.Client, email: str, phone: str) -> httpx.Response:
    body = {"firstName": "A", "lastName": "B", "email": email, "password": PASSWORD, "phoneNumber": phone}
    return client.post("/register", json=body)


def login(client: httpx.Client, email: str) -> httpx.Response:
    return client.post("/login", json={"email": email, "password": PASSWORD})


def create(client: httpx.Client, auth_id: str, recipient: str, **extra: Any) -> httpx.Response:
    return client.post("/verifications", json={"auth_id": auth_id, "recipient": recipient, **extra})


def test_premium_toll_free_and_satellite_numbers_are_refused(server: ServerProcess) -> None:
    with client_from(server, 2) as anonymous, client_from(server, 2, SHOP) as shop:
        for number in ("+19005551234", "+18005551234", "+8816123456789"):
            refused = register(anonymous, f"p{number[1:]}@example.com", number)
            assert refused.status_code == 422 and refused.json()["code"] == "destination_not_allowed"
            api = create(shop, "premium", number)
            assert api.status_code == 422 and api.json()["code"] == "destination_not_allowed"


def test_one_address_gets_three_texts_an_hour(server: ServerProcess) -> None:
    with client_from(server, 3) as attacker, client_from(server, 4) as neighbour:
        for i in range(4):
            assert register(attacker, f"ip{i}@example.com", number(1, i)).status_code == 201
        answers = [login(attacker, f"ip{i}@example.com") for i in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[3].json()["limit"] == "ip_sms_rate"
        assert int(answers[3].headers["retry-after"]) > 0
        assert login(neighbour, "ip3@example.com").status_code == 200


def test_one_account_gets_two_codes_a_day(server: ServerProcess) -> None:
    with client_from(server, 5) as first:
        assert register(first, "acct@example.com", number(2, 0)).status_code == 201
    statuses = []
    for octet in (6, 7, 8):  # a different address each time: only the account cap applies
        with client_from(server, octet) as client:
            answer = login(client, "acct@example.com")
            statuses.append(answer.status_code)
    assert statuses == [200, 200, 429]
    assert answer.json()["limit"] == "account_sms_day"


def test_tenants_have_their_own_rates_namespaces_and_text_rules(server: ServerProcess) -> None:
    with client_from(server, 9, SHOP) as shop, client_from(server, 9, BANK) as bank:
        # One server address, more texts than the per-IP cap: the tenant's rate applies instead.
        assert [create(shop, f"t{i}", number(3, i)).status_code for i in range(5)] == [200] * 5
        assert [create(bank, f"b{i}", number(4, i)).status_code for i in range(3)] == [200, 200, 429]
        assert bank.get("/verifications", params={"auth_id": "t0", "code": "123456"}).status_code == 404
        link = create(shop, "l", number(3, 999), message="{code} https://evil.example/login")
        assert link.status_code == 400 and link.json()["code"] == "message_not_allowed"
    with client_from(server, 9) as anonymous:
        assert create(anonymous, "x", number(5, 0)).status_code == 401  # keys configured: key needed


def test_a_tenant_without_the_right_may_not_send_its_own_text(server: ServerProcess) -> None:
    with client_from(server, 10, BLOG) as blog:
        answer = create(blog, "m2", number(6, 0), message="{code} is your code")
        assert answer.status_code == 400 and answer.json()["code"] == "message_not_allowed"
        assert create(blog, "m3", number(6, 1)).status_code == 200


def test_a_pumped_prefix_is_blocked_listed_and_unblocked(server: ServerProcess) -> None:
    with client_from(server, 11, SHOP) as shop:
        answers = [create(shop, f"pump{i}", f"{PUMPED}0{i:04d}").status_code for i in range(7)]
        assert answers == [200] * 5 + [403] * 2
        blocked = create(shop, "pump-x", f"{PUMPED}09999")
        assert blocked.json()["code"] == "destination_blocked"
        assert int(blocked.headers["retry-after"]) > 0
        assert create(shop, "safe", SAFE).status_code == 200  # on the safe list
        status = server.cli("fraud", "status", "--json")
        assert status.returncode == 0, status.stderr
        (entry,) = [row for row in json.loads(status.stdout) if row["prefix"] == f"{PUMPED}0"]
        assert (entry["sent"], entry["verified"]) == (5, 0)
        # The alert names the prefix (it was [redacted]: the phone number rule matched it).
        assert f"{PUMPED}0" in logged_prefixes(server.log_path.read_text(), "sms to a number prefix blocked")
        unblocked = server.cli("fraud", "unblock", f"{PUMPED}0")
        assert unblocked.returncode == 0, unblocked.stderr
        assert create(shop, "after", f"{PUMPED}08888").status_code == 200


def logged_prefixes(log: str, message: str) -> list[str]:
    """The `prefix` of each JSON log line in `log` whose message starts with `message`."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line["prefix"] for line in lines if str(line["message"]).startswith(message)]


def test_the_money_budget_stops_at_the_country_limit(server: ServerProcess) -> None:
    with client_from(server, 12, SHOP) as shop:
        answers = [create(shop, f"fr{i}", f"+3361234{i:04d}") for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 503]
    assert answers[2].json()["code"] == "sms_budget_exhausted"
    assert int(answers[2].headers["retry-after"]) > 0
    assert "ALERT sms budget exhausted" in server.log_path.read_text()


# --- with a real provider (Twilio, on a local server) ---
@pytest.fixture(scope="module")
def twilio() -> Iterator[ProviderServer]:
    server = ProviderServer().start()
    try:
        yield server
    finally:
        server.stop()


def twilio_env(workdir: Path, port: int, url: str, **extra: str) -> dict[str, str]:
    return server_env(workdir, port) | {
        "TWOSTEP_SMS_PROVIDERS": "twilio",
        "TWOSTEP_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
        "TWOSTEP_TWILIO_AUTH_TOKEN": "twilio-live-token",
        "TWOSTEP_TWILIO_FROM": "+15005550006",
        "TWOSTEP_TWILIO_BASE_URL": url,
        "NO_PROXY": "127.0.0.1",
        **extra,
    }


def test_no_open_relay_with_a_real_provider_and_validity_period(
    tmp_path: Path, twilio: ProviderServer
) -> None:
    twilio.always(Reply.json(201, {"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}))
    process = ServerProcess(tmp_path / "api")
    process.env = twilio_env(process.workdir, process.port, twilio.url)
    with process, client_from(process, 13) as client:
        relay = create(client, "phish", number(7, 0), message="Pay at https://evil.example {code}")
        assert relay.status_code == 401 and relay.json()["reason"] == "InvalidApiKey"
        assert twilio.requests == []  # nothing went out
        assert register(client, "v@example.com", number(7, 1)).status_code == 201
        assert login(client, "v@example.com").status_code == 200
    (sent,) = twilio.requests
    assert parse_qs(sent.body.decode())["ValidityPeriod"] == ["120"]  # TWOSTEP_OTP_TTL_SECONDS


def test_the_standalone_verification_app_refuses_to_start_without_keys(
    tmp_path: Path, twilio: ProviderServer
) -> None:
    process = ServerProcess(tmp_path / "standalone", app="verification")
    process.env = twilio_env(process.workdir, process.port, twilio.url)
    with pytest.raises(RuntimeError) as refused:
        process.start()
    assert "TWOSTEP_VERIFY_API_KEYS" in str(refused.value)


def test_a_providers_retry_after_reaches_the_caller(tmp_path: Path, twilio: ProviderServer) -> None:
    twilio.always(Reply(429, b"", "text/plain", headers=(("Retry-After", "77"),)))
    process = ServerProcess(tmp_path / "throttled")
    process.env = twilio_env(process.workdir, process.port, twilio.url)
    with process, client_from(process, 14) as client:
        assert register(client, "r@example.com", number(8, 0)).status_code == 201
        answer = login(client, "r@example.com")
        assert answer.status_code == 503
        assert 1 <= int(answer.headers["retry-after"]) <= 77
