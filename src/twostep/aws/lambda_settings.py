"""The settings of a Lambda function that builds the whole container (the API, SNS delivery status)."""

from __future__ import annotations

from twostep.domain.errors import ConfigurationError
from twostep.settings import Settings


def lambda_settings() -> Settings:
    """Raises: ConfigurationError with the one line `twostep serve` prints for a bad setting. A pydantic
    ValidationError escaped before: the runtime logged its multi-line dump (and API Gateway answered 502,
    where every other misconfiguration answers 503 `configuration_error` with one line in the log)."""
    from pydantic import ValidationError  # pydantic is loaded already, by the settings module

    from twostep.settings import describe_validation_error

    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None
