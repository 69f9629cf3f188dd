"""Services the tests open together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.service import QAService


@asynccontextmanager
async def two_services(db: Path, docs: Path) -> AsyncIterator[tuple[QAService, QAService]]:
    """Two services on one database and folder, as two processes would be (the caller turns the timer off)."""
    serving = await QAService.open(db, docs)
    other = await QAService.open(db, docs)
    try:
        yield serving, other
    finally:
        await other.close()
        await serving.close()
