"""QA_LOG_DAYS applied while the bot runs: at start, then daily."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from .service import QAService

log = logging.getLogger(__name__)

RETENTION_EVERY = 24 * 3600.0  # seconds between two applications of QA_LOG_DAYS


async def retention_loop(
    service: QAService, every: float = RETENTION_EVERY,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Apply QA_LOG_DAYS now and then every `every` seconds, until cancelled; a failure is logged and
    tried again next time."""
    while True:
        try:
            await service.purge(clock())
        except Exception:
            log.exception("could not apply QA_LOG_DAYS to the question log; trying again in %.0f hours",
                          every / 3600)
        await sleep(every)
