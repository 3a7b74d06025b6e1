"""What a served app does around its requests: background upkeep, and closing its container at the end.

While serving, each process re-reads the shared key set every `TWOSTEP_KEYS_REFRESH_SECONDS` (so a
rotation reaches it within a minute) and deletes expired rows every
`TWOSTEP_HOUSEKEEPING_INTERVAL_SECONDS`, in bounded batches (more in a row while it is behind). uvicorn
runs the shutdown half after it stopped accepting connections and the requests in flight have finished
(SIGTERM drains), so closing the container there (which checkpoints SQLite's WAL) loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from twostep.container import Container
from twostep.domain.errors import TwoStepError

logger = logging.getLogger("twostep.serve")

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def serving_lifespan(container: Container) -> Lifespan:
    """A lifespan owning `container`: upkeep while serving, closed once the server has drained."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        logger.info("serving", extra={"pid": os.getpid()})
        settings = container.settings
        jobs = [
            asyncio.create_task(_every(settings.keys_refresh_seconds, container.keys.refresh, "key refresh")),
            asyncio.create_task(
                _every(
                    settings.housekeeping_interval_seconds, container.housekeeping.catch_up, "housekeeping"
                )
            ),
        ]
        try:
            yield
        finally:
            for job in jobs:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            container.close()
            logger.info("stopped; storage closed", extra={"pid": os.getpid()})

    return lifespan


async def _every(seconds: float, job: Callable[[], object], name: str) -> None:
    """Run `job` in a worker thread every `seconds`; a failure is logged and tried again next time."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(job)
        except TwoStepError as exc:
            logger.warning("%s failed", name, extra={"code": exc.code})
        except Exception:
            logger.exception("%s failed", name)
