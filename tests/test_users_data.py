"""Users' data (issue 12): QA_LOG_DAYS, /forget-me and `qa-bot forget`, on real SQLite files.

What the question log keeps of a member (their id, the channel, the question's text, their votes) goes
after QA_LOG_DAYS days, at once with 0, or when they ask for it; the counts in /stats stay.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import retention
from bot.config import Settings, load_settings
from bot.service import Erased, QAService
from retrieval.errors import ConfigError
from tests.support.bots import TestBot
from tests.support.fake_discord import FakeDiscord, run_bot
from tests.support.fake_discord_payloads import ADMIN, ALICE, BOB
from tests.support.processes import clean_env, cli

WITKOFF = "Who is Steve Witkoff?"
# "Now" for the purges, which take it as an argument; votes are checked against the real clock, so ages
# are set relative to it, each at least half a day from any boundary.
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
async def service(docs: Path, tmp_path: Path) -> AsyncIterator[QAService]:
    """A real service over a real SQLite file."""
    svc = await QAService.open(tmp_path / "qa.sqlite3", docs)
    yield svc
    await svc.close()


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows read from the database file with a connection of its own."""
    with sqlite3.connect(db) as conn:
        found = conn.execute(sql, args).fetchall()
    conn.close()
    return found


def set_age(db: Path, table: str, days: float, where: str = "1") -> None:
    """Make rows of `table` as old as `days` before T0 (the test's "now")."""
    at = (T0 - dt.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")
    column = "asked_at" if table == "questions" else "at"
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (at,))
    conn.close()


def personal(db: Path) -> list[tuple[Any, ...]]:
    """Every question row that still says who asked, where or what."""
    return rows(db, "SELECT id, user_id, channel, question FROM questions "
                    "WHERE user_id IS NOT NULL OR channel IS NOT NULL OR question != ''")


# --- the setting ---------------------------------------------------------------------------------------------


def test_qa_log_days_defaults_to_90_and_is_validated() -> None:
    assert load_settings({}, env_file=None).log_days == 90
    assert load_settings({"QA_LOG_DAYS": "0"}, env_file=None).log_days == 0
    assert load_settings({"QA_LOG_DAYS": "30"}, env_file=None).log_days == 30
    for bad in ("-1", "ninety", "1.5", "1000000"):
        with pytest.raises(ConfigError, match="QA_LOG_DAYS"):
            load_settings({"QA_LOG_DAYS": bad}, env_file=None)


# --- retention: the purge, on a real SQLite file, at injected dates ------------------------------------------


async def test_the_purge_strips_old_entries_and_keeps_every_count(service: QAService) -> None:
    db = service.store.path
    asked = [await service.ask(q, None, "slash", user, "42") for q, user in
             [(WITKOFF, "1"), ("What is the capital of France?", "2"), ("What is the capital of France?", "3")]]
    assert await service.feedback(asked[0].question_id, "2", 1)
    assert await service.feedback(asked[1].question_id, "1", -1)
    set_age(db, "questions", 100, f"id = {asked[1].question_id}")  # one question and one vote are old
    set_age(db, "questions", 10, f"id != {asked[1].question_id}")
    set_age(db, "feedback", 100, f"question_id = {asked[1].question_id}")
    set_age(db, "feedback", 10, f"question_id != {asked[1].question_id}")
    before = await service.stats()
    assert [q for q, _ in before.top_unanswered] == ["what is the capital of france?"]

    erased = await service.purge(T0)
    assert (erased.questions, erased.votes) == (1, 1)
    assert [r[0] for r in personal(db)] == [asked[0].question_id, asked[2].question_id]
    assert rows(db, "SELECT user_id, channel, question, answered, via FROM questions WHERE id = ?",
                asked[1].question_id) == [(None, None, "", 0, "slash")]
    [(voter,)] = rows(db, "SELECT user_id FROM feedback WHERE question_id = ?", asked[1].question_id)
    assert voter.startswith("anon:")
    after = await service.stats()
    assert (after.questions, after.answered, after.thumbs_up, after.thumbs_down) == (3, 1, 1, 1)
    assert after.top_unanswered == (("what is the capital of france?", 1),)  # only what remains
    assert (await service.purge(T0)) == Erased(0, 0)  # nothing more is due

    # A vote on an answer past the retention is refused: its votes are anonymous, a new one would count twice.
    assert not await service.feedback(asked[1].question_id, "1", 1)
    assert await service.feedback(asked[0].question_id, "3", 1)
    assert (await service.stats()).thumbs_up == 2


async def test_the_purge_moves_with_the_date(service: QAService) -> None:
    db = service.store.path
    for n in range(4):
        await service.ask(f"{WITKOFF} ({n})", None, "dm", str(n), "7")
    await service.questions.flush()  # written in batches: on file now, where set_age changes them
    for n, days in enumerate((88.5, 89.5, 90.5, 120)):
        set_age(db, "questions", days, f"user_id = '{n}'")
    service.log_days = 90
    changed = [(await service.purge(T0 + dt.timedelta(days=day))).questions for day in range(4)]
    assert changed == [2, 1, 1, 0]
    service.log_days = 200  # a longer retention does not bring anything back, and purges nothing
    assert (await service.purge(T0 + dt.timedelta(days=30))).questions == 0
    assert personal(db) == [] and (await service.stats()).questions == 4


