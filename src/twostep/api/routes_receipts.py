"""Delivery receipts from SMS providers: public routes, each authenticated the provider's own way.

- `POST /receipts/twilio`: Twilio status callbacks, signed (`X-Twilio-Signature`) over the configured
  public URL with the account's auth token.
- `POST /receipts/flowroute/{secret}`: Flowroute delivery receipts; Flowroute signs nothing, so the URL
  holds `TWOSTEP_RECEIPT_SECRET`, compared in constant time (and never logged: metrics and logs name
  the route template only).

An unauthenticated receipt is refused (403) before its body is read as a receipt, so nothing is
recorded; a malformed one answers 400, an unknown message id 404, and a replayed or late one 200 with
`"unchanged"`. Logs name the provider and status only, never a number or a text.
"""

from __future__ import annotations

import json
import logging
from typing import Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.deps import ContainerDep
from twostep.api.responses import errors
from twostep.api.schema_model import ApiModel
from twostep.container import Container
from twostep.domain.receipts import InvalidReceipt, Receipt, ReceiptNotAuthentic
from twostep.sms import flowroute_receipts, twilio_receipts

logger = logging.getLogger("twostep.api.receipts")

router = APIRouter(tags=["receipts"], route_class=DeferredRoute)


class ReceiptOut(ApiModel):
    outcome: Literal["recorded", "unchanged"]
    """`recorded`: the message's status moved; `unchanged`: the record already said as much (replay)."""


async def _apply(container: Container, receipt: Receipt) -> ReceiptOut:
    if container.receipts is None:  # a container built without delivery records (tests of other parts)
        raise ReceiptNotAuthentic("Delivery receipts are not enabled on this service.")
    outcome = await run_in_threadpool(container.receipts.apply, receipt)
    return ReceiptOut(outcome=outcome)


@router.post(twilio_receipts.CALLBACK_PATH, response_model=ReceiptOut, responses=errors(400, 403, 404, 503))
async def twilio_status_callback(request: Request, container: ContainerDep) -> ReceiptOut:
    """A Twilio status callback for a message or call (form-encoded, signed)."""
    settings = container.settings
    token = settings.twilio_auth_token
    if settings.public_url is None or token is None:
        logger.warning("twilio receipt refused: set TWOSTEP_PUBLIC_URL and TWOSTEP_TWILIO_AUTH_TOKEN")
        raise ReceiptNotAuthentic("Twilio receipts need TWOSTEP_PUBLIC_URL and the Twilio auth token.")
    try:
        form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        form = []  # cannot match any signature
    url = twilio_receipts.callback_url(settings.public_url)
    if request.url.query:
        url += "?" + request.url.query
    presented = request.headers.get("x-twilio-signature", "")
    if not twilio_receipts.signature_matches(url, form, token.get_secret_value(), presented):
        logger.warning("twilio receipt refused: signature does not match")
        raise ReceiptNotAuthentic()
    return await _apply(container, twilio_receipts.parse_callback(form))


@router.post(
    flowroute_receipts.CALLBACK_PATH + "/{secret}",
    response_model=ReceiptOut,
    responses=errors(400, 403, 404, 503),
)
async def flowroute_delivery_receipt(secret: str, request: Request, container: ContainerDep) -> ReceiptOut:
    """A Flowroute delivery receipt (JSON:API); the path's secret is `TWOSTEP_RECEIPT_SECRET`."""
    expected = container.settings.receipt_secret
    if expected is None or not flowroute_receipts.secret_matches(secret, expected.get_secret_value()):
        logger.warning("flowroute receipt refused: the URL's secret does not match")
        raise ReceiptNotAuthentic()
    try:
        document = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        raise InvalidReceipt("The body is not JSON.") from None
    return await _apply(container, flowroute_receipts.parse_receipt(document))
