"""The question log (bot/question_log.py): batched writes that never hold an answer, ids handed out at once
and unique across processes, feedback, stats, erasure of rows still waiting, and failed writes kept."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import question_log
from bot.question_log import QuestionLog
from retrieval.documents import parse_document
from retrieval.errors import StoreError
from retrieval.model import Skipped
from retrieval.passages import all_passages
from retrieval.store import SQLiteStore
from tests.support.storage import open_storage

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
NEVER = 3600.0  # a delay no test waits for: writes happen by flush, a full batch or close


def rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """What another connection (another process) reads from the file now."""
    with sqlite3.connect(path) as con:
        found = con.execute(sql, args).fetchall()
    con.close()
    return found


async def written(questions: QuestionLog, timeout: float = 30.0) -> None:
    """Wait until the background writer has written every waiting row (an event, not a guessed delay)."""
    async with asyncio.timeout(timeout):
        while questions.waiting:
            await asyncio.sleep(0.005)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, QuestionLog]]:
    """The store and the question log on one file, as the service has them."""
    store, questions = await open_storage(tmp_path / "qa.sqlite3")
    yield store, questions
    await questions.close()
    await store.close()


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[QuestionLog]:
    """A question log whose writes happen only when a test asks (flush), or at close."""
    questions = await QuestionLog.open(tmp_path / "qa.sqlite3", delay=NEVER)
    yield questions
    await questions.close()


async def test_a_question_gets_its_id_at_once_and_is_written_by_flush(log: QuestionLog) -> None:
    ids = [await log.log_question(f"Question {i}?", i % 2 == 0, "a.txt" if i % 2 == 0 else None, "discord",
                                  user_id="42", channel="7") for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5 and ids[0] > 0
    assert rows(log.path, "SELECT count(*) FROM questions") == [(0,)] and log.waiting == 5  # nothing committed

    await log.flush()
    assert log.waiting == 0
    assert rows(log.path, "SELECT question, answered, top_source, via, user_id, channel FROM questions "
                          "WHERE id = ?", ids[2]) == [("Question 2?", 1, "a.txt", "discord", "42", "7")]
    assert [r[0] for r in rows(log.path, "SELECT id FROM questions ORDER BY id")] == ids


async def test_the_background_writer_commits_within_the_delay(tmp_path: Path) -> None:
    questions = await QuestionLog.open(tmp_path / "qa.sqlite3", delay=0.05)
    try:
        qid = await questions.log_question("Who?", True, None, "terminal")
        await written(questions)  # no flush called: the writer did it
        assert rows(questions.path, "SELECT id FROM questions") == [(qid,)]
    finally:
        await questions.close()


async def test_a_full_batch_is_written_without_waiting_for_the_delay(tmp_path: Path) -> None:
    questions = await QuestionLog.open(tmp_path / "qa.sqlite3", delay=NEVER, batch=3)
    try:
        for n in range(3):
            await questions.log_question(f"Q{n}?", True, None, "terminal")
        await written(questions)
        assert rows(questions.path, "SELECT count(*) FROM questions") == [(3,)]
    finally:
        await questions.close()


async def test_close_writes_what_waits_and_twice_is_harmless(tmp_path: Path) -> None:
    questions = await QuestionLog.open(tmp_path / "qa.sqlite3", delay=NEVER)
    ids = [await questions.log_question(f"Q{n}?", False, None, "terminal") for n in range(7)]
    await questions.close()
    await questions.close()
    assert [r[0] for r in rows(tmp_path / "qa.sqlite3", "SELECT id FROM questions ORDER BY id")] == ids
    with pytest.raises(StoreError, match="closed"):
        await questions.log_question("Late?", False, None, "terminal")


async def test_feedback_on_a_question_still_waiting_is_recorded(log: QuestionLog) -> None:
    qid = await log.log_question("Who?", True, "a.txt", "discord", "42", "7")
    assert log.waiting == 1
    assert await log.asked_at(qid) is not None  # known while waiting: the retention check reads it

    assert await log.record_feedback(qid, "alice", 1)

    assert rows(log.path, "SELECT question_id, user_id, value FROM feedback") == [(qid, "alice", 1)]
    assert rows(log.path, "SELECT id FROM questions") == [(qid,)]  # its question was written first


async def test_feedback_is_one_vote_per_user_and_question(log: QuestionLog) -> None:
    q1 = await log.log_question("Who?", True, "a.txt", "discord")
    q2 = await log.log_question("Where?", True, "a.txt", "discord")

    assert await log.record_feedback(q1, "alice", 1)
    assert await log.record_feedback(q1, "bob", 1)
    assert await log.record_feedback(q1, "alice", -1)  # alice changes her mind: counted once, as 👎
    assert await log.record_feedback(q2, "alice", 1)
    stats = await log.stats()
    assert (stats.thumbs_up, stats.thumbs_down) == (2, 1)

    assert await log.record_feedback(q2 + 1000, "alice", 1) is False
    stats = await log.stats()
    assert (stats.thumbs_up, stats.thumbs_down) == (2, 1)


async def test_stats_count_waiting_questions_too(log: QuestionLog) -> None:
    empty = await log.stats()
    assert (empty.questions, empty.answered, empty.top_unanswered, empty.thumbs_up, empty.thumbs_down) == (
        0, 0, (), 0, 0,
    )
    answered = await log.log_question("Who is Steve Witkoff?", True, "a.txt", "terminal")
    unanswered = ("What is the capital of Mongolia?", "WHAT IS THE CAPITAL OF MONGOLIA?",
                  "what is the capital of mongolia?", "Where is Atlantis?", "Where is Atlantis?", "Who won in 1066?")
    for q in unanswered:
        await log.log_question(q, False, None, "terminal")
    await log.record_feedback(answered, "u", 1)

    stats = await log.stats()
    assert (stats.questions, stats.answered) == (7, 1)
    assert stats.top_unanswered == (
        ("what is the capital of mongolia?", 3), ("where is atlantis?", 2), ("who won in 1066?", 1),
    )
    assert (stats.thumbs_up, stats.thumbs_down, stats.problems) == (1, 0, ())
    assert (await log.stats(top=1)).top_unanswered == (("what is the capital of mongolia?", 3),)


async def test_erasure_reaches_questions_still_waiting(log: QuestionLog) -> None:
    written_one = await log.log_question("Mine, written?", True, None, "slash", "111", "7")
    await log.flush()
    waiting = await log.log_question("Mine, waiting?", True, None, "slash", "111", "7")
    other = await log.log_question("Theirs?", True, None, "slash", "222", "7")

    assert await log.forget_user(["111"]) == (2, 0)
    await log.flush()
    found = rows(log.path, "SELECT id, user_id, channel, question FROM questions ORDER BY id")
    assert found == [(written_one, None, None, ""), (waiting, None, None, ""), (other, "222", "7", "Theirs?")]


async def test_retention_reaches_old_questions_still_waiting(log: QuestionLog) -> None:
    qid = await log.log_question("Old?", True, None, "slash", "111", "7")
    asked = await log.asked_at(qid)
    assert asked is not None
    assert await log.anonymise_before(asked) == (0, 0)  # asked at the cutoff: not before it
    assert await log.anonymise_before("9999-12-31 00:00:00") == (1, 0)
    await log.flush()
    assert rows(log.path, "SELECT user_id, channel, question FROM questions") == [(None, None, "")]


async def test_logs_in_several_processes_never_share_an_id(tmp_path: Path) -> None:
    """Each process (here: each connection) logs from ids it reserved; an older release's plain INSERT
    takes the next id after every reservation."""
    path = tmp_path / "qa.sqlite3"
    first, second = await QuestionLog.open(path, delay=NEVER), await QuestionLog.open(path, delay=NEVER)
    try:
        ids = []
        for n in range(3 * question_log.ID_BLOCK // 2):  # past the first block: the next one is reserved
            ids.append(await (first if n % 2 else second).log_question(f"Q{n}?", False, None, "terminal"))
            if n % 100 == 0:
                await (first if n % 3 else second).flush()
        await first.flush()
        await second.flush()
        with sqlite3.connect(path) as con:
            old = con.execute("INSERT INTO questions (via, question, answered) VALUES ('old', 'Old?', 0)").lastrowid
        con.close()
        assert len(set(ids)) == len(ids) and old not in ids and old > max(ids)
        assert rows(path, "SELECT count(*) FROM questions") == [(len(ids) + 1,)]
    finally:
        await first.close()
        await second.close()


async def test_a_failed_write_keeps_the_rows_and_says_so(log: QuestionLog, caplog: pytest.LogCaptureFixture) -> None:
    await log._db.execute("PRAGMA busy_timeout = 50")  # the failure is the same at 30 s; only quicker
    qid = await log.log_question("Who?", True, None, "slash", "111", "7")
    blocker = sqlite3.connect(log.path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreError, match="locked"):
            await log.flush()
        assert log.waiting == 1 and "locked" in (log.problem or "")
        assert any("could not write 1 questions" in r.getMessage() for r in caplog.records)
    finally:
        blocker.rollback()
        blocker.close()
    stats = await log.stats()  # writes what waits, now that it can
    assert stats.questions == 1 and stats.problems == () and log.problem is None
    assert rows(log.path, "SELECT id FROM questions") == [(qid,)]


async def test_questions_are_refused_rather_than_memory_grown(log: QuestionLog,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(question_log, "MAX_WAITING", 3)
    for n in range(3):
        await log.log_question(f"Q{n}?", False, None, "terminal")
    with pytest.raises(StoreError, match="3 questions wait"):
        await log.log_question("One too many?", False, None, "terminal")
    await log.flush()
    await log.log_question("Room again?", False, None, "terminal")


async def test_a_question_logged_during_a_failing_reindex_is_kept(storage: tuple[SQLiteStore, QuestionLog]) -> None:
    """The store and the log write through their own connections to one file: a reindex that fails and
    rolls back takes no question with it, and a question never commits half a reindex."""
    store, questions = storage
    docs = [parse_document(p.name, p.read_bytes()) for p in sorted(SEEDS.glob("*.txt"))]
    await store.replace_documents(docs, all_passages(docs), [], [])
    before = await store.documents(), await store.passages()
    new = parse_document("new.txt", b"Something new.")
    failing = store.replace_documents(  # the same skipped name twice: refused at the end
        [new], all_passages([new]), [d.id for d in docs], [Skipped("x", "a"), Skipped("x", "b")]
    )

    async def ask() -> int:
        qid = await questions.log_question("Who?", True, None, "discord")
        await questions.flush()
        return qid

    results = await asyncio.gather(failing, ask(), return_exceptions=True)
    assert isinstance(results[0], StoreError) and isinstance(results[1], int)
    assert (await store.documents(), await store.passages()) == before
    assert (await questions.stats()).questions == 1


async def test_a_refused_vote_leaves_no_transaction_open(storage: tuple[SQLiteStore, QuestionLog]) -> None:
    store, questions = storage
    qid = await questions.log_question("Who?", True, None, "terminal")
    with pytest.raises(StoreError):
        await questions.record_feedback(qid, "u1", 0)  # the CHECK constraint refuses 0
    new = parse_document("new.txt", b"Something new.")
    await store.replace_documents([new], all_passages([new]), [], [])  # BEGIN IMMEDIATE must be possible
    assert "new.txt" in await store.hashes()
    stats = await questions.stats()
    assert (stats.questions, stats.thumbs_up, stats.thumbs_down) == (1, 0, 0)


async def test_command_hashes_are_the_logs_not_the_stores(storage: tuple[SQLiteStore, QuestionLog]) -> None:
    store, questions = storage
    assert await questions.command_hash("commands:1:global") is None
    await questions.set_command_hash("commands:1:global", "abc")
    assert await questions.command_hash("commands:1:global") == "abc"
    assert await store.get_meta("commands:1:global") is None


def test_the_store_holds_no_question_log() -> None:
    bot_concerns = {"log_question", "record_feedback", "stats", "asked_at", "anonymise_before", "forget_user"}
    assert not bot_concerns & set(dir(SQLiteStore))


async def test_close_after_a_burst_does_not_hang(tmp_path: Path) -> None:
    """Fifty users log two blocks of ids' worth of questions at once, then close() (as SIGTERM right after a
    burst): with Python 3.11's wait_for in the writer, a cancellation that came as the batch filled was
    swallowed and close() waited for the writer forever (bench/question_log.py ran into it)."""
    questions = await QuestionLog.open(tmp_path / "qa.sqlite3")
    total = 2 * question_log.ID_BLOCK

    async def user(u: int) -> None:
        for n in range(u, total, 50):
            await questions.log_question(f"Q{n}?", False, None, "terminal")

    await asyncio.gather(*(user(u) for u in range(50)))
    async with asyncio.timeout(60):  # close() runs in this very task
        await questions.close()
    assert rows(tmp_path / "qa.sqlite3", "SELECT count(*) FROM questions") == [(total,)]
