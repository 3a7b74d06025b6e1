"""Tenants of the verification API: keys name a tenant; `auth_id`s are per tenant; per-tenant text and
limits; a request's own `message` only where allowed, never with a link unless allowed; and no open
relay: without keys the API answers only when nothing but the console provider runs in dev."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import latest_code, settings_for_tests
from tests.fraud.conftest import GUARD_ON, MakeGuarded
from twostep.api.app import create_app
from twostep.api.verification_app import create_verification_app
from twostep.client import SMSAuthClient, SMSAuthError
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError
from twostep.sms.console import ConsoleSender
from twostep.storage.memory import MemoryStorage

A_PHONE, B_PHONE = "+4915112345001", "+4915112345002"
SHOP, BANK = "shop-key-0123456789abcdef", "bank-key-0123456789abcdef"
TENANTS = {
    "shop": {"template": "{code} is your Shop code", "sms_per_hour": 50, "allow_message": True},
    "bank": {"allow_message": True, "allow_urls": True},
}


@pytest.fixture
def keyed(guarded: MakeGuarded) -> Iterator[Callable[..., tuple[TestClient, Container]]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> tuple[TestClient, Container]:
        values = {"verify_api_keys": [f"shop:{SHOP}", f"bank:{BANK}", "legacy-key-0123456789"]}
        values.update(overrides)
        container = guarded(**values)
        client = TestClient(create_app(container))
        clients.append(client)
        return client, container

    yield make
    for client in clients:
        client.close()


def create(client: TestClient, key: str, auth_id: str, phone: str, **extra: Any) -> httpx.Response:
    body = {"auth_id": auth_id, "recipient": phone, **extra}
    return client.post("/verifications", json=body, headers={"X-Api-Key": key})


def check(client: TestClient, key: str, auth_id: str, code: str) -> httpx.Response:
    return client.get("/verifications", params={"auth_id": auth_id, "code": code}, headers={"X-Api-Key": key})


def test_auth_ids_are_per_tenant(keyed: Callable[..., tuple[TestClient, Container]]) -> None:
    client, container = keyed()
    assert create(client, SHOP, "order-1", A_PHONE).status_code == 200
    code = latest_code(container, A_PHONE)
    # The bank guesses the shop's auth_id: unknown to it, and the shop's attempts are untouched.
    for _ in range(5):
        other = check(client, BANK, "order-1", code)
        assert other.status_code == 404 and other.json()["reason"] == "UnknownAuthId"
    # Nor can it re-route the shop's live code to its own number.
    assert create(client, BANK, "order-1", B_PHONE).status_code == 200
    wrong = check(client, SHOP, "order-1", "000000" if code != "000000" else "111111")
    assert wrong.json()["attempts_left"] == 2  # the shop's first wrong try: its budget is whole
    assert check(client, SHOP, "order-1", code).status_code == 200
    bank_code = latest_code(container, B_PHONE)
    assert check(client, BANK, "order-1", bank_code).status_code == 200


def test_each_tenant_has_its_template(keyed: Callable[..., tuple[TestClient, Container]]) -> None:
    client, container = keyed(verify_tenants=TENANTS)
    create(client, SHOP, "o", A_PHONE)
    create(client, BANK, "o", B_PHONE)
    assert container.storage.list_outbox(to=A_PHONE)[-1].body.endswith("is your Shop code")
    # a tenant without its own template gets the bundled text in the number's language (German)
    assert "Bestätigungscode" in container.storage.list_outbox(to=B_PHONE)[-1].body


def test_own_message_only_where_allowed(keyed: Callable[..., tuple[TestClient, Container]]) -> None:
    client, container = keyed(verify_tenants=TENANTS)
    legacy = create(client, "legacy-key-0123456789", "o", A_PHONE, message="Your code: {code}")
    assert legacy.status_code == 400, legacy.text
    assert (legacy.json()["code"], legacy.json()["field"]) == ("message_not_allowed", "message")
    assert create(client, SHOP, "o", A_PHONE, message="Shop: {code}").status_code == 200
    assert container.storage.list_outbox(to=A_PHONE)[-1].body.startswith("Shop: ")
    missing = create(client, SHOP, "p", A_PHONE, message="Shop code")
    assert missing.status_code == 400 and missing.json()["field"] == "message"


@pytest.mark.parametrize(
    "text",
    [
        "Log in at https://evil.example/x {code}",
        "{code} www.evil.com",
        "{code} see evil.co/login",
        "{code} bit.ly",
    ],
)
def test_no_links_unless_allowed(keyed: Callable[..., tuple[TestClient, Container]], text: str) -> None:
    client, container = keyed(verify_tenants=TENANTS)
    refused = create(client, SHOP, "o", A_PHONE, message=text)
    assert refused.status_code == 400 and refused.json()["code"] == "message_not_allowed"
    assert container.storage.list_outbox(to=A_PHONE) == []
    assert create(client, BANK, "o", B_PHONE, message=text).status_code == 200


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        ("{code} log in at evil{minutes}.com/x", {"expiration": 600}),
        ("Pay at {payee}.com/x {code} {amount}", {"amount": "1 EUR", "payee": "evil-shop"}),
        ("{code} at {org}.com/x", {}),
        # a WebOTP line for another origin: browsers would offer the code to that site
        ("{code} is your code.\n\n@evil{minutes}.com #{code}", {"expiration": 600}),
    ],
)
def test_no_link_completed_by_a_placeholder(
    keyed: Callable[..., tuple[TestClient, Container]], text: str, extra: dict[str, str]
) -> None:
    """The link check read the template before its placeholders were filled in, so a placeholder inside a
    host name (`evil{minutes}.com` sent as `evil10.com`) put a working link into the tenant's SMS (200)."""
    client, container = keyed(verify_tenants=TENANTS)
    refused = create(client, SHOP, "o", A_PHONE, message=text, **extra)
    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("message_not_allowed", "message")
    assert container.storage.list_outbox(to=A_PHONE) == []
    assert create(client, BANK, "o", B_PHONE, message=text, **extra).status_code == 200


