"""The SQLite store: schema, round trips, one-transaction reindex writes, damaged files (the question log:
test_question_log.py; upgrades from earlier releases: test_upgrade.py)."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.documents import SkipReason, parse_document
from retrieval.errors import StoreError
from retrieval.model import Document, Passage, Skipped
from retrieval.passages import all_passages
from retrieval.store import SCHEMA_VERSION, Store

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
TABLES = {"meta", "documents", "passages", "skipped", "digests"}


def seed_documents() -> list[Document]:
    """The seed files, parsed by the real reader, in id order."""
    return [parse_document(p.name, p.read_bytes()) for p in sorted(SEEDS.glob("*.txt"))]


def handmade() -> Document:
    """A document with no date, non-ASCII text and a long paragraph."""
    long = " ".join(f"Sentence number {i} says “café” and naïve things." for i in range(60))
    return parse_document("notes/zz-handmade.md", f"Hand-made notes\n\nShort line — ok.\n\n{long}\n".encode())


async def contents(store: Store) -> tuple[object, ...]:
    """Everything a reindex writes, for before/after comparisons."""
    return (await store.documents(), await store.passages(), await store.hashes(), await store.skipped())


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    s = await Store.open(tmp_path / "qa.sqlite3")
    yield s
    await s.close()


@pytest.fixture
async def filled(store: Store) -> Store:
    """A store holding the seeds, their passages and one skipped file."""
    docs = seed_documents()
    await store.replace_documents(docs, all_passages(docs), [], [Skipped("logo.txt", "it is a binary file")])
    return store


# --- opening -------------------------------------------------------------------------------------------


async def test_open_creates_parent_folders_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "qa.sqlite3"
    store = await Store.open(path)
    await store.close()
    await store.close()  # closing twice is harmless

    assert path.is_file()
    with sqlite3.connect(path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert TABLES <= tables
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    con.close()


async def test_reopening_keeps_the_contents(tmp_path: Path) -> None:
    path = tmp_path / "qa.sqlite3"
    docs = seed_documents()
    store = await Store.open(path)
    await store.replace_documents(docs, all_passages(docs), [], [Skipped("x.txt", "it is empty")])
    await store.set_meta("reader_version", "7")
    before = await contents(store), await store.generation()
    await store.close()

    again = await Store.open(path)
    try:
        assert (await contents(again), await again.generation()) == before
        assert await again.get_meta("reader_version") == "7"
    finally:
        await again.close()


async def test_a_folder_in_place_of_the_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "qa.sqlite3").mkdir()
    threads = set(threading.enumerate())
    with pytest.raises(StoreError, match="Cannot open the database .*qa.sqlite3"):
        await Store.open(tmp_path / "qa.sqlite3")
    # A failed aiosqlite.connect stops its worker thread without waiting for it; let it finish while the
    # event loop still runs, or it reports "Event loop is closed" into a later test.
    for _ in range(500):
        if not [t for t in threading.enumerate() if t not in threads and "worker" in t.name]:
            break
        await asyncio.sleep(0.01)


# --- documents and passages -------------------------------------------------------------------------------


async def test_documents_and_passages_round_trip_exactly(store: Store) -> None:
    docs = sorted([*seed_documents(), handmade()], key=lambda d: d.id)
    passages = all_passages(docs, max_words=40)  # small parts, so some paragraphs have part > 1
    assert any(p.part > 1 for p in passages)
    assert any(d.date is None for d in docs) and any(d.date for d in docs)
    skipped = [Skipped("a.bin.txt", "it is a binary file"), Skipped("b.txt", "it is empty")]

    await store.replace_documents(docs, passages, [], skipped)

    assert await store.documents() == docs  # every field: id, title, date (None too), paragraphs, hash
    assert await store.passages() == passages  # in document and ordinal order, part kept
    assert await store.hashes() == {d.id: d.content_hash for d in docs}
    assert await store.skipped() == skipped


async def test_replace_updates_changed_removes_removed_and_keeps_the_rest(filled: Store) -> None:
    docs = seed_documents()
    kept, changed, removed = docs[0], docs[1], docs[2]
    new_changed = parse_document(changed.id, b"A rewritten article.\n\nWith only two paragraphs now.")
    added = parse_document("new.txt", b"Fresh news about zebras.")
    upserts = [new_changed, added]

    await filled.replace_documents(upserts, all_passages(upserts), [removed.id], [])

    stored = {d.id: d for d in await filled.documents()}
    assert removed.id not in stored
    assert stored[changed.id] == new_changed and stored["new.txt"] == added and stored[kept.id] == kept
    passages = await filled.passages()
    assert [p for p in passages if p.doc_id == changed.id] == all_passages([new_changed])
    assert [p for p in passages if p.doc_id == kept.id] == all_passages([kept])
    assert not [p for p in passages if p.doc_id == removed.id]  # cascaded with the document
    assert await filled.skipped() == []  # the skipped list is replaced, not merged


@given(st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=6))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_document_the_reader_makes_round_trips(tmp_path: Path, blocks: list[str]) -> None:
    raw = "\n\n".join(blocks).encode("utf-8", "surrogatepass")
    try:
        doc = parse_document("doc.txt", raw)
    except SkipReason:  # binary, not UTF-8, empty: the reader skips it, nothing to store
        return

    async def round_trip() -> tuple[list[Document], list[Passage]]:
        with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
            store = await Store.open(Path(folder) / "qa.sqlite3")
            try:
                await store.replace_documents([doc], all_passages([doc]), [], [])
                return await store.documents(), await store.passages()
            finally:
                await store.close()

    assert asyncio.run(round_trip()) == ([doc], all_passages([doc]))


# --- one transaction ------------------------------------------------------------------------------------


async def test_passages_that_fail_midway_leave_the_previous_contents(filled: Store) -> None:
    before = await contents(filled)
    new = parse_document("new.txt", b"One.\n\nTwo.\n\nThree.")
    docs = seed_documents()

    def passages() -> Iterator[Passage]:
        yield from all_passages([new])
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError, match="disk went away"):
        await filled.replace_documents([new, docs[1]], passages(), [docs[0].id], [])

    assert await contents(filled) == before
    # And the connection is not left inside a transaction: the next write works.
    await filled.replace_documents([new], all_passages([new]), [], [])
    assert "new.txt" in await filled.hashes()


def _failing_writes() -> dict[str, tuple[list[Document], list[Passage], list[str], list[Skipped]]]:
    docs = seed_documents()
    new = parse_document("new.txt", b"Something new.")
    return {
        # a passage of a document that is neither stored nor written: the foreign key refuses it
        "passage of an unknown document": ([new], [*all_passages([new]), Passage("ghost.txt", 1, "Boo.")], [], []),
        # a passage of an unchanged stored document: (doc_id, ordinal 1) is already there
        "duplicate (doc_id, ordinal)": ([new], [*all_passages([new]), Passage(docs[3].id, 1, "Again.")], [], []),
        # the very last statement fails, after every document and passage was written
        "duplicate skipped name": (
            [new], all_passages([new]), [docs[0].id], [Skipped("x.txt", "a"), Skipped("x.txt", "b")],
        ),
    }


@pytest.mark.parametrize("case", list(_failing_writes()))
async def test_a_failing_statement_rolls_back_the_whole_reindex(filled: Store, case: str) -> None:
    before = await contents(filled)
    upserts, passages, removed, skipped = _failing_writes()[case]

    with pytest.raises(StoreError, match="qa.sqlite3"):
        await filled.replace_documents(upserts, passages, removed, skipped)

    assert await contents(filled) == before
    assert await filled.integrity() == "ok"


# --- damaged, foreign and read-only files -------------------------------------------------------------------


def _damaged_database(path: Path) -> None:
    """A real SQLite file (rollback journal, as other tools make them) with a page overwritten."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    con.commit()
    con.close()
    raw = bytearray(path.read_bytes())
    raw[3 * 4096 : 3 * 4096 + 300] = b"\xab" * 300
    path.write_bytes(bytes(raw))


