"""What a served app does around its requests: closes its container when the server stops.

uvicorn runs the shutdown half after it stopped accepting connections and the requests in flight have
finished (SIGTERM drains), so closing the container there (which checkpoints SQLite's WAL) loses nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from twostep.container import Container

logger = logging.getLogger("twostep.serve")

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def serving_lifespan(container: Container) -> Lifespan:
    """A lifespan owning `container`: closed once the server has drained."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        logger.info("serving", extra={"pid": os.getpid()})
        try:
            yield
        finally:
            container.close()
            logger.info("stopped; storage closed", extra={"pid": os.getpid()})

    return lifespan