@pytest.mark.parametrize(
    ("text", "extra", "field"),
    [
        ("{code} log in at \u0440aypal.com/x", {}, "message"),  # a Cyrillic first letter
        ("{code} log in at m\u00fcnchen.de/login", {}, "message"),
        ("{code} \u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", {}, "message"),
        ("{code} log in at evil\uff0ecom", {}, "message"),  # a full-width full stop
        ("{code} h\u0442tps://x", {}, "message"),
        ("{code}: pay {amount} to {payee}.", {"amount": "1 EUR", "payee": "\u0435vil.com"}, "payee"),
    ],
)
def test_no_internationalised_links_unless_allowed(
    keyed: Callable[..., tuple[TestClient, Container]], text: str, extra: dict[str, str], field: str
) -> None:
    """The link check knew only ASCII host names, so a tenant without `allow_urls` could text a link to an
    internationalised host, which phones link like any other: a look-alike name with a Cyrillic letter in
    it, `münchen.de`, a host with a full-width full stop (200, and the SMS went out)."""
    client, container = keyed(verify_tenants=TENANTS)
    refused = create(client, SHOP, "o", A_PHONE, message=text, **extra)
    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("message_not_allowed", field)
    assert container.storage.list_outbox(to=A_PHONE) == []
    assert create(client, BANK, "o", B_PHONE, message=text, **extra).status_code == 200


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        ("{code} log in at 203.0.113.7/login", {}),
        ("{code}: pay {amount} to {payee}", {"amount": "1 EUR", "payee": "198.51.100.23"}),
    ],
)
def test_no_bare_ip_address_unless_allowed(
    keyed: Callable[..., tuple[TestClient, Container]], text: str, extra: dict[str, str]
) -> None:
    """The link check looked for a scheme, `www.` or a named host, so a bare IPv4 address with a path,
    which Android links as it is, went out in the SMS of a tenant without `allow_urls` (200)."""
    client, container = keyed(verify_tenants=TENANTS)
    refused = create(client, SHOP, "o", A_PHONE, message=text, **extra)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "message_not_allowed"
    assert container.storage.list_outbox(to=A_PHONE) == []
    assert create(client, BANK, "o", B_PHONE, message=text, **extra).status_code == 200


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        ("{code}\nWelcome to {org}! ({minutes} min)", {}),
        ("{code} confirms your {org} order. Valid {minutes} min.", {}),
        ("{code}: pay {amount} to {payee}. {minutes} min.", {"amount": "49.90 EUR", "payee": "ACME Shop"}),
        ("{code} ist Ihr Code für {org}. Gültig {minutes} Min.", {}),
        ("{code}: ваш код. Действует {minutes} мин.", {}),
        ("{code}は認証コードです。有効期限は{minutes}分です。", {}),
        ("{code}: zahlen Sie {amount} an {payee}.", {"amount": "5 EUR", "payee": "Bäckerei Müller"}),
        ("{code} is valid until 30.11.2026, version 1.2.3 of the {org} app.", {}),
    ],
)
def test_plain_texts_with_placeholders_pass(
    keyed: Callable[..., tuple[TestClient, Container]], text: str, extra: dict[str, str]
) -> None:
    client, container = keyed(verify_tenants=TENANTS)
    assert create(client, SHOP, "o", A_PHONE, message=text, **extra).status_code == 200
    assert container.storage.list_outbox(to=A_PHONE)[-1].body[:6].isdigit()


