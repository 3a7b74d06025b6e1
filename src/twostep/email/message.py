"""The one MIME message every email provider sends (SMTP as it is, SES as raw data), so a mail server, a
spam filter and a mail client see the same headers whichever provider carries it.

Besides the addresses and the subject (RFC 2047 encoded and folded by the standard library's policy):
`Date` and `Message-ID`, which RFC 5322 asks of the sender and which filters score the lack of;
`Auto-Submitted: auto-generated` (RFC 3834), so vacation and other automatic replies leave the code alone;
and `X-Auto-Response-Suppress`, which Exchange reads. The body is UTF-8 text, base64 or
quoted-printable as the standard library picks, so no line reaches RFC 5322's limit whatever its text.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

# Out-of-office and other automatic answers only: delivery and non-delivery reports still reach the sender.
SUPPRESSED_RESPONSES = "OOF, AutoReply"


def sender_address(sender: str) -> str:
    """The bare address of `TWOSTEP_EMAIL_FROM` (`no-reply@example.com` of `twostep <no-reply@…>`), its
    domain in its ASCII (IDNA) form: `münchen.de` written as such needed SMTPUTF8 of the relay, which not
    every one offers and SES never does."""
    local, _, domain = parseaddr(sender)[1].rpartition("@")
    with contextlib.suppress(UnicodeError):  # a name IDNA cannot write stays as it is, for the relay to judge
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def compose(
    sender: str, to: str, subject: str, body: str, *, now: datetime, reply_to: str | None = None
) -> EmailMessage:
    """A plain-text email from `sender` (an address, optionally with a display name in any script) dated
    `now` (a time with its zone); `reply_to` (written the same way) receives a person's answer."""
    message = EmailMessage()
    address = sender_address(sender)
    message["From"] = _named_address(sender)
    if reply_to is not None:
        message["Reply-To"] = _named_address(reply_to)
    message["To"], message["Subject"] = to, subject
    message["Date"] = format_datetime(now)
    domain = address.rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=domain or None)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = SUPPRESSED_RESPONSES
    message.set_content(body)
    return message


def _named_address(written: str) -> Address:
    """`twostep <no-reply@example.com>` as a header value: the name RFC 2047 encoded, the domain IDNA."""
    return Address(display_name=parseaddr(written)[0], addr_spec=sender_address(written))
