"""What Flowroute's `SMSAuthClient` (sms-verification's `client.py`, Python 2 and `requests`) does, over httpx.

Its code cannot run here unchanged (Python 2 syntax: `except HTTPError, e`), so this restates its
contract for black-box tests, written afresh: `create_auth` posts `{auth_id, recipient}` as JSON to the
endpoint's root, `authenticate_code` gets the root with `auth_id` and `code` as query parameters; a 2xx
answer returns its JSON, any other raises an HTTP error carrying the body's `message`, its `reason` as
`strerror`, and `attempts_left` when the body has it.
"""

from __future__ import annotations

from typing import Any

import httpx


class FlowrouteHTTPError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} {response.text}")
        self.response = response
        content = response.json()
        self.message: str = content["message"]
        self.strerror: str = content["reason"]
        if "attempts_left" in content:
            self.attempts_left: int = content["attempts_left"]


class FlowrouteClient:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def create_auth(self, auth_id: str, recipient: Any) -> Any:
        return self._answer(httpx.post(self.endpoint, json={"auth_id": auth_id, "recipient": recipient}))

    def authenticate_code(self, auth_id: str, code: Any) -> Any:
        return self._answer(httpx.get(self.endpoint, params={"auth_id": auth_id, "code": code}))

    @staticmethod
    def _answer(response: httpx.Response) -> Any:
        if not response.is_success:
            raise FlowrouteHTTPError(response)
        return response.json()
