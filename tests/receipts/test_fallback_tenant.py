"""The automatic fallback of a verification acts for the tenant whose request sent the code: the tenant's
hourly cap counts the fallback message, and the tenant's own template writes it. Before, the fallback
was sent without the tenant (cooldown skipped, no request context): a tenant at its cap still got
messages sent, in the deployment's text instead of its own."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from twostep.container import Container
from twostep.domain.errors import RateLimited
from twostep.domain.models import RequestContext, Tenant
from twostep.domain.receipts import Receipt

A_PHONE, B_PHONE = "+4915112345001", "+4915112345002"


@pytest.fixture(params=["memory", "sqlite"])
def make_app(
    request: pytest.FixtureRequest, make_container: Callable[..., Container]
) -> Callable[..., Container]:
    def make(sms_per_hour: int) -> Container:
        tenant = {"sms_per_hour": sms_per_hour, "template": "{code} is your Shop code"}
        return make_container(
            storage=request.param,
            fallback_channels=["whatsapp"],
            verify_api_keys=["shop:shop-key-0123456789"],
            verify_tenants={"shop": tenant},
        )

    return make


def shop(container: Container) -> RequestContext:
    tenant = container.tenants.tenant("shop")
    assert tenant is not None
    return RequestContext(tenant=tenant)


def fail_latest(container: Container, auth_id: str) -> None:
    assert container.receipts is not None
    shown = container.receipts.verification_status(auth_id, shop(container).tenant)
    assert shown.delivery is not None and shown.delivery.channel == "sms"
    receipt = Receipt(shown.delivery.provider, shown.delivery.message_id, "undelivered", "30003")
    assert container.receipts.apply(receipt) == "recorded"


def bodies(container: Container, phone: str, channel: str) -> list[str]:
    return [e.body for e in container.storage.list_outbox(to=phone, last=100) if e.channel == channel]


def fallbacks(container: Container) -> list[dict[str, object]]:
    return [e.detail for e in container.audit.tail() if e.event == "code_fallback"]


def test_the_fallback_uses_the_tenants_template_and_counts_against_its_cap(
    make_app: Callable[..., Container],
) -> None:
    app = make_app(sms_per_hour=2)
    app.verification.create("o1", A_PHONE, ctx=shop(app))
    fail_latest(app, "o1")
    (whatsapp,) = bodies(app, A_PHONE, "whatsapp")
    assert re.fullmatch(r"\d{6} is your Shop code", whatsapp), whatsapp
    assert [d["outcome"] for d in fallbacks(app)] == ["sent"]
    # the text and its fallback were the tenant's two messages of the hour
    with pytest.raises(RateLimited) as refused:
        app.verification.create("o2", B_PHONE, ctx=shop(app))
    assert refused.value.limit == "tenant_sms_hour"


def test_a_tenant_at_its_cap_gets_no_fallback(make_app: Callable[..., Container]) -> None:
    app = make_app(sms_per_hour=1)
    app.verification.create("o1", A_PHONE, ctx=shop(app))
    fail_latest(app, "o1")
    assert bodies(app, A_PHONE, "whatsapp") == []
    assert [(d["outcome"], d["reason"]) for d in fallbacks(app)] == [("refused", "rate_limited")]


def test_no_fallback_for_a_tenant_no_longer_configured(make_app: Callable[..., Container]) -> None:
    """Its caps are unknown now: nothing is sent rather than a message no cap counts."""
    app = make_app(sms_per_hour=10)
    app.verification.create("o1", A_PHONE, ctx=RequestContext(tenant=Tenant("gone")))
    assert app.receipts is not None
    shown = app.receipts.verification_status("o1", Tenant("gone"))
    assert shown.delivery is not None
    app.receipts.apply(Receipt(shown.delivery.provider, shown.delivery.message_id, "undelivered", "30003"))
    assert bodies(app, A_PHONE, "whatsapp") == []
    assert fallbacks(app) == []
