"""Records to DynamoDB items and back, for the single-table layout described in `storage/dynamodb.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twostep.domain.errors import StorageUnavailable
from twostep.domain.identity import E164
from twostep.domain.models import AuditEvent, Challenge, Message, OutboxEntry, RefreshToken, User
from twostep.storage.dynamodb_client import maybe_datetime, to_datetime, to_number, ttl_after
from twostep.storage.phone_crypto import PhoneCipher

DAY = 86400
OUTBOX_TTL = 7 * DAY  # at least: a longer grace keeps console messages as long as the other backends do
MESSAGE_SORT_WIDTH = 20


@dataclass(frozen=True, slots=True)
class Retention:
    """How long DynamoDB's TTL keeps items, from the settings the other backends' purge follows: what
    ended (codes, refresh tokens, sessions, delivery records, prefix blocks) `grace_seconds` past its end
    (late calls still get 410, not 404; a reused refresh token is still detected), audit events
    `audit_days` (TWOSTEP_AUDIT_RETENTION_DAYS). The defaults are the settings' defaults."""

    grace_seconds: int = DAY
    audit_days: int = 90

    def ended(self, moment: datetime) -> int:
        """The TTL of an item that ends at `moment`."""
        return ttl_after(moment, self.grace_seconds)

    def audit(self, at: datetime) -> int:
        return ttl_after(at, self.audit_days * DAY)

    def outbox(self, sent_at: datetime) -> int:
        return ttl_after(sent_at, max(OUTBOX_TTL, self.grace_seconds))


def message_sort_key(epoch_seconds: float, message_id: str) -> str:
    """`<microseconds, zero padded>#<id>`: sorts by time, then id, as the other adapters do."""
    return f"{round(epoch_seconds * 1_000_000):0{MESSAGE_SORT_WIDTH}d}#{message_id}"


class Codec:
    """Builds and reads items; owns the phone number encoding (plain, or sealed with KMS)."""

    def __init__(self, cipher: PhoneCipher | None, retention: Retention | None = None) -> None:
        self.cipher = cipher
        self.retention = retention or Retention()

    # --- phone numbers ---
    def phone_index(self, phone: str) -> str:
        return self.cipher.index(phone) if self.cipher else phone

    def phone_attributes(self, phone: str | None) -> dict[str, Any]:
        if not phone:  # none, or a code sent by email
            return {}
        if self.cipher is None:
            return {"phone": phone}
        return self.cipher.seal(phone)

    def read_phone(self, item: dict[str, Any]) -> E164 | None:
        """Raises: StorageUnavailable for a sealed number and no KMS key (never "no phone")."""
        if "phone_ct" in item:
            if self.cipher is None:
                raise StorageUnavailable(
                    "A phone number is sealed with KMS and TWOSTEP_KMS_KEY_ID is not set."
                )
            return E164(self.cipher.open(item["phone_ct"].value, item["phone_dk"].value))
        phone = item.get("phone")
        return None if phone is None else E164(str(phone))

    # --- users ---
    def user_item(self, user: User) -> dict[str, Any]:
        return {
            "PK": f"USER#{user.id}",
            "SK": "PROFILE",
            "GSI1PK": "USERS",
            "GSI1SK": user.id,
            "id": user.id,
            "email": user.email,
            "password_hash": user.password_hash,
            "created_at": to_number(user.created_at),
            "first_name": user.first_name,
            "last_name": user.last_name,
            "phone_index": None if user.phone is None else self.phone_index(user.phone),
            "phone_verified": user.phone_verified,
            "email_verified": user.email_verified,
            "locale": user.locale,
            **self.phone_attributes(user.phone),
        }

    def user(self, item: dict[str, Any]) -> User:
        return User(
            id=item["id"],
            email=item["email"],
            password_hash=item["password_hash"],
            created_at=to_datetime(item["created_at"]),
            first_name=item.get("first_name"),
            last_name=item.get("last_name"),
            phone=self.read_phone(item),
            phone_verified=bool(item.get("phone_verified", False)),
            email_verified=bool(item.get("email_verified", False)),
            locale=item.get("locale"),
        )

    # --- challenges ---
    def challenge_item(self, c: Challenge) -> dict[str, Any]:
        return {
            "PK": f"CHALLENGE#{c.id}",
            "SK": "CHALLENGE",
            "id": c.id,
            "purpose": c.purpose,
            "subject": c.subject,
            "code_hmac": c.code_hmac,
            "created_at": to_number(c.created_at),
            "expires_at": to_number(c.expires_at),
            "max_attempts": c.max_attempts,
            "attempts": c.attempts,
            "consumed_at": None if c.consumed_at is None else to_number(c.consumed_at),
            "sends": c.sends,
            "last_sent_at": None if c.last_sent_at is None else to_number(c.last_sent_at),
            "code_length": c.code_length,
            "email": c.email,
            "channel": c.channel,
            "credentials_tag": c.credentials_tag,
            "ttl": self.retention.ended(c.expires_at),
            **self.phone_attributes(c.phone),
            **self._challenge_index(c),
        }

    @staticmethod
    def _challenge_index(c: Challenge) -> dict[str, str]:
        """An account's codes are found by its id in GSI1, so its deletion erases them (and the number or
        address each holds); a verification's subject is the caller's auth id, never an account, and an
        unknown email's reset has none (all of those in one index partition would be a hot one)."""
        if c.purpose == "verify" or not c.subject:
            return {}
        return {"GSI1PK": f"CHALLENGEBY#{c.subject}", "GSI1SK": c.id}

    def challenge(self, item: dict[str, Any]) -> Challenge:
        return Challenge(
            id=item["id"],
            purpose=item["purpose"],
            subject=item["subject"],
            phone=self.read_phone(item) or E164(""),
            code_hmac=item["code_hmac"],
            created_at=to_datetime(item["created_at"]),
            expires_at=to_datetime(item["expires_at"]),
            max_attempts=int(item["max_attempts"]),
            attempts=int(item["attempts"]),
            consumed_at=maybe_datetime(item.get("consumed_at")),
            sends=int(item["sends"]),
            last_sent_at=maybe_datetime(item.get("last_sent_at")),
            code_length=int(item["code_length"]),
            email=item.get("email"),
            channel=item.get("channel", "sms"),  # challenges stored before channels were recorded were texts
            credentials_tag=item.get("credentials_tag"),  # None: stored before tags were kept
        )


