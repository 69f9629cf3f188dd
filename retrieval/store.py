"""The engine's store: documents, passages, their digests, the files skipped, and a key-value meta table.

`DocumentStore` is what the engine and the service need of a store; `SQLiteStore` keeps it in one SQLite
file (aiosqlite). The bot's question log lives elsewhere (bot/question_log.py), possibly in the same file.

Integrity: each document has a digest of its stored row and passage rows, written with them; a build
from the store verifies it (`checked`), so passages changed behind the store's back are never indexed.
The `generation` in the meta table is bumped by every reindex that changes documents, in the same
transaction: a process serving an index built at an older generation knows it must switch.

Schema versions (the meta row `schema_version`, read before anything is written): 1 the first release;
2 passages carry kind, section, marks and page. A file of a newer version is refused, left unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .database import Database, explain, newer_schema
from .errors import StoreError
from .model import Document, Passage, Skipped
from .structure import marks_json, marks_of_json, section_json, section_of_json

SCHEMA_VERSION = 2
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
"""


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


class DocumentStore(Protocol):
    """What the engine and the service need of a store: the documents and passages of one collection,
    written a reindex at a time, with a generation counter and a few settings (meta)."""

    path: Path  # where it lives: the saved index sits beside it

    async def documents(self, text: bool = True) -> list[Document]:
        """Every stored document, by id (with `text=False` without their paragraphs)."""
        ...

    async def passages(self) -> list[Passage]:
        """Every stored passage, in document and ordinal order."""
        ...

    async def generation(self) -> int:
        """How many reindexes have changed the documents: a newer one means a newer index."""
        ...

    async def checked(self) -> Checked:
        """Documents and passages of one generation, each document checked against its digest."""
        ...

    async def hashes(self) -> dict[str, str]:
        """Content hash of each stored document."""
        ...

    async def skipped(self) -> list[Skipped]:
        """Files skipped by the last reindex, and why."""
        ...

    async def replace_documents(
        self, upserts: Sequence[Document], passages: Iterable[Passage], removed: Sequence[str],
        skipped: Sequence[Skipped],
    ) -> int:
        """Write a reindex all at once, or nothing; returns the generation after it."""
        ...

    async def get_meta(self, key: str) -> str | None:
        """A stored setting, or None."""
        ...

    async def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        ...

    async def integrity(self) -> str:
        """"ok" when the storage is sound, else what is wrong."""
        ...

    async def close(self) -> None:
        """Release the storage; safe to call twice."""
        ...


