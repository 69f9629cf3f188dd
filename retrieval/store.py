"""The SQLite store (aiosqlite): documents, passages, the question log and feedback.

Integrity: each document has a digest of its stored row and passage rows, written with them; a build
from the store verifies it (`checked`), so passages changed behind the store's back are never indexed.
The `generation` in the meta table is bumped by every reindex that changes documents, in the same
transaction: a process serving an index built at an older generation knows it must switch.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from .errors import StoreError
from .model import Document, Passage, Skipped
from .structure import marks_json, marks_of_json, section_json, section_of_json

SCHEMA_VERSION = 2  # 2: passages carry kind, section, marks and page
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, content_hash TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, paragraph INTEGER NOT NULL, part INTEGER NOT NULL, text TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'prose', section TEXT NOT NULL DEFAULT '', marks TEXT NOT NULL DEFAULT '',
    page INTEGER,
    PRIMARY KEY (doc_id, ordinal)
);
CREATE TABLE IF NOT EXISTS skipped (name TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS digests (
    doc_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE, digest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, asked_at TEXT NOT NULL DEFAULT (datetime('now')),
    user_id TEXT, channel TEXT, via TEXT NOT NULL, question TEXT NOT NULL,
    answered INTEGER NOT NULL, top_source TEXT
);
CREATE TABLE IF NOT EXISTS feedback (
    question_id INTEGER NOT NULL REFERENCES questions(id), user_id TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)), at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (question_id, user_id)
);
"""


@dataclass(frozen=True, slots=True)
class Stats:
    """What the question log says."""

    questions: int
    answered: int
    top_unanswered: tuple[tuple[str, int], ...]
    thumbs_up: int
    thumbs_down: int
    problems: tuple[str, ...] = ()  # what an operator must know about the service itself (database lost…)


@dataclass(frozen=True, slots=True)
class Checked:
    """The stored documents and passages as of one generation, split by their digests: `documents` and
    `passages` are the sound ones; `damaged` documents' rows differ from their digest (never index them:
    re-read them from the folder); `unverified` ones have no digest yet (a store from before digests)."""

    generation: int
    documents: list[Document]
    passages: list[Passage]
    damaged: tuple[str, ...]
    unverified: tuple[str, ...]


