"""Amazon SNS direct SMS: `sns.publish(PhoneNumber=…, Message=…)` as a Transactional message, from the
configured origination number when there is one.

The region and credentials come from the AWS environment (or the injected boto3 session); botocore's own
retries are turned off so that `FailoverSender` applies the same retry-once policy as for every provider.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twostep.domain.errors import ConfigurationError, SmsDeliveryError
from twostep.domain.provider_checks import CredentialAnswer
from twostep.settings import Settings
from twostep.sms.retry_after import delay_seconds

if TYPE_CHECKING:
    from twostep.sms import SenderDeps

logger = logging.getLogger("twostep.sms")

# An SNS sender ID: 1 to 11 letters, digits or hyphens, with at least one letter.
SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9-]{1,11}")
# An origination identity SNS accepts: an E.164 number you own, or a short code (digits only).
ORIGINATION = re.compile(r"\+[1-9][0-9]{6,14}|[0-9]{3,8}")
# An AWS error code is a name (`InvalidParameter`, `KMS.ThrottlingException`); botocore puts the HTTP status
# in its place when the answer is not XML.
AWS_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}|[1-5][0-9]{2}")
AUTH_CODES = frozenset(
    {
        "AuthorizationError",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
# The codes that say the keys themselves are wrong; AuthorizationError / AccessDenied say real keys lack a
# permission (an IAM policy allowing sns:Publish alone refuses GetSMSAttributes), so the keys still send.
BAD_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
NUMBER_CODES = frozenset({"InvalidParameter", "InvalidParameterValue", "OptedOut"})
THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "ThrottledException"})


def reason_for_code(code: str, status: int) -> str:
    """The stable reason for an SNS error code (HTTP status as the fallback)."""
    if code in AUTH_CODES or status in (401, 403):
        return "auth"
    if code in NUMBER_CODES:
        return "rejected_number"
    if code in THROTTLE_CODES or status == 429:
        return "throttled"
    return "provider_error"


class SnsSender:
    name = "sns"

    def __init__(
        self, client: Any, *, sender_id: str | None = None, origination_number: str | None = None
    ) -> None:
        self._client = client
        # Transactional: SNS's route for time-critical texts (higher delivery, no marketing opt-out rules).
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender_id}
        if origination_number:
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": origination_number,
            }
        self._attributes = attributes

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> SnsSender:
        """Raises: ConfigurationError without boto3, an AWS region or a valid TWOSTEP_SNS_SENDER_ID."""
        from twostep.aws_session import aws_session

        sender_id = settings.sns_sender_id.strip() if settings.sns_sender_id else None
        if sender_id and not SENDER_ID.fullmatch(sender_id):
            raise ConfigurationError(
                "TWOSTEP_SNS_SENDER_ID must be 1 to 11 letters, digits or hyphens, with at least one letter"
            )
        origination = settings.sns_origination_number.strip() if settings.sns_origination_number else None
        if origination and not ORIGINATION.fullmatch(origination):
            raise ConfigurationError(
                "TWOSTEP_SNS_ORIGINATION_NUMBER must be an E.164 number (+12065550100) or a short code"
            )
        session = aws_session(deps.boto_session, settings.aws_region, "the sns provider")
        from botocore.config import Config  # importable: aws_session found boto3

        seconds = settings.sms_timeout_seconds
        config = Config(
            connect_timeout=min(3.0, seconds),
            read_timeout=seconds,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        return cls(session.client("sns", config=config), sender_id=sender_id, origination_number=origination)

    def send(self, to: str, body: str) -> str:
        """Returns the SNS `MessageId` (`unknown` when an accepting answer has none). Raises: SmsDeliveryError."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        try:
            answer = self._client.publish(PhoneNumber=to, Message=body, MessageAttributes=self._attributes)
        except (ResponseParserError, KeyError) as exc:
            raise self._unreadable(exc) from None
        except (ClientError, BotoCoreError) as exc:
            reason, retryable = classify(exc)
            retry_after = retry_after_of(exc)
            facts = {"error": type(exc).__name__, "provider_code": aws_error_code(exc)}
            # DEBUG: the failover's one line of the send names these (`sms not sent`).
            logger.debug(
                "sms provider refused the message",
                extra={"provider": self.name, "reason": reason, "retry_after": retry_after, **facts},
            )
            raise SmsDeliveryError(
                reason,
                provider=self.name,
                retryable=retryable and retry_after is None,
                retry_after=retry_after,
                facts=facts,
            ) from None
        message_id = answer.get("MessageId") if isinstance(answer, dict) else None
        if isinstance(message_id, str) and message_id:
            return message_id
        # The status said SNS took the message: not sent again through the next provider.
        logger.warning("sms accepted without a message id", extra={"provider": self.name})
        return "unknown"

    def check_credentials(self) -> CredentialAnswer:
        """`GetSMSAttributes`: the account's SMS settings, read with its credentials (nothing sent)."""
        return check_aws_credentials(
            self.name, lambda: self._client.get_sms_attributes(attributes=["DefaultSMSType"])
        )

    def _unreadable(self, exc: Exception) -> SmsDeliveryError:
        """An answer botocore could not read: not XML (empty, an HTML page of a proxy before SNS), or XML
        without Publish's result (botocore raises KeyError for that one). SNS may have taken the message,
        so it is not retried there; the next provider is tried, as for the HTTP providers."""
        logger.debug(
            "sms provider answer unreadable",
            extra={"provider": self.name, "reason": "provider_error", "error": type(exc).__name__},
        )
        facts = {"error": type(exc).__name__}
        return SmsDeliveryError("provider_error", provider=self.name, retryable=False, facts=facts)


