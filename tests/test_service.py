"""QAService over real folders and real SQLite files: open, reindex, atomicity, concurrency, logging, follow-ups."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.render_text import answer_json
from bot.service import Conversations, QAService, SourceInfo, index_path
from retrieval.documents import read_folder
from retrieval.errors import BusyError, DocumentsError, QuestionError, StoreError
from retrieval.model import Skipped
from retrieval.passages import all_passages
from retrieval.store import Store

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
WITKOFF = "Who is Steve Witkoff?"
FOLLOW_UP = "What did he do on Feb. 3?"
NOT_FOUND = "What is the capital of Mongolia?"
ZEBRA = "Where did the zebra migration cross the river?"
ZEBRA_TEXT = (
    "date 2025-02-10 Zebra migration\n\nThe zebra migration crossed the Limpopo river in March, rangers said.\n"
)
OCTOPUS = "What is the giant octopus at the aquarium called?"
OCTOPUS_TEXT = "\n\nThe delegation also visited the aquarium, where the giant octopus is called Kraken.\n"
QUESTIONS = [
    WITKOFF, ZEBRA, OCTOPUS, NOT_FOUND,
    "How many Palestinians were killed in the Gaza conflict?",
    "When will Netanyahu visit the White House?",
    "Steve Witkoff in Gstaad?",  # a word no document has: its weight must not depend on what was removed
    "Who is Witkoff the plumber?",
]
CHANGED, REMOVED = "001_6f0a259a21d08320.txt", "002_cda3340852537e62.txt"


async def answers(service: QAService, questions: list[str] = QUESTIONS) -> list[dict[str, object]]:
    return [answer_json((await service.ask(q)).answer) for q in questions]


async def snapshot(store: Store) -> tuple[object, ...]:
    return await store.documents(), await store.passages(), await store.hashes(), await store.skipped()


def edit_folder(docs: Path) -> None:
    """Add a file, change one, remove one, add a binary one and a file that is not a document."""
    (docs / "zebra.md").write_text(ZEBRA_TEXT)
    with (docs / CHANGED).open("a") as f:
        f.write(OCTOPUS_TEXT)
    (docs / REMOVED).unlink()
    (docs / "scan.txt").write_bytes(b"\x00\x01\x02PDF\xff" * 200)
    (docs / "photo.png").write_bytes(b"\x89PNG")


def write_bulk(docs: Path, files: int) -> None:
    """Enough new text that building the index takes a noticeable time."""
    paragraphs = [p for f in sorted(SEEDS.glob("*.txt")) for p in f.read_text().split("\n\n") if p.strip()]
    for i in range(files):
        text = "\n\n".join(f"Report {i} item {j}: {paragraphs[(7 * i + j) % len(paragraphs)]}" for j in range(20))
        (docs / f"bulk_{i:04d}.txt").write_text(text)


# --- open ---------------------------------------------------------------------------------------------


async def test_first_open_reads_and_indexes_the_folder(service: QAService, docs: Path) -> None:
    documents, _ = read_folder(docs)
    assert service.sources() == [
        SourceInfo(d.id, d.title, d.date, len(all_passages([d]))) for d in sorted(documents, key=lambda d: d.id)
    ]
    assert len(service.sources()) == 5
    assert await service.store.documents() == sorted(documents, key=lambda d: d.id)
    assert len(service.index) == len(await service.store.passages()) == len(all_passages(documents))
    asked = await service.ask(WITKOFF)
    assert asked.answer.answered and "Witkoff" in asked.answer.quotes[0].text


SAVED_INDEX = {
    "kept": lambda path: None,
    "deleted": lambda path: path.unlink(),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "empty": lambda path: path.write_bytes(b""),
    "not an index": lambda path: path.write_text("hello"),
}


@pytest.mark.parametrize("saved", list(SAVED_INDEX))
async def test_second_open_loads_from_the_store_without_the_folder(tmp_path: Path, docs: Path, saved: str) -> None:
    """Whatever became of the index file saved beside the database, the store is enough."""
    db = tmp_path / "qa.sqlite3"
    first = await QAService.open(db, docs)
    expected_sources, expected = first.sources(), await answers(first)
    await first.close()
    assert (index_path(db) / "text.npy").is_file()
    SAVED_INDEX[saved](index_path(db) if saved == "deleted" else index_path(db) / "text.npy")

    shutil.rmtree(docs)  # had the second open read the folder, it would fail or find nothing
    second = await QAService.open(db, docs)
    try:
        assert second.sources() == expected_sources
        assert await answers(second) == expected
    finally:
        await second.close()


# --- reindex ------------------------------------------------------------------------------------------


async def test_reindex_reports_added_changed_removed_unchanged_and_skipped(service: QAService, docs: Path) -> None:
    edit_folder(docs)

    report = await service.reindex()

    assert report.added == ("zebra.md",)
    assert report.changed == (CHANGED,)
    assert report.removed == (REMOVED,)
    assert report.unchanged == ("000_fe643504d8637f7e.txt", "003_bdfb164ce3809aa8.txt", "004_311b2db2833709a6.txt")
    assert report.skipped == (Skipped("photo.png", "unsupported type"), Skipped("scan.txt", "it is a binary file"))
    documents, _ = read_folder(docs)
    assert report.passages == len(all_passages(documents)) == len(service.index)
    assert report.modified and report.seconds >= 0
    assert [s.id for s in service.sources()] == sorted(d.id for d in documents)
    assert await service.store.skipped() == list(report.skipped)

    again = await service.reindex()  # nothing changed since
    assert not again.modified and (again.added, again.changed, again.removed) == ((), (), ())
    assert again.unchanged == tuple(sorted(d.id for d in documents))
    assert again.skipped == report.skipped and again.passages == report.passages


async def test_incremental_reindex_answers_like_a_fresh_build_and_a_restart(tmp_path: Path, docs: Path) -> None:
    live = await QAService.open(tmp_path / "live.sqlite3", docs)
    before = await answers(live)
    edit_folder(docs)
    await live.reindex()
    fresh = await QAService.open(tmp_path / "fresh.sqlite3", docs)
    await live.close()
    restarted = await QAService.open(tmp_path / "live.sqlite3", docs)  # loads what the reindex stored
    try:
        after = await answers(restarted)
        assert await answers(fresh) == after
        assert fresh.sources() == restarted.sources()
        assert after != before  # the edit mattered: the zebra and the octopus are found now
        zebra, octopus = after[1], after[2]
        assert zebra["answered"] and zebra["quotes"][0]["source"] == "zebra.md"
        assert octopus["answered"] and octopus["quotes"][0]["source"] == CHANGED
    finally:
        await fresh.close()
        await restarted.close()


async def test_incremental_reindex_serves_what_a_fresh_build_serves(tmp_path: Path, docs: Path) -> None:
    """The index swapped in by a reindex, not only the one a restart builds, must equal a full build."""
    live = await QAService.open(tmp_path / "live.sqlite3", docs)
    edit_folder(docs)
    await live.reindex()
    fresh = await QAService.open(tmp_path / "fresh.sqlite3", docs)
    try:
        assert await answers(live) == await answers(fresh)
        assert live.sources() == fresh.sources()
    finally:
        await live.close()
        await fresh.close()


async def test_a_store_write_failure_keeps_the_old_index_and_store(tmp_path: Path, docs: Path,
                                                                    service: QAService) -> None:
    db = tmp_path / "qa.sqlite3"
    stored, served = await snapshot(service.store), await answers(service, [WITKOFF, ZEBRA])
    edit_folder(docs)
    # Another process holds the write lock, as a second bot on the same file would.
    other = sqlite3.connect(db, timeout=0.1, isolation_level=None)
    # The store waits 5 s for a lock; shorten the wait so the test is quick (the failure is the same).
    await service.store._db.execute("PRAGMA busy_timeout = 100")
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match="locked by another process"):
            await service.reindex()
        assert not service.reindexing
    finally:
        other.rollback()
        other.close()

    assert await snapshot(service.store) == stored
    assert await answers(service, [WITKOFF, ZEBRA]) == served  # the zebra is still unknown: old index
    assert [s.id for s in service.sources()] == sorted(p.name for p in SEEDS.glob("*.txt"))

    report = await service.reindex()
    assert report.added == ("zebra.md",) and report.removed == (REMOVED,)
    assert (await service.ask(ZEBRA)).answer.answered


async def test_a_question_during_a_reindex_is_answered_from_the_old_index(service: QAService, docs: Path) -> None:
    write_bulk(docs, 300)  # building takes far longer than answering
    (docs / "zebra.md").write_text(ZEBRA_TEXT)
    indexing = asyncio.Event()

    def progress(message: str) -> None:
        if message.startswith("Indexing "):  # said on the event loop, just before the build starts
            indexing.set()

    task = asyncio.create_task(service.reindex(progress))
    await asyncio.wait_for(indexing.wait(), 30)
    assert service.reindexing
    zebra = await service.ask(ZEBRA)
    witkoff = await service.ask(WITKOFF)
    assert not task.done()  # both were answered while the new index was being built
    assert not zebra.answer.answered
    assert witkoff.answer.answered

    report = await task
    assert "zebra.md" in report.added and len(report.added) == 301
    assert not service.reindexing
    assert (await service.ask(ZEBRA)).answer.answered
    assert (await service.stats()).questions == 3


async def test_a_second_reindex_while_one_runs_is_refused(service: QAService, docs: Path) -> None:
    write_bulk(docs, 150)
    task = asyncio.create_task(service.reindex())
    while not service.reindexing:
        await asyncio.sleep(0)

    with pytest.raises(BusyError):
        await service.reindex()

    report = await task
    assert len(report.added) == 150
    assert not (await service.reindex()).modified  # the lock was released


async def test_a_missing_folder_at_reindex_keeps_the_index(tmp_path: Path, docs: Path, service: QAService) -> None:
    stored, served = await snapshot(service.store), await answers(service, [WITKOFF])
    docs.rename(tmp_path / "elsewhere")

    with pytest.raises(DocumentsError, match="does not exist"):
        await service.reindex()

    assert not service.reindexing
    assert await answers(service, [WITKOFF]) == served
    assert await snapshot(service.store) == stored
    (tmp_path / "elsewhere").rename(docs)
    assert not (await service.reindex()).modified


async def test_a_folder_with_no_usable_documents_keeps_the_index(docs: Path, service: QAService) -> None:
    stored = await snapshot(service.store)
    for f in docs.iterdir():
        f.unlink()
    (docs / "scan.txt").write_bytes(b"\x00" * 100)

    with pytest.raises(DocumentsError, match="no usable documents"):
        await service.reindex()

    assert (await service.ask(WITKOFF)).answer.answered
    assert await snapshot(service.store) == stored


# --- questions, log, feedback ------------------------------------------------------------------------------


async def test_questions_are_logged_with_answered_flag_and_source(tmp_path: Path, service: QAService) -> None:
    assert (await service.stats()).questions == 0
    found = await service.ask(WITKOFF, via="discord", user_id="42", channel="7")
    missing = await service.ask(NOT_FOUND)
    with pytest.raises(QuestionError):
        await service.ask("   \n ")

    stats = await service.stats()
    assert (stats.questions, stats.answered) == (2, 1)
    assert stats.top_unanswered == ((NOT_FOUND.lower(), 1),)
    assert missing.question_id > found.question_id
    con = sqlite3.connect(tmp_path / "qa.sqlite3")
    try:
        rows = con.execute("SELECT id, question, answered, top_source, via, user_id, channel FROM questions "
                           "ORDER BY id").fetchall()
    finally:
        con.close()
    assert rows == [
        (found.question_id, WITKOFF, 1, found.answer.quotes[0].source, "discord", "42", "7"),
        (missing.question_id, NOT_FOUND, 0, None, "terminal", None, None),
    ]

    assert await service.feedback(found.question_id, "42", 1)
    assert await service.feedback(found.question_id, "42", -1)
    assert not await service.feedback(missing.question_id + 99, "42", 1)
    stats = await service.stats()
    assert (stats.thumbs_up, stats.thumbs_down) == (0, 1)


async def test_follow_ups_use_their_own_conversation_only(service: QAService) -> None:
    first = await service.ask(WITKOFF, conversation="k")
    follow = await service.ask(FOLLOW_UP, conversation="k")
    other = await service.ask(FOLLOW_UP, conversation="someone else")
    alone = await service.ask(FOLLOW_UP)

    assert not first.answer.context_used
    assert follow.answer.context_used and follow.answer.answered
    assert "Witkoff" in follow.answer.quotes[0].text
    for reply in (other, alone):
        assert not reply.answer.context_used
        assert "Witkoff" not in reply.answer.quotes[0].text


def test_conversations_forget_after_the_time_to_live() -> None:
    now = [1000.0]
    conversations = Conversations(ttl=60, turns=2, clock=lambda: now[0])
    conversations.remember("k", "one")
    now[0] += 30
    conversations.remember("k", "two")
    conversations.remember("other", "elsewhere")
    assert conversations.history("k") == ["one", "two"]

    now[0] += 31  # "one" is 61 s old, "two" 31 s
    assert conversations.history("k") == ["two"]
    now[0] += 30
    assert conversations.history("k") == []
    assert conversations.history("never") == []

    conversations.remember("k", "a")
    conversations.remember("k", "b")
    conversations.remember("k", "c")
    assert conversations.history("k") == ["b", "c"]  # only the last `turns` are kept


async def test_a_follow_up_after_the_time_to_live_has_no_context(service: QAService) -> None:
    now = [0.0]
    service.conversations = Conversations(ttl=300, clock=lambda: now[0])
    await service.ask(WITKOFF, conversation="k")
    now[0] += 299
    assert (await service.ask(FOLLOW_UP, conversation="k")).answer.context_used

    await service.ask(WITKOFF, conversation="late")
    now[0] += 301
    late = await service.ask(FOLLOW_UP, conversation="late")
    assert not late.answer.context_used
    assert "Witkoff" not in late.answer.quotes[0].text
