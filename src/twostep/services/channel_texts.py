"""What a code says on each channel: the SMS text (WhatsApp sends it too), or the words a call speaks.

A voice call takes the text to speak and a language tag; bundled texts per language plug in by giving
`CodeSpec.voice_template` and `CodeSpec.language`.
"""

from __future__ import annotations

from twostep.domain.delivery import SMS, VOICE, OutgoingMessage
from twostep.domain.otp import render_message
from twostep.domain.segments import count_segments

DEFAULT_VOICE_TEMPLATE = "Your {org} code is: {code}."


def spoken_code(code: str) -> str:
    """`482913` as `4, 8, 2, 9, 1, 3`: read digit by digit with a short pause, never as one number."""
    return ", ".join(code)


def code_message(
    *,
    to: str,
    code: str,
    channel: str,
    sms_template: str,
    voice_template: str,
    language: str,
    org: str,
    ttl_seconds: int,
    web_origin: str | None,
    app_hash: str | None = None,
) -> OutgoingMessage:
    """The message carrying `code` on `channel`; only an SMS gets the WebOTP line (browsers read SMS)
    and the Android SMS Retriever app hash (apps read SMS)."""
    if channel == VOICE:
        text = render_message(
            voice_template, code=spoken_code(code), org=org, ttl_seconds=ttl_seconds, web_origin=None
        )
    else:
        origin, hash_line = (web_origin, app_hash) if channel == SMS else (None, None)
        text = render_message(
            sms_template, code=code, org=org, ttl_seconds=ttl_seconds, web_origin=origin, app_hash=hash_line
        )
    return OutgoingMessage(to, text, channel, language, valid_seconds=ttl_seconds, code=code)


# What a call counts against the money budget, in SMS segments to the same country, unless the
# deployment says otherwise (TWOSTEP_VOICE_CALL_UNITS). A call is held to 60 s (`TimeLimit`), so it is
# billed as at most one minute; a minute to a mobile costs about one to two SMS segments in Twilio's
# price lists (US: $0.014 a minute against $0.0083 a segment), and two errs on the side of the budget.
DEFAULT_CALL_UNITS = 2


def budget_units(message: OutgoingMessage, call_units: int = DEFAULT_CALL_UNITS) -> int:
    """What a message counts against the money budget, in SMS segments of its destination's price: a
    text its segments, a WhatsApp message one (it is never split), a call `call_units`. The per-number,
    per-client and hourly message caps count every message as one, whatever its channel."""
    if message.channel == VOICE:
        return call_units
    return count_segments(message.text).count if message.channel == SMS else 1
