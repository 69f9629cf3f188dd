"""One SQLite file through one aiosqlite connection: opening with a clear error, transactions under a write
lock, reads with SQLite's errors told as StoreError. The engine's store and the bot's question log each
open their own (on the same file, for the default collection)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from .errors import StoreError


class Database:
    """A connection and the lock that keeps its writes apart."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        # One connection is shared by every request: a write must not run (and commit) inside another's
        # transaction, e.g. a feedback vote while a batch of questions is being written.
        self._write = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, timeout: float = 5.0) -> Database:
        """Connect (creating the file and its folder if needed); StoreError with a clear reason if not.
        `timeout`: how long a write waits for another connection's transaction."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the folder for the database {str(path)!r}: {exc.strerror}.") from exc
        return cls(await _connect(path, timeout), path)

    @asynccontextmanager
    async def transaction(self, immediate: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """One write under the write lock: committed when the block ends, rolled back on any error (an
        SQLite one raised as StoreError). `immediate` takes the database's write lock at once (BEGIN
        IMMEDIATE), for writes that read first."""
        async with self._write:
            try:
                if immediate:
                    await self.db.execute("BEGIN IMMEDIATE")
                yield self.db
                await self.db.commit()
            except BaseException as exc:
                await _rollback(self.db)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(explain(self.path, exc)) from exc
                raise

    async def execute_fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query, errors as StoreError."""
        try:
            async with self.db.execute(sql, args) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as exc:
            raise StoreError(explain(self.path, exc)) from exc

    async def has_table(self, name: str) -> bool:
        """Whether the file holds a table of this name (a file from an older release may lack it)."""
        return bool(await self.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        try:
            await self.db.close()
        except (sqlite3.Error, ValueError):
            pass


def newer_schema(path: Path, what: str, found: int, known: int) -> StoreError:
    """The error for a file written by a newer release: opened, it would be damaged by this one's writes."""
    return StoreError(
        f"The database {str(path)!r} was written by a newer release of qa-bot ({what} version {found}; this "
        f"release knows up to {known}): upgrade qa-bot, or point QA_DB at another file. It was left unchanged."
    )


async def _rollback(db: aiosqlite.Connection) -> None:
    """Roll back, ignoring a connection that is already gone."""
    try:
        await db.rollback()
    except (sqlite3.Error, ValueError):
        pass


def explain(path: Path, exc: sqlite3.Error) -> str:
    """One line a person can act on, for an SQLite error."""
    text = str(exc)
    if "readonly" in text:
        return f"The database {str(path)!r} is read-only: check its permissions."
    if "locked" in text or "busy" in text:
        return f"The database {str(path)!r} is locked by another process: is the bot already running?"
    if "not a database" in text or "malformed" in text or "disk image" in text:
        return f"The database {str(path)!r} is damaged or not a database ({text})."
    return f"Database error on {str(path)!r}: {text}."


async def _connect(path: Path, timeout: float) -> aiosqlite.Connection:
    """An aiosqlite connection, or StoreError. SQLite is asked first, in a worker thread: a failed
    aiosqlite.connect leaves its own thread to report the failure to an event loop that is closed by
    then, which printed a 23-line traceback after the error line."""

    def probe() -> None:
        sqlite3.connect(path, timeout=timeout).close()

    try:
        await asyncio.to_thread(probe)
        return await aiosqlite.connect(path, timeout=timeout)
    except sqlite3.Error as exc:
        raise StoreError(f"Cannot open the database {str(path)!r}: {exc}.") from exc
