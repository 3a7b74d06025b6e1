"""Creating accounts: one conditional write makes email and phone unique, even under races."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from twostep.domain.clock import Clock
from twostep.domain.display_text import has_hidden_characters
from twostep.domain.errors import InvalidInput
from twostep.domain.identity import E164, normalise_email, parse_phone
from twostep.domain.models import NO_CONTEXT, RequestContext, User
from twostep.domain.password_policy import PasswordPolicy
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import UserStore
from twostep.services.account_locale import optional_locale
from twostep.services.audit import AuditService
from twostep.services.limits import LimitsService

MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    password: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    locale: str | None = None  # the language the account wants its texts in


def _clean_name(value: str | None, field: str, required: bool) -> str | None:
    name = (value or "").strip()
    if not name:
        if required:
            raise InvalidInput("This field is required.", field=field)
        return None
    if len(name) > MAX_NAME_LENGTH or has_hidden_characters(name):
        raise InvalidInput(f"Use at most {MAX_NAME_LENGTH} printable characters.", field=field)
    return name


class RegistrationService:
    def __init__(
        self,
        *,
        users: UserStore,
        hasher: PasswordHasher,
        limits: LimitsService,
        audit: AuditService,
        clock: Clock,
        require_second_factor: bool,
        password_policy: PasswordPolicy,
    ) -> None:
        self._users, self._hasher, self._limits = users, hasher, limits
        self._audit, self._clock = audit, clock
        self._require_phone = require_second_factor
        self._password_policy = password_policy

    def register(self, form: Registration, ctx: RequestContext = NO_CONTEXT) -> User:
        """Raises: InvalidInput (and subclasses), AccountExists, RateLimited, DestinationNotAllowed."""
        self._limits.check_ip("register", ctx)
        email = normalise_email(form.email)
        first = _clean_name(form.first_name, "firstName", self._require_phone)
        last = _clean_name(form.last_name, "lastName", self._require_phone)
        phone = self._phone(form.phone)
        locale = optional_locale(form.locale)
        if phone is not None:
            # Refuse at sign-up a number no code could ever be sent to, rather than at every login.
            self._limits.check_destination(phone, ctx, field="phoneNumber")
        self._password_policy.check(form.password, email=email)
        user = User(
            id=str(uuid.uuid4()),
            email=email,
            password_hash=self._hasher.hash(form.password),
            created_at=self._clock.now(),
            first_name=first,
            last_name=last,
            phone=phone,
            locale=locale,
        )
        self._users.add_user(user)
        self._audit.record("user_registered", ctx=ctx, user_id=user.id)
        return user

    def _phone(self, raw: str | None) -> E164 | None:
        if raw is None or not raw.strip():
            if self._require_phone:
                raise InvalidInput("A phone number is required for the sign-in code.", field="phoneNumber")
            return None
        return parse_phone(raw, field="phoneNumber")
