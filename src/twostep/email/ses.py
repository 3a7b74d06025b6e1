"""Email with Amazon SES (the v2 API) through an injected boto3 session.

The message goes as raw MIME, built as the SMTP provider builds it (`twostep.email.message`): SES's
`Simple` content took the text as 7-bit ASCII unless told its charset, a display name in the From only
RFC 2047 encoded, and had no place for `Auto-Submitted`. SES sets its own `Message-ID`.

Readiness asks SES whether it takes the keys by the v1 `GetSendQuota` (a read that sends nothing; SES v2's
`GetAccount` is the same read, but the v1 one is the read moto serves, so it is tested end to end).
"""

from __future__ import annotations

import logging
from typing import Any

from twostep.domain.clock import Clock, SystemClock
from twostep.domain.errors import EmailDeliveryError
from twostep.domain.provider_checks import CredentialAnswer
from twostep.email.message import compose, sender_address
from twostep.settings import Settings
from twostep.sms import SenderDeps
from twostep.sms.sns import check_aws_credentials

logger = logging.getLogger("twostep.email.ses")
REJECTED = {
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "NotFoundException",
    "BadRequestException",
}
# Short and not retried: readiness waits for the check only briefly. (botocore's `max_attempts` counts
# the retries alone: the 1 it was asked SES twice.)
CHECK_CONFIG: dict[str, Any] = {
    "connect_timeout": 2.0,
    "read_timeout": 3.0,
    "retries": {"total_max_attempts": 1, "mode": "standard"},
}


class SesEmailSender:
    name = "ses"

    def __init__(
        self,
        client: Any,
        sender: str,
        *,
        quota_client: Any,
        clock: Clock | None = None,
        reply_to: str | None = None,
    ) -> None:
        """`client`: SES v2, which sends; `quota_client`: SES v1 with the same keys, for the check;
        `clock` dates each email; `reply_to` is its Reply-To."""
        self._client = client
        self._clock = clock or SystemClock()
        self._quota_client = quota_client
        self._from, self._reply_to = sender, reply_to

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> SesEmailSender:
        """Raises: ConfigurationError without boto3 or an AWS region (`AWS_REGION`)."""
        from twostep.aws_session import aws_session

        session = aws_session(deps.boto_session, settings.aws_region, "TWOSTEP_EMAIL_PROVIDER=ses")
        from botocore.config import Config  # importable: aws_session found boto3

        config = Config(
            connect_timeout=settings.email_timeout_seconds,
            read_timeout=settings.email_timeout_seconds,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        return cls(
            session.client("sesv2", config=config),
            settings.email_from,
            quota_client=session.client("ses", config=Config(**CHECK_CONFIG)),
            clock=deps.clock,
            reply_to=settings.email_reply_to,
        )

    def check_credentials(self) -> CredentialAnswer:
        """`GetSendQuota`: the account's sending quota, read with its keys (nothing sent). Refused only
        for keys SES does not know or that expired, not for a policy that allows sending alone."""
        return check_aws_credentials(self.name, self._quota_client.get_send_quota)

    def send(self, to: str, subject: str, body: str) -> str:
        """Returns SES's MessageId (empty when an accepting answer has none). Raises: EmailDeliveryError."""
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError
        from botocore.parsers import ResponseParserError

        message = compose(self._from, to, subject, body, now=self._clock.now(), reply_to=self._reply_to)
        raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        try:
            answer = self._client.send_email(
                FromEmailAddress=sender_address(self._from),
                Destination={"ToAddresses": [to]},
                Content={"Raw": {"Data": raw}},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            logger.warning("ses delivery failed", extra={"error": code})
            raise EmailDeliveryError(
                "rejected_address" if code in REJECTED else "provider_error", self.name
            ) from exc
        except BotoCoreError as exc:
            # Named in the log: a timeout answered 503 with the cause `provider_error` and nothing said why.
            logger.warning("ses delivery failed", extra={"error": type(exc).__name__})
            timed_out = isinstance(exc, ConnectTimeoutError | ReadTimeoutError)
            raise EmailDeliveryError("timeout" if timed_out else "provider_error", self.name) from exc
        except (ResponseParserError, AttributeError, KeyError) as exc:
            # An answer botocore could not read: its JSON parser fails on a body that is not an object
            # (AttributeError for a list), as a proxy before SES may answer. Not a 500 for the caller.
            logger.warning("ses answer unreadable", extra={"error": type(exc).__name__})
            raise EmailDeliveryError("provider_error", self.name) from exc
        return str(answer.get("MessageId", ""))
