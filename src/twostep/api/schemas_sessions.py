"""Bodies of the session routes and of account deletion (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from twostep.api.schema_model import ApiModel
from twostep.api.schemas import StrictBody
from twostep.domain.models import Session


class SessionOut(ApiModel):
    id: str
    createdAt: datetime
    lastUsedAt: datetime
    client: str | None = Field(description="Browser and system (or tool), from the User-Agent.")
    ip: str | None = Field(description="The network it signed in from, truncated (/24 or /48).")
    current: bool = Field(description="The session of the access token that asked.")

    @classmethod
    def of(cls, session: Session, current_id: str) -> SessionOut:
        return cls(
            id=session.id,
            createdAt=session.created_at,
            lastUsedAt=session.last_used_at,
            client=session.client,
            ip=session.ip,
            current=session.id == current_id,
        )


class SessionListOut(ApiModel):
    sessions: list[SessionOut]
    nextCursor: str | None = Field(
        default=None, description="More sessions follow: pass it back as `cursor` for the next page."
    )


class SessionsEndedOut(ApiModel):
    ended: int


class DeleteAccountRequest(StrictBody):
    current_password: str = Field(alias="currentPassword", max_length=1024)
