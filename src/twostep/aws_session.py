"""One boto3 session for the AWS adapters, with a clear error instead of botocore's traceback.

boto3 reads only `AWS_DEFAULT_REGION`; Lambda and most guides set `AWS_REGION`, so the region comes from
the settings model (which reads both) and falls back to boto3's own lookup (profile, config file).

A container's parts share one session (`SharedSession`): each new session loads AWS's endpoint data and
finds the credentials again, and its clients load their service models again. The storage and the key
source each made their own: ~25 ms of a Lambda cold start on the bench's machine.
"""

from __future__ import annotations

import threading
from typing import Any

from twostep.domain.errors import ConfigurationError


class SharedSession:
    """The session every AWS part of one container uses, made when the first part asks for it (a
    container with no AWS part never imports boto3)."""

    def __init__(self, region: str | None) -> None:
        self._region = region
        self._session: Any = None
        self._lock = threading.Lock()

    def session(self, needed_by: str) -> Any:
        """Raises: as `aws_session`."""
        with self._lock:
            if self._session is None:
                self._session = aws_session(None, self._region, needed_by)
            return self._session


def aws_session(injected: Any, region: str | None, needed_by: str) -> Any:
    """The injected session (the one a `SharedSession` holds), or a new one in `region`; either must
    name a region.

    Raises:
        ConfigurationError: boto3 is not installed, or no AWS region is configured.
    """
    if isinstance(injected, SharedSession):
        return injected.session(needed_by)
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