async def test_retention_runs_at_start_and_then_daily(service: QAService) -> None:
    """The daily task, with its clock and its sleep injected: three days pass without waiting for them."""
    db = service.store.path
    for n in range(3):
        await service.ask(f"{WITKOFF} ({n})", None, "mention", str(n), "7")
    await service.questions.flush()
    for n, days in enumerate((88.5, 89.5, 90.5)):
        set_age(db, "questions", days, f"user_id = '{n}'")
    today = [T0]
    left: list[int] = []
    slept: list[float] = []

    async def next_day(seconds: float) -> None:
        slept.append(seconds)
        left.append(len(personal(db)))
        if len(slept) == 3:
            raise asyncio.CancelledError
        today[0] += dt.timedelta(seconds=seconds)

    with pytest.raises(asyncio.CancelledError):
        await retention.retention_loop(service, clock=lambda: today[0], sleep=next_day)
    assert slept == [24 * 3600.0] * 3
    assert left == [2, 1, 0]  # one more question made anonymous each day, the first one at the start


async def test_retention_keeps_going_after_a_failure(service: QAService, caplog: pytest.LogCaptureFixture) -> None:
    await service.ask(WITKOFF, None, "dm", "1", "7")
    await service.questions.flush()
    set_age(service.store.path, "questions", 100)
    days = iter([None, T0])  # the first run fails (a clock that cannot be used), the next one works
    runs: list[int] = []

    def clock() -> dt.datetime:
        value = next(days)
        if value is None:
            raise OSError("clock unavailable")
        return value

    async def sleep(_seconds: float) -> None:
        runs.append(len(personal(service.store.path)))
        if len(runs) == 2:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retention.retention_loop(service, clock=clock, sleep=sleep)
    assert runs == [1, 0]
    assert any("could not apply QA_LOG_DAYS" in r.getMessage() for r in caplog.records)


async def test_zero_days_keeps_only_counts(service: QAService) -> None:
    service.log_days = 0
    asked = await service.ask(WITKOFF, "c:5", "slash", "5", "9")
    await service.ask("What is the capital of France?", "c:5", "slash", "5", "9")
    await service.questions.flush()
    assert rows(service.store.path, "SELECT count(*) FROM questions") == [(2,)]
    assert personal(service.store.path) == []
    assert await service.feedback(asked.question_id, "5", 1)
    assert await service.feedback(asked.question_id, "5", -1)  # changes the one vote, does not add one
    assert await service.feedback(asked.question_id, "6", -1)
    voters = [v for (v,) in rows(service.store.path, "SELECT user_id FROM feedback")]
    assert len(voters) == 2 and all(v.startswith("anon:") and len(v) == 21 for v in voters), voters
    stats = await service.stats()
    assert (stats.questions, stats.answered, stats.thumbs_up, stats.thumbs_down) == (2, 1, 0, 2)
    assert stats.top_unanswered == ()
    erased = await service.forget("5")  # the running process can still find the member's vote
    assert erased.votes == 1 and (await service.stats()).thumbs_down == 1


# --- erasure: /forget-me through the fake Discord ----------------------------------------------------------


def settings_for(fake: FakeDiscord, **changes: Any) -> Settings:
    """The bot's settings, aimed at the fake."""
    return Settings(cooldown_seconds=0, dev_guild=fake.guild.id, **changes)


async def test_forget_me_erases_a_members_questions_votes_and_conversation(
    fake: FakeDiscord, service: QAService
) -> None:
    db = service.store.path
    async with run_bot(TestBot(service, settings_for(fake), guild_ready_timeout=0.1)):
        help_text = (await fake.wait_for_reply(await fake.send_interaction("help"))).text
        assert "/forget-me" in help_text
        answer = await fake.wait_for_reply(await fake.send_interaction("ask", {"question": WITKOFF}, user=BOB))
        await fake.wait_for_reply(await fake.send_message(WITKOFF, ALICE, dm=True))
        await fake.wait_for_reply(await fake.send_interaction("ask", {"question": "Who is Netanyahu?"}, user=ALICE))
        for user in (ALICE, BOB):
            await fake.wait_for_reply(await fake.send_component(answer.custom_ids[0], user=user))
        assert {r[1] for r in personal(db)} == {str(ALICE.id), str(BOB.id)}

        forgot = await fake.wait_for_reply(await fake.send_interaction("forget-me", user=ALICE, dm=True))
        assert forgot.ephemeral and "2 questions" in forgot.text and "1 feedback vote" in forgot.text, forgot.text
        assert "90 days" in forgot.text

        follow = await fake.wait_for_reply(await fake.send_message("What did he do on Feb. 3?", ALICE, dm=True))
        assert "Follow-up" not in follow.text  # the conversation was forgotten too
        stats = await fake.wait_for_reply(await fake.send_interaction("stats", user=ADMIN))
    assert rows(db, "SELECT count(*) FROM questions WHERE user_id = ?", str(ALICE.id)) == [(1,)]  # the new one
    assert rows(db, "SELECT count(*) FROM questions WHERE question = ''") == [(2,)]
    assert rows(db, "SELECT count(*) FROM feedback WHERE user_id = ?", str(ALICE.id)) == [(0,)]
    assert rows(db, "SELECT user_id FROM feedback") == [(str(BOB.id),)]
    assert rows(db, "SELECT count(*) FROM questions WHERE user_id = ? AND question = ?", str(BOB.id), WITKOFF) == [(1,)]
    # /stats in a server counts that server's questions only (the two asked there; the DMs are not its own).
    assert "2 questions asked" in stats.text and "👍 1" in stats.text, stats.text


