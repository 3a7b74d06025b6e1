"""Flowroute: the request on the wire and the answers of the real API, against a local HTTP server."""

from __future__ import annotations

from collections.abc import Callable

from tests.sms.conftest import CREDENTIALS
from tests.sms.provider_server import ProviderServer, Reply
from twostep.domain.ports import SmsSender

TO = "+12065551234"
BODY = "123456 is your twostep sign-in code. It expires in 2 minutes. Don't share it."
JSON_API = "application/vnd.api+json"


def accepted(message_id: str = "mdr2-39cadeace66e11e7aff806cd7f24ba2d") -> Reply:
    data = {"data": {"id": message_id, "type": "message", "links": {"self": f"/v2.1/messages/{message_id}"}}}
    return Reply.json(202, data, JSON_API)


def test_sends_json_api_post_with_basic_auth(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    server.always(accepted())
    sender = delivery(sms_providers=["flowroute"], flowroute_base_url=server.url)

    message_id = sender.send(TO, BODY)

    assert message_id == "mdr2-39cadeace66e11e7aff806cd7f24ba2d"
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/v2.1/messages"
    assert request.basic_auth() == (CREDENTIALS["flowroute_access_key"], CREDENTIALS["flowroute_secret_key"])
    assert request.headers["content-type"] == JSON_API
    assert request.json() == {"to": "12065551234", "from": "12065550100", "body": BODY}


def test_from_with_plus_is_sent_as_eleven_digits(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    server.always(accepted())
    sender = delivery(
        sms_providers=["flowroute"], flowroute_base_url=server.url, flowroute_from="+12065550199"
    )

    sender.send(TO, BODY)

    assert server.requests[0].json()["from"] == "12065550199"
