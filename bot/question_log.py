"""The question log: what was asked and answered, the 👍/👎 feedback, and the slash commands' last sync.

Written in batches: `log_question` hands back the question's id at once (ids are reserved in blocks, see
`_reserve`) and keeps the row in memory; a background task commits what waits within `delay` seconds, or
as soon as `batch` rows wait, and `close` writes the rest. Reads that need a waiting row see it: feedback
on an answer writes its question first, `asked_at` looks in memory, and erasure reaches the waiting rows.

Versions of its tables (the row 'version' in `question_log_meta`): 1 the questions and feedback tables as
kept up to the release of December 2026 (command hashes in the store's `meta` table); 2 adds
`question_log_meta` (the version and the command hashes, moved out of `meta`) and indexes for erasure and
retention. A file of a newer version is refused, left unchanged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import aiosqlite

from retrieval.database import Database, explain, newer_schema
from retrieval.errors import StoreError

log = logging.getLogger(__name__)

LOG_VERSION = 3  # 3: each question carries the server it was asked in (per-server /stats)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS questions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, asked_at TEXT NOT NULL DEFAULT (datetime('now')),"
    " user_id TEXT, channel TEXT, via TEXT NOT NULL, question TEXT NOT NULL,"
    " answered INTEGER NOT NULL, top_source TEXT, guild TEXT)",
    "CREATE TABLE IF NOT EXISTS feedback ("
    " question_id INTEGER NOT NULL REFERENCES questions(id), user_id TEXT NOT NULL,"
    " value INTEGER NOT NULL CHECK (value IN (-1, 1)), at TEXT NOT NULL DEFAULT (datetime('now')),"
    " PRIMARY KEY (question_id, user_id))",
    "CREATE TABLE IF NOT EXISTS question_log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS questions_by_user ON questions (user_id)",
    "CREATE INDEX IF NOT EXISTS questions_by_time ON questions (asked_at)",
    "CREATE INDEX IF NOT EXISTS feedback_by_user ON feedback (user_id)",
)
_INSERT = ("INSERT OR IGNORE INTO questions (id, asked_at, user_id, channel, via, question, answered, top_source, "
           "guild) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")

FLUSH_SECONDS = 0.5  # at most this long between a question and its commit (plus the write itself)
FLUSH_ROWS = 200  # or sooner, when this many wait
RETRY_SECONDS = 5.0  # after a failed write (disk full, database locked), the rows wait and are tried again
MAX_WAITING = 10_000  # beyond this many unwritten rows, questions are refused rather than memory grown
ID_BLOCK = 1000  # question ids reserved at a time
WAIT_SECONDS = 30.0  # how long a write waits for another connection's (a long reindex's) transaction


@dataclass(frozen=True, slots=True)
class Stats:
    """What the question log says."""

    questions: int
    answered: int
    top_unanswered: tuple[tuple[str, int], ...]
    thumbs_up: int
    thumbs_down: int
    problems: tuple[str, ...] = ()  # what an operator must know about the service itself (database lost…)


class _Row(NamedTuple):
    """A question waiting to be written, in the column order of `_INSERT`."""

    id: int
    asked_at: str
    user_id: str | None
    channel: str | None
    via: str
    question: str
    answered: int
    top_source: str | None
    guild: str | None  # the server it was asked in; None in a DM or the terminal

    def anonymous(self) -> _Row:
        """The row without who asked, where and what (it still counts)."""
        return self._replace(user_id=None, channel=None, question="")

    def personal(self) -> bool:
        """Whether the row still says who asked, where or what."""
        return self.user_id is not None or self.channel is not None or self.question != ""


class QuestionLog:
    """The question log in an SQLite file, through a connection of its own."""

    def __init__(self, sql: Database, delay: float = FLUSH_SECONDS, batch: int = FLUSH_ROWS) -> None:
        self._sql = sql
        self._db = sql.db
        self.path = sql.path
        self._delay = delay
        self._batch = batch
        self._waiting: dict[int, _Row] = {}  # by id, in the order asked
        self._ids = range(0)  # reserved ids not handed out yet
        self._spare = range(0)  # the next block, reserved ahead by a write
        self._reserving = asyncio.Lock()
        self._writing = asyncio.Lock()
        self._due = asyncio.Event()  # rows wait
        self._full = asyncio.Event()  # a batch waits: write now
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self.problem: str | None = None  # why the last write failed, while rows wait (for /stats)

    @classmethod
    async def open(cls, path: Path, delay: float = FLUSH_SECONDS, batch: int = FLUSH_ROWS) -> QuestionLog:
        """Open (creating or upgrading its tables) and start the background writer; StoreError if not."""
        questions = cls(await Database.open(path, timeout=WAIT_SECONDS), delay, batch)
        try:
            version = await questions._version()  # before any write: a newer file is left as it is
            if version > LOG_VERSION:
                raise newer_schema(path, "question log", version, LOG_VERSION)
            await questions._db.execute("PRAGMA journal_mode = WAL")
            await questions._db.execute("PRAGMA synchronous = NORMAL")
            await questions._db.execute("PRAGMA foreign_keys = ON")
            await questions._migrate()
        except sqlite3.Error as exc:
            await questions._sql.close()
            raise StoreError(explain(path, exc)) from exc
        except BaseException:
            await questions._sql.close()
            raise
        questions._writer = asyncio.create_task(questions._write_loop(), name="qa-bot: question log")
        return questions

    async def _version(self) -> int:
        """The version of the log's tables in the file: 0 when it has none yet."""
        if await self._sql.has_table("question_log_meta"):
            rows = await self._sql.execute_fetchall("SELECT value FROM question_log_meta WHERE key = 'version'")
            if rows:
                return int(rows[0][0])
        return 1 if await self._sql.has_table("questions") else 0

    async def _migrate(self) -> None:
        """Create or upgrade the tables in one transaction, keeping every row; reserve the first ids."""
        async with self._sql.transaction(immediate=True) as db:
            version = await self._version()  # again, under the write lock: another process may have upgraded
            if version > LOG_VERSION:
                raise newer_schema(self.path, "question log", version, LOG_VERSION)
            for sql in _SCHEMA:
                await db.execute(sql)
            if 0 < version < 3:  # tables of an earlier release: questions gain the server they were asked in
                await db.execute("ALTER TABLE questions ADD COLUMN guild TEXT")
            if version == 1 and await self._sql.has_table("meta"):
                # Up to version 1 the bot kept the slash commands' hashes in the store's meta table.
                await db.execute("INSERT OR REPLACE INTO question_log_meta "
                                 "SELECT key, value FROM meta WHERE key LIKE 'commands:%'")
                await db.execute("DELETE FROM meta WHERE key LIKE 'commands:%'")
            await db.execute("INSERT OR REPLACE INTO question_log_meta VALUES ('version', ?)", (str(LOG_VERSION),))
            self._ids = await self._reserve(db)

    async def _reserve(self, db: aiosqlite.Connection) -> range:
        """Reserve a block of question ids, inside a write transaction. Several processes may log to one
        file: raising AUTOINCREMENT's counter past the block keeps every other writer's ids (ours, or an
        older release's plain INSERTs) out of it."""
        [(top,)] = await self._sql.execute_fetchall(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'questions'), 0), "
            "coalesce((SELECT max(id) FROM questions), 0))")
        end = int(top) + ID_BLOCK
        cur = await db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'questions'", (end,))
        if cur.rowcount == 0:
            await db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('questions', ?)", (end,))
        return range(int(top) + 1, end + 1)

    async def _next_id(self) -> int:
        """A question id of this process's block; a new block only when both are used up (rare: a write
        reserves the next one ahead)."""
        while not self._ids:
            if self._spare:
                self._ids, self._spare = self._spare, range(0)
                continue
            async with self._reserving:
                if not self._ids and not self._spare:
                    async with self._sql.transaction(immediate=True) as db:
                        self._spare = await self._reserve(db)
        qid, self._ids = self._ids[0], self._ids[1:]
        return qid

    async def log_question(
        self, question: str, answered: bool, top_source: str | None, via: str, user_id: str | None = None,
        channel: str | None = None, guild: str | None = None,
    ) -> int:
        """Record a question (and the server it was asked in); returns its id (for feedback) without waiting
        for the write."""
        if self._closed:
            raise StoreError(f"The question log on {str(self.path)!r} is closed.")
        if len(self._waiting) >= MAX_WAITING:
            why = self.problem or "its writes are behind"
            raise StoreError(f"The question log cannot take more questions ({why}): "
                             f"{len(self._waiting):,} questions wait.")
        qid = await self._next_id()
        self._waiting[qid] = _Row(qid, _now(), user_id, channel, via, question, int(answered), top_source, guild)
        self._due.set()
        if len(self._waiting) >= self._batch:
            self._full.set()
        return qid

    async def flush(self) -> None:
        """Write the questions waiting now, in one transaction; StoreError if they cannot be (they keep
        waiting, to be tried again)."""
        async with self._writing:
            rows = list(self._waiting.values())
            ahead = len(self._ids) < ID_BLOCK // 2 and not self._spare
            if not rows or self._closed:
                return
            try:
                async with self._sql.transaction(immediate=True) as db:
                    await db.executemany(_INSERT, rows)
                    spare = await self._reserve(db) if ahead else range(0)
            except StoreError as exc:
                if self.problem is None:
                    log.error("could not write %d questions to the log (kept in memory, tried again): %s",
                              len(rows), exc)
                self.problem = f"The question log cannot be written: {exc}"
                raise
            self._spare = self._spare or spare
            for row in rows:
                del self._waiting[row.id]
            if self.problem is not None:
                log.info("the question log is written again")
                self.problem = None
            if len(self._waiting) < self._batch:
                self._full.clear()
            if not self._waiting:
                self._due.clear()

    async def _write_loop(self) -> None:
        """The background writer: waits for rows, then for the delay or a full batch, and writes."""
        while True:
            await self._due.wait()
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for can swallow a cancellation that comes as
            # the batch fills, and close() then waited for this task forever (bench/question_log.py found it).
            with suppress(TimeoutError):
                async with asyncio.timeout(self._delay):
                    await self._full.wait()
            try:
                await self.flush()
            except StoreError:
                await asyncio.sleep(RETRY_SECONDS)  # logged once by flush; the rows wait
            except Exception:
                log.exception("writing the question log failed")
                await asyncio.sleep(RETRY_SECONDS)

    @property
    def waiting(self) -> int:
        """How many questions wait to be written."""
        return len(self._waiting)

    async def record_feedback(self, question_id: int, user_id: str, value: int) -> bool:
        """Record (or change) a user's 👍/👎 on an answer; False if the question is unknown."""
        if question_id in self._waiting:
            await self.flush()  # the vote refers to its question: write that first
        async with self._sql.transaction() as db:
            if not await self._sql.execute_fetchall("SELECT 1 FROM questions WHERE id = ?", (question_id,)):
                return False
            await db.execute(
                "INSERT INTO feedback (question_id, user_id, value) VALUES (?, ?, ?) "
                "ON CONFLICT (question_id, user_id) DO UPDATE SET value = excluded.value, at = datetime('now')",
                (question_id, user_id, value),
            )
        return True

    async def stats(self, top: int = 5, guild: str | None = None) -> Stats:
        """Counts of questions, answered, frequent unanswered ones, and feedback: of one server's questions
        when `guild` is given, else of all (waiting rows written first when they can be; when not,
        `problems` says so)."""
        with suppress(StoreError):
            await self.flush()
        sql = self._sql
        [(total, answered)] = await sql.execute_fetchall(
            "SELECT count(*), coalesce(sum(answered), 0) FROM questions WHERE ?1 IS NULL OR guild = ?1", (guild,))
        unanswered = await sql.execute_fetchall(
            "SELECT lower(question) AS q, count(*) AS n FROM questions WHERE answered = 0 AND question != '' "
            "AND (?1 IS NULL OR guild = ?1) GROUP BY q ORDER BY n DESC, q LIMIT ?2", (guild, top)
        )
        [(up, down)] = await sql.execute_fetchall(
            "SELECT coalesce(sum(value = 1), 0), coalesce(sum(value = -1), 0) FROM feedback "
            "WHERE ?1 IS NULL OR question_id IN (SELECT id FROM questions WHERE guild = ?1)", (guild,)
        )
        problems = (self.problem,) if self.problem else ()
        return Stats(total, answered, tuple((q, n) for q, n in unanswered), up, down, problems)

    async def command_hash(self, key: str) -> str | None:
        """The hash of the slash commands last synced under `key`, or None."""
        rows = await self._sql.execute_fetchall("SELECT value FROM question_log_meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def set_command_hash(self, key: str, digest: str) -> None:
        """Remember the hash of the slash commands just synced under `key`."""
        async with self._sql.transaction() as db:
            await db.execute("INSERT OR REPLACE INTO question_log_meta VALUES (?, ?)", (key, digest))

    async def close(self) -> None:
        """Stop the background writer, write what waits, close; safe to call twice."""
        if self._closed:
            return
        if self._writer is not None:
            async with self._writing:  # never cancelled in the middle of a write
                self._writer.cancel()
            if not self._writer.done():  # (done already when its event loop ended first)
                await asyncio.wait({self._writer})  # unlike awaiting it, lets a cancellation of close() through
            self._writer = None
        try:
            await self.flush()
        except StoreError as exc:
            log.error("%d questions could not be written to the log and are lost: %s", len(self._waiting), exc)
        self._closed = True
        await self._sql.close()

    # --- users' data: the question log's retention and a member's erasure ---------------------------------

    async def asked_at(self, question_id: int) -> str | None:
        """When a logged question was asked ('YYYY-MM-DD HH:MM:SS', UTC), or None if it is unknown."""
        if (row := self._waiting.get(question_id)) is not None:
            return row.asked_at
        rows = await self._sql.execute_fetchall("SELECT asked_at FROM questions WHERE id = ?", (question_id,))
        return str(rows[0][0]) if rows else None

    async def anonymise_before(self, cutoff: str) -> tuple[int, int]:
        """Strip who asked, where and what from the questions asked before `cutoff` (UTC, as `asked_at`),
        and who voted from the feedback given before it; the rows stay, so every count stays.
        Returns (questions, votes) changed; writes nothing when nothing is due."""
        waiting = self._erase(lambda row: row.asked_at < cutoff)
        [(due_q, due_v)] = await self._sql.execute_fetchall(
            "SELECT (SELECT count(*) FROM questions WHERE asked_at < ?1 AND "
            "(user_id IS NOT NULL OR channel IS NOT NULL OR question != '')), "
            "(SELECT count(*) FROM feedback WHERE at < ?1 AND user_id NOT LIKE 'anon:%')", (cutoff,)
        )
        if not due_q and not due_v:
            return waiting, 0
        async with self._sql.transaction(immediate=True) as db:
            questions = await db.execute(
                "UPDATE questions SET user_id = NULL, channel = NULL, question = '' WHERE asked_at < ? "
                "AND (user_id IS NOT NULL OR channel IS NOT NULL OR question != '')", (cutoff,)
            )
            # A random stand-in keeps each vote its own row (the key is question and voter).
            votes = await db.execute(
                "UPDATE feedback SET user_id = 'anon:' || lower(hex(randomblob(8))) "
                "WHERE at < ? AND user_id NOT LIKE 'anon:%'", (cutoff,)
            )
        return waiting + questions.rowcount, votes.rowcount

    async def forget_user(self, user_ids: Sequence[str]) -> tuple[int, int]:
        """Erase what the log holds about a member, known by any of `user_ids`: their questions keep only
        when and whether they were answered (they still count), their votes are deleted.
        Returns (questions, votes) erased."""
        questions = self._erase(lambda row: row.user_id in user_ids)
        votes = 0
        async with self._sql.transaction(immediate=True) as db:
            for user_id in user_ids:
                cur = await db.execute(
                    "UPDATE questions SET user_id = NULL, channel = NULL, question = '' WHERE user_id = ?",
                    (user_id,),
                )
                questions += cur.rowcount
                cur = await db.execute("DELETE FROM feedback WHERE user_id = ?", (user_id,))
                votes += cur.rowcount
        return questions, votes

    def _erase(self, due: Callable[[_Row], bool]) -> int:
        """Make the waiting rows that are `due` anonymous, as the same erasure does to written ones."""
        erased = [row.anonymous() for row in self._waiting.values() if row.personal() and due(row)]
        self._waiting.update((row.id, row) for row in erased)
        return len(erased)



def _now() -> str:
    """Now, as SQLite's datetime('now') writes it (UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
