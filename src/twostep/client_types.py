"""Typed results of `twostep.client.TwoStepClient` (the accounts API's answers, snake_case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    phone_number: str | None  # masked
    created_at: datetime
    locale: str | None = None  # the language of the account's code texts

    @classmethod
    def of(cls, data: dict[str, Any]) -> User:
        return cls(
            id=data["id"],
            email=data["email"],
            first_name=data.get("firstName"),
            last_name=data.get("lastName"),
            phone_number=data.get("phoneNumber"),
            created_at=datetime.fromisoformat(data["createdAt"]),
            locale=data.get("locale"),
        )


@dataclass(frozen=True, slots=True)
class LoginChallenge:
    otp_id: str
    redirect_path: str
    expires_at: datetime
    destination: str
    resend_after: datetime
    channels: tuple[str, ...] = ("sms",)  # what `resend(…, channel=…)` may name on this service


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> TokenPair:
        return cls(data["accessToken"], data["tokenType"], int(data["expiresIn"]), data["refreshToken"])


@dataclass(frozen=True, slots=True)
class CodeResent:
    expires_at: datetime
    resend_after: datetime


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    content: str
    author: str
    created_at: datetime

    @classmethod
    def of(cls, data: dict[str, Any]) -> Message:
        return cls(data["id"], data["content"], data["author"], datetime.fromisoformat(data["createdAt"]))


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[Message]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One of the signed-in user's sessions, as `GET /sessions` lists it."""

    id: str
    created_at: datetime
    last_used_at: datetime
    client: str | None
    ip: str | None
    current: bool

    @classmethod
    def of(cls, data: dict[str, Any]) -> SessionInfo:
        return cls(
            data["id"],
            datetime.fromisoformat(data["createdAt"]),
            datetime.fromisoformat(data["lastUsedAt"]),
            data.get("client"),
            data.get("ip"),
            bool(data["current"]),
        )
