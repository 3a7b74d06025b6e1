"""sipgate.io: the request on the wire and the answers of the real API, against a local HTTP server."""

from __future__ import annotations

from collections.abc import Callable

from tests.sms.conftest import CREDENTIALS
from tests.sms.provider_server import ProviderServer, Reply
from twostep.domain.ports import SmsSender

TO = "+4915112345678"
BODY = "123456 ist dein twostep Code. Gültig für 2 Minuten."


def test_sends_json_post_with_personal_access_token(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    server.always(Reply(204))
    sender = delivery(sms_providers=["sipgate"], sipgate_base_url=server.url)

    message_id = sender.send(TO, BODY)

    assert message_id.startswith("sipgate-")
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/v2/sessions/sms"
    assert request.basic_auth() == (CREDENTIALS["sipgate_token_id"], CREDENTIALS["sipgate_token"])
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"smsId": "s0", "recipient": TO, "message": BODY}