def refresh_item(t: RefreshToken, kept: Retention) -> dict[str, Any]:
    return {
        "PK": f"REFRESH#{t.token_hash}",
        "SK": "REFRESH",
        "token_hash": t.token_hash,
        "family_id": t.family_id,
        "user_id": t.user_id,
        "created_at": to_number(t.created_at),
        "expires_at": to_number(t.expires_at),
        "family_expires_at": to_number(t.family_expires_at),
        "amr": ",".join(t.amr),
        "used_at": None if t.used_at is None else to_number(t.used_at),
        "revoked_at": None if t.revoked_at is None else to_number(t.revoked_at),
        "ttl": kept.ended(max(t.expires_at, t.family_expires_at)),
    }


def refresh_token(item: dict[str, Any], family_revoked_at: Any = None) -> RefreshToken:
    """The token; a revoked family revokes it even though its own item was not touched."""
    revoked = item.get("revoked_at", family_revoked_at)
    return RefreshToken(
        token_hash=item["token_hash"],
        family_id=item["family_id"],
        user_id=item["user_id"],
        created_at=to_datetime(item["created_at"]),
        expires_at=to_datetime(item["expires_at"]),
        family_expires_at=to_datetime(item["family_expires_at"]),
        amr=tuple(str(item["amr"]).split(",")),
        used_at=maybe_datetime(item.get("used_at")),
        revoked_at=maybe_datetime(revoked),
    )


def message_item(m: Message) -> dict[str, Any]:
    sort_key = message_sort_key(m.created_at.timestamp(), m.id)
    return {
        "PK": "MESSAGES",
        "SK": sort_key,
        "GSI1PK": f"MSGBY#{m.user_id}",  # finds a user's messages when the account is deleted
        "GSI1SK": sort_key,
        "id": m.id,
        "user_id": m.user_id,
        "author": m.author,
        "content": m.content,
        "created_at": to_number(m.created_at),
    }


def message(item: dict[str, Any]) -> Message:
    return Message(
        id=item["id"],
        user_id=item["user_id"],
        author=item["author"],
        content=item["content"],
        created_at=to_datetime(item["created_at"]),
    )


def outbox_item(entry: OutboxEntry, seq: str, kept: Retention) -> dict[str, Any]:
    return {
        "PK": "OUTBOX",
        "SK": seq,
        "GSI1PK": f"OUTBOX#{entry.to}",
        "GSI1SK": seq,
        "to": entry.to,
        "body": entry.body,
        "sent_at": to_number(entry.sent_at),
        "provider": entry.provider,
        "channel": entry.channel,
        "ttl": kept.outbox(entry.sent_at),
    }


def outbox_entry(item: dict[str, Any]) -> OutboxEntry:
    return OutboxEntry(
        to=item["to"],
        body=item["body"],
        sent_at=to_datetime(item["sent_at"]),
        provider=item["provider"],
        channel=item.get("channel", "sms"),  # entries written before channels existed were texts
    )


def audit_item(e: AuditEvent, seq: str, kept: Retention) -> dict[str, Any]:
    return {
        "PK": "AUDIT",
        "SK": seq,
        "GSI1PK": None if e.user_id is None else f"AUDIT#{e.user_id}",
        "GSI1SK": None if e.user_id is None else seq,
        "event": e.event,
        "at": to_number(e.at),
        "user_id": e.user_id,
        "email_hash": e.email_hash,
        "phone_masked": e.phone_masked,
        "ip": e.ip,
        "request_id": e.request_id,
        "detail": dict(e.detail),
        "ttl": kept.audit(e.at),
    }


def audit_event(item: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        event=item["event"],
        at=to_datetime(item["at"]),
        user_id=item.get("user_id"),
        email_hash=item.get("email_hash"),
        phone_masked=item.get("phone_masked"),
        ip=item.get("ip"),
        request_id=item.get("request_id"),
        detail={str(k): str(v) for k, v in item.get("detail", {}).items()},
    )
