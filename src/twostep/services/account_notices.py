"""Notices to an account's owner that something about how it signs in changed: a new number or address,
a new password (changed or reset), a way to sign in added or removed. They go to the channels the owner
proved, so a hijacked session or a stolen reset code cannot make such a change quietly: by email to a proven
address; by text for a number or address change and for a reset by emailed code, and for every change when
the number is the only channel proven (an address never proven, or one its real owner took back for a
placeholder). A text costs money, so an owner with a proven address hears of the rest by email only; the
account's daily cap on notices by text bounds what the rest can cost. The email ends with when and from
where the change was made (`notice_origin`), so the owner can tell whether it was them."""

from __future__ import annotations

from collections.abc import Callable

from twostep.domain.clock import Clock
from twostep.domain.errors import TwoStepError
from twostep.domain.identity import E164
from twostep.domain.models import RequestContext, User
from twostep.domain.texts import NoticeKind
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService
from twostep.services.notice_origin import NoticeOrigin
from twostep.services.texts import TextChoice


class AccountNotices:
    def __init__(self, *, codes: ChallengeService, audit: AuditService, clock: Clock) -> None:
        self._codes, self._audit, self._clock = codes, audit, clock

    def send(
        self,
        user: User,
        kind: NoticeKind,
        ctx: RequestContext,
        *,
        destination: str = "",
        phone: E164 | None = None,
        by_administrator: bool = False,
    ) -> None:
        """Tell the owner by email (when their address is proven) and by text (see `_text_to`; `phone`:
        the number before a number or address change, or the account's own after a reset by emailed
        code), in their language (the account's stored
        language, then its number's country as it was, then the default); a failed notice (one past the
        account's daily cap on notices by text too) is audited and never undoes the change. The
        request's languages are left out: whoever holds a session must not choose the language the owner
        is warned in. The email says when and from where (`by_administrator`: an operator with the CLI,
        whose device and network it leaves out)."""
        letters = self._codes.letters
        language = letters.language_for(TextChoice((), user.locale, user.phone))
        sends: list[tuple[str, Callable[[], None]]] = []
        text_to = _text_to(user, phone)
        if text_to is not None:
            text = letters.notice(kind, language, destination=destination).body
            sends.append(("sms", lambda: self._codes.send_notice_sms(text_to, text, user.id, ctx)))
        if user.email_verified:
            origin = NoticeOrigin.of(ctx, self._clock.now(), by_administrator=by_administrator)
            email = letters.notice(kind, language, destination=destination, origin=origin)
            sends.append(("email", lambda: self._codes.send_email(user.email, email.subject, email.body)))
        for channel, send in sends:
            try:
                send()
            except TwoStepError as exc:
                self._audit.record(
                    "code_delivery_failed", ctx=ctx, user_id=user.id, purpose="notice", reason=exc.code
                )
                continue
            self._audit.record("notice_sent", ctx=ctx, user_id=user.id, channel=channel)


def _text_to(user: User, phone: E164 | None) -> E164 | None:
    """The number a notice is texted to, if any: `phone` (a number or address change names it: the number
    before the change; a reset by emailed code, the account's own), else the account's own when the address is not proven (the number is then the only
    channel that can warn the owner); only ever a number the account proved."""
    if not user.phone_verified:
        return None
    if phone is not None:
        return phone
    return None if user.email_verified else user.phone
