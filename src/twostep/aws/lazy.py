"""Build-once holders for Lambda handlers: the first invocation builds, later ones reuse (per container)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from twostep.domain.cold_start_typing import Generic, TypeVar

T = TypeVar("T")


class BuiltOnce(Generic[T]):
    """Calls `build` on first `get()`; a failed build is retried on the next call."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._built_at = 0.0
        self._lock = threading.Lock()

    def get(self, max_age_seconds: float | None = None) -> T:
        """The value; with `max_age_seconds`, an older one is built again (kept if that build fails)."""
        with self._lock:
            if self._value is None:
                self._value = self._build()
                self._built_at = time.monotonic()
            elif max_age_seconds is not None and time.monotonic() - self._built_at >= max_age_seconds:
                self._built_at = time.monotonic()
                try:
                    self._value = self._build()
                except Exception as exc:  # serve on with what was built: a refresh is not a start-up
                    import logging  # here: the authorizer's cold start loads no `logging`

                    logging.getLogger("twostep.aws").warning(
                        "refresh failed; keeping the previous build", extra={"error": type(exc).__name__}
                    )
            return self._value

    def due(self, max_age_seconds: float | None = None) -> bool:
        """Whether `get(max_age_seconds)` would build (a hint: another thread may build first)."""
        if self._value is None:
            return True
        return max_age_seconds is not None and time.monotonic() - self._built_at >= max_age_seconds

    def reset(self) -> None:
        with self._lock:
            self._value = None