async def test_zero_days_through_discord_stores_no_member(fake: FakeDiscord, service: QAService) -> None:
    async with run_bot(TestBot(service, settings_for(fake, log_days=0), guild_ready_timeout=0.1)):
        await fake.wait_for_reply(await fake.send_message(WITKOFF, ALICE, mentions_bot=True))
        answer = await fake.wait_for_reply(await fake.send_interaction("ask", {"question": WITKOFF}, user=BOB))
        voted = await fake.wait_for_reply(await fake.send_component(answer.custom_ids[0], user=BOB))
        assert voted.text == "Thanks for the feedback!"
        forgot = await fake.wait_for_reply(await fake.send_interaction("forget-me", user=BOB))
        assert "never stored with who asked" in forgot.text and "1 feedback vote" in forgot.text
    assert personal(service.store.path) == []
    assert rows(service.store.path, "SELECT count(*), sum(answered) FROM questions") == [(2, 2)]


# --- erasure and retention from the terminal: the real process ----------------------------------------------


@pytest.fixture
def logged_db(tmp_path: Path, docs: Path) -> Path:
    """A database whose log holds two members' questions and votes, some of them old."""
    db = tmp_path / "db" / "qa.sqlite3"

    async def fill() -> None:
        svc = await QAService.open(db, docs)
        try:
            first = await svc.ask(WITKOFF, None, "slash", "111", "9")
            await svc.ask("What is the capital of France?", None, "mention", "111", "9")
            await svc.ask(WITKOFF, None, "dm", "222", "8")
            await svc.feedback(first.question_id, "111", 1)
            await svc.feedback(first.question_id, "222", -1)
        finally:
            await svc.close()

    asyncio.run(fill())
    return db


def test_qa_bot_forget_erases_one_user(tmp_path: Path, docs: Path, logged_db: Path) -> None:
    result = cli(tmp_path, "forget", "111", "--json", "--docs", str(docs), "--db", str(logged_db))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"user_id": "111", "questions": 2, "votes": 1}
    assert [r[1] for r in personal(logged_db)] == ["222"]
    assert rows(logged_db, "SELECT user_id, value FROM feedback") == [("222", -1)]
    stats = cli(tmp_path, "stats", "--json", "--docs", str(docs), "--db", str(logged_db))
    assert json.loads(stats.stdout)["questions"] == 3 and json.loads(stats.stdout)["thumbs_down"] == 1
    again = cli(tmp_path, "forget", "111", "--docs", str(docs), "--db", str(logged_db))
    assert again.returncode == 0 and "0 questions" in again.stdout and "0 feedback votes" in again.stdout


@pytest.mark.parametrize("user_id", ["alice", "-1", "1e5", "١٢"])
def test_qa_bot_forget_refuses_what_is_not_a_user_id(tmp_path: Path, docs: Path, logged_db: Path, user_id: str) -> None:
    result = cli(tmp_path, "forget", "--docs", str(docs), "--db", str(logged_db), "--", user_id)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: USER_ID must be a Discord user id"), result.stderr
    assert len(personal(logged_db)) == 3


@pytest.mark.parametrize(("days", "left"), [("90", 3), ("30", 1), ("0", 0)])
def test_qa_log_days_applies_when_a_command_starts(
    tmp_path: Path, docs: Path, logged_db: Path, days: str, left: int
) -> None:
    now = dt.datetime.now(dt.UTC)  # the process reads the real clock: ages are set relative to it, far from edges
    with sqlite3.connect(logged_db) as conn:
        for user, age in (("111", 45), ("222", 5)):
            at = (now - dt.timedelta(days=age)).strftime("%Y-%m-%d %H:%M:%S")
            conn.execute("UPDATE questions SET asked_at = ? WHERE user_id = ?", (at, user))
            conn.execute("UPDATE feedback SET at = ? WHERE user_id = ?", (at, user))
    conn.close()
    result = cli(tmp_path, "stats", "--json", "--docs", str(docs), "--db", str(logged_db),
                 env=clean_env(QA_LOG_DAYS=days))
    assert result.returncode == 0, result.stderr
    assert len(personal(logged_db)) == left
    assert json.loads(result.stdout)["questions"] == 3
    assert json.loads(result.stdout)["thumbs_up"] + json.loads(result.stdout)["thumbs_down"] == 2
