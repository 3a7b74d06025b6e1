"""The apps `twostep serve --app NAME` serves, each named by its uvicorn app factory (`api.factory`).

Apart from the factories so that the supervisor of `--workers N` names one without importing the app:
the workers import it, each building its own.
"""

from __future__ import annotations

APP_FACTORIES = {
    "api": "twostep.api.factory:api_from_environment",
    "verification": "twostep.api.factory:verification_from_environment",
}
