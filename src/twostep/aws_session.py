"""One boto3 session for the AWS adapters, with a clear error instead of botocore's traceback.

boto3 reads only `AWS_DEFAULT_REGION`; Lambda and most guides set `AWS_REGION`, so the region comes from
the settings model (which reads both) and falls back to boto3's own lookup (profile, config file).
"""

from __future__ import annotations

from typing import Any

from twostep.domain.errors import ConfigurationError


def aws_session(injected: Any, region: str | None, needed_by: str) -> Any:
    """The injected session, or a new one in `region`; either must name a region.

    Raises:
        ConfigurationError: boto3 is not installed, or no AWS region is configured.
    """
    if injected is not None:
        session = injected
    else:
        try:
            import boto3
        except ImportError:
            raise ConfigurationError(f"{needed_by} needs boto3: pip install 'twostep[aws]'") from None
        session = boto3.session.Session(region_name=region or None)
    if not getattr(session, "region_name", "injected"):
        raise ConfigurationError(
            f"{needed_by} needs an AWS region: set AWS_REGION (e.g. AWS_REGION=eu-west-1)"
        )
    return session
