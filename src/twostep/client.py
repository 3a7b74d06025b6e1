"""Python clients over httpx: `SMSAuthClient` (Flowroute sms-verification's API) and `TwoStepClient` (accounts).

Both are closeable and usable as context managers; each raises one typed error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from twostep.client_types import (
    CodeResent,
    LoginChallenge,
    Message,
    MessagePage,
    SessionInfo,
    TokenPair,
    User,
)

__all__ = [
    "CodeResent",
    "LoginChallenge",
    "Message",
    "MessagePage",
    "SMSAuthClient",
    "SMSAuthError",
    "SessionInfo",
    "TokenPair",
    "TwoStepAPIError",
    "TwoStepClient",
    "User",
]

DEFAULT_TIMEOUT = 10.0
# A connection idle this long is not used again. `twostep serve` closes idle ones after 5 s
# (TWOSTEP_HTTP_KEEP_ALIVE_SECONDS); a request sent on one as the server closes it is lost, so the
# client lets go first (httpx's own default is the same 5 s).
KEEPALIVE_EXPIRY_SECONDS = 4.0
# The longest wait a `Retry-After` is read as (the service's own are at most until the UTC day ends).
MAX_RETRY_AFTER_SECONDS = 86_400

T = TypeVar("T")


def _limits() -> httpx.Limits:
    return httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS)


def _base_url(endpoint: str) -> str:
    """`localhost:8000` (Flowroute's `SMSAuthClient` style) means `http://localhost:8000`; full URLs are kept."""
    endpoint = endpoint.strip()
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    return endpoint.rstrip("/")


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply to read
        return None
    return data if isinstance(data, dict) else None


def _retry_after(response: httpx.Response) -> int | None:
    """Seconds as ASCII digits (not `²` or `٣`, which `isdigit` accepts), at most a day."""
    value = response.headers.get("retry-after", "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0") or "0"  # int() refuses over 4300 digits: a long value is just long
    return MAX_RETRY_AFTER_SECONDS if len(digits) > 6 else min(int(digits), MAX_RETRY_AFTER_SECONDS)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _idempotency(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


class _Closeable:
    _http: httpx.Client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --- Flowroute sms-verification: the SMS verification API ---
class SMSAuthError(Exception):
    """An error answer of the verification API (or no answer: `status` None, reason `ConnectionError`).

    `response` is the answer itself (None without one): Flowroute's `SMSAuthClient` raised requests'
    `HTTPError`, and its callers read `error.response.status_code` and `error.response.json()`.
    """

    def __init__(
        self,
        message: str,
        reason: str,
        attempts_left: int | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        *,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{status or '-'} {reason}: {message}")
        self.message = message
        self.reason = reason
        self.attempts_left = attempts_left
        self.status = status
        self.retry_after = retry_after
        self.response = response

    @property
    def strerror(self) -> str:
        """Flowroute's `SMSAuthClient` put the reason in `strerror`."""
        return self.reason


class SMSAuthClient(_Closeable):
    """Flowroute's `SMSAuthClient`: `create_auth` and `authenticate_code` against `endpoint` (and twostep's
    `cancel_auth` and `auth_status`).

    `endpoint` is where the API answers: `localhost:8000` for `twostep serve --app verification`, or
    `http://host:8000/verifications` for the full API. `api_key` goes out as `X-Api-Key`.
    """

    def __init__(
        self,
        endpoint: str = "localhost:8000",
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = _base_url(endpoint)
        headers = {"X-Api-Key": api_key} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport, limits=_limits())

    def create_auth(
        self, auth_id: str, recipient: str, *, idempotency_key: str | None = None, **options: int | str
    ) -> dict[str, Any]:
        """Text a code for `auth_id` to `recipient`; options: code_length, expiration, retries, message,
        channel, amount and payee (a transaction code).
        Retrying with the same `idempotency_key` gets the first answer and texts nothing again.

        Raises: SMSAuthError.
        """
        body = {"auth_id": auth_id, "recipient": recipient, **options}
        return self._call("POST", json=body, headers=_idempotency(idempotency_key))

    def authenticate_code(
        self, auth_id: str, code: str | int, *, amount: str | None = None, payee: str | None = None
    ) -> dict[str, Any]:
        """`{"authenticated": true, ...}` for the right code; a code created with `amount` and `payee`
        (options of `create_auth`) needs the same ones here. Raises: SMSAuthError."""
        pairs = (("auth_id", auth_id), ("code", str(code)), ("amount", amount), ("payee", payee))
        return self._call("GET", params={name: value for name, value in pairs if value is not None})

    def cancel_auth(self, auth_id: str) -> dict[str, Any]:
        """twostep's addition: stop the pending code of `auth_id` working now (the user backed out).
        `{"message", "auth_id", "status": "canceled"}`, again on a repeat; `status` is "verified",
        "expired" or "exhausted" when the code already was (nothing changed). Raises: SMSAuthError
        (404 UnknownAuthId for an id that never had a code)."""
        return self._call("DELETE", params={"auth_id": auth_id})

    def auth_status(self, auth_id: str) -> dict[str, Any]:
        """twostep's addition: `{"status": "pending"|"verified"|"canceled"|"expired"|"exhausted", ..., "delivery":
        {"status": "sent"|"delivered"|"failed"|"undelivered", ...} or None}`. Raises: SMSAuthError."""
        return self._call("GET", params={"auth_id": auth_id}, path="/status")

    def _call(self, method: str, path: str = "", **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, self.endpoint + path, **kwargs)
        except httpx.HTTPError as exc:
            raise SMSAuthError(str(exc) or type(exc).__name__, "ConnectionError") from exc
        body = _json_or_none(response)
        if response.is_success and body is not None:
            return body
        body = body or {}
        raise SMSAuthError(
            str(body.get("message") or response.reason_phrase),
            str(body.get("reason") or "HTTPError"),
            _int_or_none(body.get("attempts_left")),
            response.status_code,
            _retry_after(response),
            response=response,
        )


# --- the accounts API ---
class TwoStepAPIError(Exception):
    """A problem+json answer of the accounts API (or no answer: `status` 0, code `connection_error`)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        attempts_remaining: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.attempts_remaining = attempts_remaining
        self.retry_after = retry_after


class TwoStepClient(_Closeable):
    """The accounts API. After `verify` or `refresh` the client keeps the token pair (`tokens`) and
    sends its access token on `hello`, `me`, `post_message` and the session and deletion calls."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=_base_url(base_url), timeout=timeout, transport=transport, limits=_limits()
        )
        self.tokens: TokenPair | None = None

    def register(
        self,
        email: str,
        password: str,
        phone_number: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        locale: str | None = None,
    ) -> User:
        """`locale` (a BCP 47 tag): the language the account's code texts are written in."""
        body = {"email": email, "password": password, "phoneNumber": phone_number}
        body |= {"firstName": first_name, "lastName": last_name, "locale": locale}
        return self._call("POST", "/register", User.of, json={k: v for k, v in body.items() if v is not None})

    def login(
        self, email: str, password: str, *, idempotency_key: str | None = None, locale: str | None = None
    ) -> LoginChallenge | TokenPair:
        """A code challenge, or tokens at once for an account without a second factor. Retrying with the
        same `idempotency_key` gets the same challenge and texts nothing again. `locale` chooses the
        language of the text (before the account's own and the number's country)."""
        body = {"email": email, "password": password} | ({"locale": locale} if locale else {})
        answer = self._call(
            "POST", "/login", _challenge_or_tokens, json=body, headers=_idempotency(idempotency_key)
        )
        return self._keep(answer) if isinstance(answer, TokenPair) else answer

    def verify(self, otp_id: str, code: str) -> TokenPair:
        return self._keep(self._call("POST", f"/otp/{otp_id}/verify", TokenPair.of, json={"otp": code}))

    def resend(
        self,
        otp_id: str,
        *,
        idempotency_key: str | None = None,
        locale: str | None = None,
        channel: str | None = None,
    ) -> CodeResent:
        """`locale` chooses the language of the new text, `channel` how it goes (`sms` unless named)."""
        fields = {"locale": locale, "channel": channel}
        chosen = {name: value for name, value in fields.items() if value}
        body: dict[str, Any] = {"json": chosen} if chosen else {}
        return self._call(
            "POST", f"/otp/{otp_id}/resend", _code_resent, headers=_idempotency(idempotency_key), **body
        )

    def refresh(self, refresh_token: str | None = None) -> TokenPair:
        token = refresh_token or self._tokens().refresh_token
        return self._keep(self._call("POST", "/token/refresh", TokenPair.of, json={"refreshToken": token}))

    def logout(self, refresh_token: str | None = None) -> None:
        token = refresh_token or self._tokens().refresh_token
        self._call("POST", "/logout", _nothing, json={"refreshToken": token})
        self.tokens = None

    def hello(self, access_token: str | None = None) -> str:
        token = access_token or self._tokens().access_token
        return self._call("GET", "/hello", lambda data: str(data["message"]), token=token)

    def set_locale(self, locale: str | None, access_token: str | None = None) -> User:
        """The language of your code texts (None: the number's country decides)."""
        token = access_token or self._tokens().access_token
        return self._call("PUT", "/me/locale", User.of, json={"locale": locale}, token=token)

    def me(self, access_token: str | None = None) -> User:
        return self._call("GET", "/me", User.of, token=access_token or self._tokens().access_token)

    def messages(self, limit: int = 20, cursor: str | None = None) -> MessagePage:
        params: dict[str, str | int] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        return self._call("GET", "/messages", _message_page, params=params)

    def post_message(self, content: str, access_token: str | None = None) -> Message:
        token = access_token or self._tokens().access_token
        return self._call("POST", "/messages", Message.of, json={"content": content}, token=token)

    def sessions(self, access_token: str | None = None) -> list[SessionInfo]:
        """Where this user is signed in, newest first (every page); `current` marks this client's session."""
        token = access_token or self._tokens().access_token
        sessions: list[SessionInfo] = []
        cursor: str | None = None
        while True:
            params = {"cursor": cursor} if cursor else {}
            page = self._call("GET", "/sessions", lambda data: data, token=token, params=params)
            sessions += [SessionInfo.of(item) for item in page["sessions"]]
            cursor = page.get("nextCursor")
            if not cursor:
                return sessions

    def end_session(self, session_id: str, access_token: str | None = None) -> None:
        token = access_token or self._tokens().access_token
        self._call("DELETE", f"/sessions/{session_id}", _nothing, token=token)

    def end_other_sessions(self, access_token: str | None = None) -> int:
        """Sign out everywhere else; returns how many sessions ended."""
        token = access_token or self._tokens().access_token
        return self._call("DELETE", "/sessions", lambda data: int(data["ended"]), token=token)

    def delete_account(self, current_password: str, access_token: str | None = None) -> None:
        """Delete the account (every session ends, personal data is erased)."""
        token = access_token or self._tokens().access_token
        self._call("DELETE", "/me", _nothing, json={"currentPassword": current_password}, token=token)
        self.tokens = None

    def _tokens(self) -> TokenPair:
        if self.tokens is None:
            raise TwoStepAPIError(401, "not_signed_in", "Sign in (login + verify) first, or pass a token.")
        return self.tokens

    def _keep(self, pair: TokenPair) -> TokenPair:
        self.tokens = pair
        return pair

    def _call(
        self,
        method: str,
        path: str,
        parse: Callable[[dict[str, Any]], T],
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> T:
        """The answer as `parse` reads it.

        Raises: TwoStepAPIError: an error answer, no answer (`connection_error`), or a success whose body
        is not the documented one (`invalid_response`: a proxy's page, a different service).
        """
        headers = (headers or {}) | ({"Authorization": f"Bearer {token}"} if token else {})
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise TwoStepAPIError(0, "connection_error", str(exc) or type(exc).__name__) from exc
        body = _json_or_none(response)
        if response.is_success:
            try:
                return parse({} if body is None and not response.content else _answer_body(body))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise TwoStepAPIError(
                    response.status_code,
                    "invalid_response",
                    "The answer is not the documented one (a proxy's page?)",
                ) from exc
        body = body or {}
        raise TwoStepAPIError(
            response.status_code,
            str(body.get("code") or "http_error"),
            str(body.get("detail") or response.reason_phrase),
            _int_or_none(body.get("attemptsRemaining")),
            _retry_after(response),
        )


def _answer_body(body: dict[str, Any] | None) -> dict[str, Any]:
    """Raises: ValueError for a body that is not a JSON object."""
    if body is None:
        raise ValueError("not a JSON object")
    return body


def _nothing(_: dict[str, Any]) -> None:
    """For calls answered 204 (or whatever body a success has)."""


def _challenge_or_tokens(data: dict[str, Any]) -> LoginChallenge | TokenPair:
    if "accessToken" in data:
        return TokenPair.of(data)
    return LoginChallenge(
        otp_id=str(data["otpId"]),
        redirect_path=str(data["redirectPath"]),
        expires_at=datetime.fromisoformat(data["expiresAt"]),
        destination=str(data["destination"]),
        resend_after=datetime.fromisoformat(data["resendAfter"]),
        channels=tuple(data.get("channels", ("sms",))),  # servers before `channels`: SMS only
    )


def _code_resent(data: dict[str, Any]) -> CodeResent:
    return CodeResent(datetime.fromisoformat(data["expiresAt"]), datetime.fromisoformat(data["resendAfter"]))


def _message_page(data: dict[str, Any]) -> MessagePage:
    return MessagePage([Message.of(m) for m in data["messages"]], data.get("nextCursor"))