class SQLiteStore:
    """A `DocumentStore` in one SQLite file; every write that belongs together is one transaction."""

    def __init__(self, sql: Database) -> None:
        self._sql = sql
        self._db = sql.db
        self.path = sql.path

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        """Open (creating if needed), check and migrate the database; StoreError with a clear reason if not."""
        store = cls(await Database.open(path))
        db = store._db
        try:
            await store._check()  # before journal_mode = WAL, which rewrites the file header
            version = await store._version()  # before any write: a newer file is left as it is
            if version > SCHEMA_VERSION:
                raise newer_schema(path, "store schema", version, SCHEMA_VERSION)
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL is still safe against crashes (a power cut may lose the last commits,
            # never corrupt): a write then costs no fsync.
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.executescript(_SCHEMA)
            await store._migrate(version)
            await db.commit()
        except sqlite3.Error as exc:
            await store.close()
            raise StoreError(explain(path, exc)) from exc
        except StoreError:
            await store.close()
            raise
        return store

    async def _version(self) -> int:
        """The schema version the file was written with; SCHEMA_VERSION for a new file."""
        if not await self._sql.has_table("meta"):
            return SCHEMA_VERSION
        rows = await self._sql.execute_fetchall("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(rows[0][0]) if rows else SCHEMA_VERSION

    async def _migrate(self, version: int) -> None:
        """Bring a database written by an earlier release to this schema, keeping its data."""
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
        await self._sql.close()

    async def documents(self, text: bool = True) -> list[Document]:
        """Every stored document, by id; with `text=False` without their paragraphs (a start needs
        only titles, dates and hashes: the passages hold the text)."""
        if not text:
            return _heads(await self._sql.execute_fetchall(_HEADS))
        rows = await self._sql.execute_fetchall(
            "SELECT id, title, date, content_hash, text FROM documents ORDER BY id")
        return [Document(i, t, d, tuple(x.split("\n")) if x else (), h) for i, t, d, h, x in rows]

    async def passages(self) -> list[Passage]:
        """Every stored passage, in document and ordinal order."""
        rows = await self._sql.execute_fetchall("SELECT * FROM passages ORDER BY doc_id, ordinal")
        return [_passage(r) for r in rows]

    async def generation(self) -> int:
        """How many reindexes have changed the documents: a newer one means a newer index."""
        rows = await self._sql.execute_fetchall("SELECT value FROM meta WHERE key = 'generation'")
        return int(rows[0][0]) if rows else 0

    async def checked(self) -> Checked:
        """Documents and passages of one generation, each document checked against its digest (in a worker
        thread: hashing every passage would hold the event loop). Read again if a reindex committed meanwhile."""
        while True:
            generation = await self.generation()
            documents = await self._sql.execute_fetchall(
                "SELECT id, title, date, content_hash FROM documents ORDER BY id")
            digests = dict(await self._sql.execute_fetchall("SELECT doc_id, digest FROM digests"))
            rows = await self._sql.execute_fetchall("SELECT * FROM passages ORDER BY doc_id, ordinal")
            if await self.generation() == generation:
                return await asyncio.to_thread(_checked, generation, documents, digests, rows)

    async def hashes(self) -> dict[str, str]:
        """Content hash of each stored document."""
        return dict(await self._sql.execute_fetchall("SELECT id, content_hash FROM documents"))

    async def skipped(self) -> list[Skipped]:
        """Files skipped by the last reindex, and why."""
        rows = await self._sql.execute_fetchall("SELECT name, reason FROM skipped ORDER BY name")
        return [Skipped(n, r) for n, r in rows]

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
        async with self._sql.transaction(immediate=True) as db:
            await db.executemany("DELETE FROM documents WHERE id = ?", [(i,) for i in [*removed, *changed]])
            await db.executemany(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
                [(d.id, d.title, d.date, d.content_hash, "\n".join(d.paragraphs)) for d in upserts],
            )
            await db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            await db.executemany("INSERT INTO digests VALUES (?, ?)", digests)
            await db.execute("DELETE FROM skipped")
            await db.executemany("INSERT INTO skipped VALUES (?, ?)", [(s.name, s.reason) for s in skipped])
            if upserts or removed:
                await db.execute(
                    "INSERT INTO meta VALUES ('generation', '1') "
                    "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                )
            generation = await self.generation()
        return generation

    async def get_meta(self, key: str) -> str | None:
        """A value from the key-value table, or None."""
        rows = await self._sql.execute_fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def set_meta(self, key: str, value: str) -> None:
        """Set a value in the key-value table."""
        async with self._sql.transaction() as db:
            await db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    async def integrity(self) -> str:
        """SQLite's full integrity check: "ok" when the file is sound."""
        return str((await self._sql.execute_fetchall("PRAGMA integrity_check"))[0][0])


Store = SQLiteStore  # the name the rest of the code knew it by


_HEADS = "SELECT id, title, date, content_hash FROM documents ORDER BY id"  # documents without their text


def _heads(rows: Iterable[tuple[str, str, str | None, str]]) -> list[Document]:
    """The documents of `_HEADS`'s rows, without their text."""
    return [Document(i, t, d, (), h) for i, t, d, h in rows]


def document_heads(path: Path) -> list[Document]:
    """`documents(text=False)` of the store at `path`, read synchronously through a read-only connection: for
    a process with no event loop (an answering process loading the saved index of these documents)."""
    with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        return _heads(db.execute(_HEADS))


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