class Store:
    """One SQLite file; every write that belongs together is one transaction."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        # One connection is shared by every request: a write must not run (and commit) inside another's
        # transaction, e.g. a question logged while a reindex is being written.
        self._write = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Open (creating if needed) and check the database; StoreError with a clear reason if not."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the folder for the database {str(path)!r}: {exc.strerror}.") from exc
        db = await _connect(path)
        store = cls(db, path)
        try:
            await db.execute("PRAGMA foreign_keys = ON")
            await store._check()  # before journal_mode = WAL, which rewrites the file header
            await db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL is still safe against crashes (a power cut may lose the last commits,
            # never corrupt): each logged question then costs no fsync.
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.executescript(_SCHEMA)
            await store._migrate()
            await db.commit()
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(_explain(path, exc)) from exc
        except StoreError:
            await db.close()
            raise
        return store

    @asynccontextmanager
    async def _transaction(self, immediate: bool = False) -> AsyncIterator[None]:
        """One write under the write lock: committed when the block ends, rolled back on any error (an
        SQLite one raised as StoreError). `immediate` takes the database's write lock at once (BEGIN
        IMMEDIATE), for writes that read first."""
        async with self._write:
            try:
                if immediate:
                    await self._db.execute("BEGIN IMMEDIATE")
                yield
                await self._db.commit()
            except BaseException as exc:
                await _rollback(self._db)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(_explain(self.path, exc)) from exc
                raise

    async def _migrate(self) -> None:
        """Bring a database written by an earlier release to this schema, keeping its data."""
        async with self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else SCHEMA_VERSION
        if version < 2:  # passages gained their structure; old ones are plain prose, as they were read
            async with self._db.execute("PRAGMA table_info(passages)") as cur:
                have = {r[1] for r in await cur.fetchall()}
            if "kind" not in have:
                await self._db.execute("ALTER TABLE passages ADD COLUMN kind TEXT NOT NULL DEFAULT 'prose'")
            if "section" not in have:
                await self._db.execute("ALTER TABLE passages ADD COLUMN section TEXT NOT NULL DEFAULT ''")
            if "marks" not in have:
                await self._db.execute("ALTER TABLE passages ADD COLUMN marks TEXT NOT NULL DEFAULT ''")
            if "page" not in have:
                await self._db.execute("ALTER TABLE passages ADD COLUMN page INTEGER")
        await self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    async def _check(self) -> None:
        """Refuse a corrupt file before anything is written to it."""
        async with self._db.execute("PRAGMA quick_check") as cur:
            row = await cur.fetchone()
        if not row or row[0] != "ok":
            raise StoreError(f"The database {str(self.path)!r} is damaged ({row[0] if row else 'no answer'}).")

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        try:
            await self._db.close()
        except (sqlite3.Error, ValueError):
            pass

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query, errors as StoreError."""
        try:
            async with self._db.execute(sql, args) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from exc

    async def documents(self, text: bool = True) -> list[Document]:
        """Every stored document, by id; with `text=False` without their paragraphs (a start needs
        only titles, dates and hashes: the passages hold the text)."""
        if not text:
            rows = await self._all("SELECT id, title, date, content_hash FROM documents ORDER BY id")
            return [Document(i, t, d, (), h) for i, t, d, h in rows]
        rows = await self._all("SELECT id, title, date, content_hash, text FROM documents ORDER BY id")
        return [Document(i, t, d, tuple(x.split("\n")) if x else (), h) for i, t, d, h, x in rows]

    async def passages(self) -> list[Passage]:
        """Every stored passage, in document and ordinal order."""
        return [_passage(r) for r in await self._all("SELECT * FROM passages ORDER BY doc_id, ordinal")]

    async def generation(self) -> int:
        """How many reindexes have changed the documents: a newer one means a newer index."""
        rows = await self._all("SELECT value FROM meta WHERE key = 'generation'")
        return int(rows[0][0]) if rows else 0

    async def checked(self) -> Checked:
        """Documents and passages of one generation, each document checked against its digest (in a worker
        thread: hashing every passage would hold the event loop). Read again if a reindex committed meanwhile."""
        while True:
            generation = await self.generation()
            documents = await self._all("SELECT id, title, date, content_hash FROM documents ORDER BY id")
            digests = dict(await self._all("SELECT doc_id, digest FROM digests"))
            rows = await self._all("SELECT * FROM passages ORDER BY doc_id, ordinal")
            if await self.generation() == generation:
                return await asyncio.to_thread(_checked, generation, documents, digests, rows)

    async def hashes(self) -> dict[str, str]:
        """Content hash of each stored document."""
        return dict(await self._all("SELECT id, content_hash FROM documents"))

    async def skipped(self) -> list[Skipped]:
        """Files skipped by the last reindex, and why."""
        return [Skipped(n, r) for n, r in await self._all("SELECT name, reason FROM skipped ORDER BY name")]

    async def replace_documents(
        self, upserts: Sequence[Document], passages: Iterable[Passage], removed: Sequence[str],
        skipped: Sequence[Skipped],
    ) -> int:
        """Write a reindex in one transaction: all of it lands, or none of it. Returns the generation the
        store is at after it (bumped when documents changed)."""
        changed = [d.id for d in upserts]
        ordinals: dict[str, int] = {}
        rows = []
        for p in passages:
            ordinals[p.doc_id] = ordinals.get(p.doc_id, 0) + 1
            rows.append((p.doc_id, ordinals[p.doc_id], p.paragraph, p.part, p.text, p.kind,
                         section_json(p.section), marks_json(p.marks), p.page))
        documents = [(d.id, d.title, d.date, d.content_hash) for d in upserts]
        digests = await asyncio.to_thread(_digests, documents, rows)  # hashing every passage: off the loop
        async with self._transaction(immediate=True):
            await self._db.executemany(
                "DELETE FROM documents WHERE id = ?", [(i,) for i in [*removed, *changed]]
            )
            await self._db.executemany(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
                [(d.id, d.title, d.date, d.content_hash, "\n".join(d.paragraphs)) for d in upserts],
            )
            await self._db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            await self._db.executemany("INSERT INTO digests VALUES (?, ?)", digests)
            await self._db.execute("DELETE FROM skipped")
            await self._db.executemany(
                "INSERT INTO skipped VALUES (?, ?)", [(s.name, s.reason) for s in skipped]
            )
            if upserts or removed:
                await self._db.execute(
                    "INSERT INTO meta VALUES ('generation', '1') "
                    "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                )
            generation = await self.generation()
        return generation

    async def log_question(
        self, question: str, answered: bool, top_source: str | None, via: str, user_id: str | None = None,
        channel: str | None = None,
    ) -> int:
        """Record a question; returns its id (for feedback)."""
        async with self._transaction():
            cur = await self._db.execute(
                "INSERT INTO questions (user_id, channel, via, question, answered, top_source) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, channel, via, question, int(answered), top_source),
            )
        return int(cur.lastrowid or 0)

    async def record_feedback(self, question_id: int, user_id: str, value: int) -> bool:
        """Record (or change) a user's 👍/👎 on an answer; False if the question is unknown."""
        async with self._transaction():
            if not await self._all("SELECT 1 FROM questions WHERE id = ?", (question_id,)):
                return False
            await self._db.execute(
                "INSERT INTO feedback (question_id, user_id, value) VALUES (?, ?, ?) "
                "ON CONFLICT (question_id, user_id) DO UPDATE SET value = excluded.value, at = datetime('now')",
                (question_id, user_id, value),
            )
        return True

    async def stats(self, top: int = 5) -> Stats:
        """Counts of questions, answered, frequent unanswered ones, and feedback."""
        [(total, answered)] = await self._all("SELECT count(*), coalesce(sum(answered), 0) FROM questions")
        unanswered = await self._all(
            "SELECT lower(question) AS q, count(*) AS n FROM questions WHERE answered = 0 AND question != '' "
            "GROUP BY q ORDER BY n DESC, q LIMIT ?", (top,)
        )
        [(up, down)] = await self._all(
            "SELECT coalesce(sum(value = 1), 0), coalesce(sum(value = -1), 0) FROM feedback"
        )
        return Stats(total, answered, tuple((q, n) for q, n in unanswered), up, down)

    async def get_meta(self, key: str) -> str | None:
        """A value from the key-value table, or None."""
        rows = await self._all("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def set_meta(self, key: str, value: str) -> None:
        """Set a value in the key-value table."""
        async with self._transaction():
            await self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    async def integrity(self) -> str:
        """SQLite's full integrity check: "ok" when the file is sound."""
        return str((await self._all("PRAGMA integrity_check"))[0][0])

    # --- users' data: the question log's retention and a member's erasure ---------------------------------

    async def asked_at(self, question_id: int) -> str | None:
        """When a logged question was asked ('YYYY-MM-DD HH:MM:SS', UTC), or None if it is unknown."""
        rows = await self._all("SELECT asked_at FROM questions WHERE id = ?", (question_id,))
        return str(rows[0][0]) if rows else None

    async def anonymise_before(self, cutoff: str) -> tuple[int, int]:
        """Strip who asked, where and what from the questions asked before `cutoff` (UTC, as `asked_at`),
        and who voted from the feedback given before it; the rows stay, so every count stays.
        Returns (questions, votes) changed; writes nothing when nothing is due."""
        [(due_q, due_v)] = await self._all(
            "SELECT (SELECT count(*) FROM questions WHERE asked_at < ?1 AND "
            "(user_id IS NOT NULL OR channel IS NOT NULL OR question != '')), "
            "(SELECT count(*) FROM feedback WHERE at < ?1 AND user_id NOT LIKE 'anon:%')", (cutoff,)
        )
        if not due_q and not due_v:
            return 0, 0
        async with self._transaction(immediate=True):
            questions = await self._db.execute(
                "UPDATE questions SET user_id = NULL, channel = NULL, question = '' WHERE asked_at < ? "
                "AND (user_id IS NOT NULL OR channel IS NOT NULL OR question != '')", (cutoff,)
            )
            # A random stand-in keeps each vote its own row (the key is question and voter).
            votes = await self._db.execute(
                "UPDATE feedback SET user_id = 'anon:' || lower(hex(randomblob(8))) "
                "WHERE at < ? AND user_id NOT LIKE 'anon:%'", (cutoff,)
            )
        return questions.rowcount, votes.rowcount

    async def forget_user(self, user_ids: Sequence[str]) -> tuple[int, int]:
        """Erase what the log holds about a member, known by any of `user_ids`: their questions keep only
        when and whether they were answered (they still count), their votes are deleted.
        Returns (questions, votes) erased."""
        async with self._transaction(immediate=True):
            questions = votes = 0
            for user_id in user_ids:
                cur = await self._db.execute(
                    "UPDATE questions SET user_id = NULL, channel = NULL, question = '' WHERE user_id = ?",
                    (user_id,),
                )
                questions += cur.rowcount
                cur = await self._db.execute("DELETE FROM feedback WHERE user_id = ?", (user_id,))
                votes += cur.rowcount
        return questions, votes


def _passage(row: Sequence[Any]) -> Passage:
    """A passage from a whole row of the passages table (doc_id, ordinal, paragraph, part, text, kind,
    section, marks, page: the columns of schema 2 come last, where a migration adds them)."""
    doc_id, _ordinal, paragraph, part, text, kind, section, marks, page = row[:9]
    return Passage(doc_id, paragraph, text, part, kind, section_of_json(section), marks_of_json(marks), page)


def _digest(document: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """The digest of a document's row and its whole passage rows (every column: one added later is covered
    too). Values hash as SQLite gives them back (bools as integers), so writing and reading agree."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(tuple(document)).encode())
    for row in rows:
        digest.update(repr(tuple(int(v) if isinstance(v, bool) else v for v in row)).encode())
    return digest.hexdigest()


def _digests(documents: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]) -> list[tuple[str, str]]:
    """(document id, digest) of each document; `rows` are the passage rows, grouped by document."""
    by_doc: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        by_doc.setdefault(row[0], []).append(row)
    return [(d[0], _digest(d, by_doc.get(d[0], ()))) for d in documents]


def _checked(generation: int, documents: Sequence[Sequence[Any]], digests: dict[str, str],
             rows: Sequence[Sequence[Any]]) -> Checked:
    """Split the stored documents by whether their rows still match their digests."""
    by_doc: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        by_doc.setdefault(row[0], []).append(row)
    sound: list[Document] = []
    passages: list[Passage] = []
    damaged: list[str] = []
    unverified: list[str] = []
    for doc in documents:
        own = by_doc.get(doc[0], [])
        expected = digests.get(doc[0])
        if expected is not None and expected != _digest(doc, own):
            damaged.append(doc[0])
            continue
        if expected is None:
            unverified.append(doc[0])
        sound.append(Document(doc[0], doc[1], doc[2], (), doc[3]))
        passages += [_passage(r) for r in own]
    return Checked(generation, sound, passages, tuple(damaged), tuple(unverified))


async def _rollback(db: aiosqlite.Connection) -> None:
    """Roll back, ignoring a connection that is already gone."""
    try:
        await db.rollback()
    except (sqlite3.Error, ValueError):
        pass


def _explain(path: Path, exc: sqlite3.Error) -> str:
    """One line a person can act on, for an SQLite error."""
    text = str(exc)
    if "readonly" in text:
        return f"The database {str(path)!r} is read-only: check its permissions."
    if "locked" in text or "busy" in text:
        return f"The database {str(path)!r} is locked by another process: is the bot already running?"
    if "not a database" in text or "malformed" in text or "disk image" in text:
        return f"The database {str(path)!r} is damaged or not a database ({text})."
    return f"Database error on {str(path)!r}: {text}."


async def _connect(path: Path) -> aiosqlite.Connection:
    """An aiosqlite connection, or StoreError. SQLite is asked first, in a worker thread: a failed
    aiosqlite.connect leaves its own thread to report the failure to an event loop that is closed by
    then, which printed a 23-line traceback after the error line."""

    def probe() -> None:
        sqlite3.connect(path, timeout=5).close()

    try:
        await asyncio.to_thread(probe)
        return await aiosqlite.connect(path, timeout=5)
    except sqlite3.Error as exc:
        raise StoreError(f"Cannot open the database {str(path)!r}: {exc}.") from exc