def aws_error_code(exc: Exception) -> str | None:
    """The AWS error code of an SNS refusal (`AuthorizationError`, `InvalidParameter`, or the status
    botocore puts there for an answer that is not XML), safe to log; None for anything else. The code is
    the answer's text as sent: a proxy or endpoint before SNS could put megabytes there, or the number."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code if isinstance(code, str) and AWS_ERROR_CODE.fullmatch(code) else None


def check_aws_credentials(provider: str, read: Callable[[], object]) -> CredentialAnswer:
    """The answer to `read`, one AWS read made with the keys (nothing sent): refused when AWS says the keys
    are wrong or expired, or when there are no keys at all (the operator's to fix); no connection, or an
    answer botocore could not read, is no answer, not the keys' fault."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from botocore.parsers import ResponseParserError

    try:
        read()
    except ClientError as exc:
        return credential_answer(provider, exc)
    except NoCredentialsError:
        return CredentialAnswer(provider, refused=True, detail="NoCredentialsError")
    except (BotoCoreError, ResponseParserError, AttributeError, KeyError) as exc:
        return CredentialAnswer.unanswered(provider, type(exc).__name__)
    return CredentialAnswer(provider, refused=False, detail="HTTP 200")


def credential_answer(provider: str, exc: Exception) -> CredentialAnswer:
    """A failed credentials read: refused only when its code says the keys are wrong or expired."""
    response = getattr(exc, "response", None)
    status = (
        response.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(response, dict) else None
    )
    code = aws_error_code(exc)
    detail = " ".join(part for part in (f"HTTP {status}" if status else "", code or "") if part)
    return CredentialAnswer(provider, code in BAD_CREDENTIAL_CODES, detail or type(exc).__name__)


def retry_after_of(exc: Exception) -> int | None:
    """The `Retry-After` seconds of an SNS error answer (throttling), capped at an hour; else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    value = str(response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after", "")).strip()
    return delay_seconds(value)


def classify(exc: Exception) -> tuple[str, bool]:
    """(reason, retryable) for a botocore failure; retryable only when SNS surely did not send it."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return reason_for_code(str(error.get("Code", "")), status), status >= 500
    if isinstance(exc, NoCredentialsError):
        return "auth", False
    if isinstance(exc, ConnectTimeoutError):
        return "timeout", True
    if isinstance(exc, EndpointConnectionError):
        return "provider_error", True
    if isinstance(exc, ReadTimeoutError):
        return "timeout", False
    return "provider_error", False