def test_per_tenant_rate_from_settings(keyed: Callable[..., tuple[TestClient, Container]]) -> None:
    client, _ = keyed(verify_tenants={"shop": {"sms_per_hour": 2}}, ip_verify_create_per_hour=1)
    answers = [create(client, SHOP, f"o{i}", f"+491511234500{i}").status_code for i in range(3)]
    assert answers == [200, 200, 429]  # the tenant's 2 an hour, not the IP's 1 an hour
    assert create(client, BANK, "o", B_PHONE).status_code == 200


def test_keys_file_and_wrong_keys(keyed: Callable[..., tuple[TestClient, Container]], tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# tenants\nfiled:filed-key-0123456789\n\n", encoding="utf-8")
    client, _ = keyed(verify_api_keys=[], verify_api_keys_file=keys)
    assert create(client, "filed-key-0123456789", "o", A_PHONE).status_code == 200
    for key in (SHOP, "filed", "filed-key-012345678", ""):
        assert create(client, key, "o", A_PHONE).status_code == 401


def test_one_key_for_two_tenants_is_refused_at_start(tmp_path: Path) -> None:
    """Before, a key listed for two tenants (an operator's slip, or a keys file line copied for a new
    tenant) started, and the key silently acted as whichever tenant came last: the other tenant's caller
    got that tenant's `auth_id`s, caps and texts. Start-up now refuses it, naming the tenants only."""
    keys = tmp_path / "keys.txt"
    keys.write_text(f"bank:{SHOP}\n", encoding="utf-8")
    for values in (
        {"verify_api_keys": [f"shop:{SHOP}", f"bank:{SHOP}"]},
        {"verify_api_keys": [f"shop:{SHOP}"], "verify_api_keys_file": keys},
    ):
        with pytest.raises(ConfigurationError, match=r"two tenants \(shop and bank\)") as refused:
            build(settings_for_tests(tmp_path, **values), storage=MemoryStorage())
        assert SHOP not in str(refused.value)
    build(settings_for_tests(tmp_path, verify_api_keys=[f"shop:{SHOP}", f"shop:{SHOP}"])).close()


@pytest.mark.parametrize(
    "line", ["my shop:a-key-0123456789", "sh\u00f6p:a-key-0123456789", ":a-key-0123456789"]
)
def test_a_keys_file_tenant_name_is_checked_as_the_setting_is(tmp_path: Path, line: str) -> None:
    """Before, the keys file took any tenant name (`my shop`, `shöp`) that `TWOSTEP_VERIFY_API_KEYS`
    refuses; the error names the entry's line, never its text (it holds the key)."""
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# tenants\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="API key entry 2: ") as refused:
        build(settings_for_tests(tmp_path, verify_api_keys_file=keys), storage=MemoryStorage())
    assert "a-key-0123456789" not in str(refused.value)


def test_flowroute_client_works_with_a_tenant_key(keyed: Callable[..., tuple[TestClient, Container]]) -> None:
    client, container = keyed()
    transport = httpx.MockTransport(
        lambda request: _forward(client, request)  # the real app, through the client's own HTTP code
    )
    sms = SMSAuthClient("http://testserver/verifications", api_key=SHOP, transport=transport)
    created = sms.create_auth("order-7", A_PHONE)
    assert created["auth_id"] == "order-7"
    assert sms.authenticate_code("order-7", latest_code(container, A_PHONE))["authenticated"] is True
    stranger = SMSAuthClient("http://testserver/verifications", api_key=BANK, transport=transport)
    with pytest.raises(SMSAuthError) as unknown:
        stranger.authenticate_code("order-7", "123456")
    assert unknown.value.reason == "UnknownAuthId"


def _forward(client: TestClient, request: httpx.Request) -> httpx.Response:
    answer = client.request(
        request.method, str(request.url), headers=request.headers, content=request.content
    )
    return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


# --- no open relay ---
def _with_real_provider(tmp_path: Path, clock: FixedClock, **overrides: Any) -> Container:
    """Twilio configured (the settings say so), the console sender injected so nothing leaves the test."""
    values: dict[str, Any] = {
        **GUARD_ON,
        "sms_providers": ["twilio"],
        "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
        "twilio_auth_token": "t",
        "twilio_from": "+15005550006",
        **overrides,
    }
    storage = MemoryStorage()
    return build(
        settings_for_tests(tmp_path, **values),
        clock=clock,
        storage=storage,
        sender=ConsoleSender(storage, clock),
    )


def test_a_real_provider_closes_the_api_without_keys_even_in_dev(tmp_path: Path, clock: FixedClock) -> None:
    container = _with_real_provider(tmp_path, clock)
    try:
        with TestClient(create_app(container)) as client:
            answer = client.post(
                "/verifications", json={"auth_id": "a", "recipient": A_PHONE, "message": "{code}"}
            )
        assert answer.status_code == 401 and answer.json()["reason"] == "InvalidApiKey"
        assert container.storage.list_outbox(last=10) == []
        with pytest.raises(ConfigurationError, match="TWOSTEP_VERIFY_API_KEYS"):
            create_verification_app(container)
    finally:
        container.close()


def test_dev_with_only_the_console_stays_open(guarded: MakeGuarded) -> None:
    container = guarded()
    with TestClient(create_verification_app(container)) as client:
        assert client.post("/", json={"auth_id": "a", "recipient": A_PHONE}).status_code == 200


def test_the_sam_template_deploys_prod_by_default() -> None:
    template = (Path(__file__).resolve().parents[2] / "template.yaml").read_text(encoding="utf-8")
    stage = template.split("  Stage:\n", 1)[1].split("\n  ", 1)[0]
    assert "Default: prod" in template.split("  Stage:\n", 1)[1].split("Description", 1)[0], stage


def test_tenants_json_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TWOSTEP_VERIFY_TENANTS", json.dumps({"shop": {"sms_per_hour": 7}}))
    from twostep.settings import Settings

    settings = Settings(_env_file=None, verify_api_keys=f"shop:{SHOP}")  # type: ignore[call-arg]
    from twostep.policies import tenant_directory

    shop = tenant_directory(settings).find(SHOP)
    assert shop is not None and (shop.name, shop.sms_per_hour) == ("shop", 7)


def test_keys_and_tenants_from_the_aws_secret(tmp_path: Path) -> None:
    from twostep.policies import tenant_directory
    from twostep.secrets import settings_with_secret_credentials

    settings = settings_for_tests(tmp_path)
    extra = {
        "TWOSTEP_VERIFY_API_KEYS": f"shop:{SHOP}",
        "verify_tenants": json.dumps({"shop": {"allow_message": True, "sms_per_hour": 3}}),
    }
    shop = tenant_directory(settings_with_secret_credentials(settings, extra)).find(SHOP)
    assert shop is not None and (shop.name, shop.allow_message, shop.sms_per_hour) == ("shop", True, 3)
