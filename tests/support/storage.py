"""The store and the question log of one database file, opened together as `QAService.open` opens them
(for the tests of each on its own)."""

from __future__ import annotations

from pathlib import Path

from bot.question_log import FLUSH_SECONDS, QuestionLog
from retrieval.store import SQLiteStore


async def open_storage(db: Path, flush_seconds: float = FLUSH_SECONDS) -> tuple[SQLiteStore, QuestionLog]:
    """The store and the question log in one SQLite file, as every release has kept them (so a database
    from an earlier release keeps all its data); each through its own connection. The store opens first:
    it checks the file and refuses a damaged one before anything is written. `flush_seconds`: how long a
    question may wait in memory before it is written (QA_LOG_FLUSH_SECONDS)."""
    store = await SQLiteStore.open(db)
    try:
        questions = await QuestionLog.open(db, delay=flush_seconds)
    except BaseException:
        await store.close()
        raise
    return store, questions