FOREIGN_FILES = {
    "text file": lambda p: p.write_text("These are my notes, not a database.\n" * 50),
    "random bytes": lambda p: p.write_bytes(random.Random(7).randbytes(16384)),
    "damaged database": _damaged_database,
}


@pytest.mark.parametrize("kind", list(FOREIGN_FILES))
async def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "qa.sqlite3"
    FOREIGN_FILES[kind](path)
    before = path.read_bytes()

    with pytest.raises(StoreError) as caught:
        await Store.open(path)

    message = str(caught.value)
    assert str(path) in message and "damaged" in message
    assert "\n" not in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa.sqlite3"]  # no -wal or -shm left behind


def _modes_are_enforced(folder: Path) -> bool:
    """Whether a 0o444 file really refuses writes here (not for root, nor on some file systems)."""
    probe = folder / "probe"
    probe.write_text("x")
    probe.chmod(0o444)
    try:
        with probe.open("a"):
            return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o644)
        probe.unlink()


async def test_a_read_only_database_gives_a_clear_error_and_is_not_changed(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    if not _modes_are_enforced(folder):
        reason = "running as root" if os.geteuid() == 0 else "this file system ignores file modes"
        pytest.skip(f"{reason}: chmod 0o444 does not stop writes in this process, so a read-only database cannot "
                    "be made here; test_faults.py checks it in a process without root's file capabilities")
    path = folder / "qa.sqlite3"
    store = await Store.open(path)
    await store.set_meta("earlier", "1")
    await store.close()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        before = path.read_bytes()
        with pytest.raises(StoreError) as caught:
            store = await Store.open(path)
            try:  # should SQLite open it after all, the first write must fail just as clearly
                await store.set_meta("now", "1")
            finally:
                await store.close()
        assert str(caught.value) == f"The database {str(path)!r} is read-only: check its permissions."
        assert path.read_bytes() == before
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)


async def test_integrity_is_ok_after_writes(filled: Store) -> None:
    new = parse_document("new.txt", b"Something new.")
    await filled.replace_documents([new], all_passages([new]), [seed_documents()[0].id], [])
    assert await filled.integrity() == "ok"
