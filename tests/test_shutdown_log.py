"""Issue 15: the question log is written in batches, off the answer's path, and nothing is lost at SIGTERM.

The processes run with QA_LOG_FLUSH_SECONDS=3600, so every question answered is still waiting in memory
when SIGTERM comes (checked, not assumed): the rows on file afterwards were written by the shutdown.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.service import QAService
from tests.support.bots import TestBot
from tests.support.fake_discord import FakeDiscord, run_bot
from tests.support.fake_discord_payloads import ALICE, BOB
from tests.support.processes import LIGHT, ROOT, SECRET, env_for, running_bot

QUESTIONS = [f"Who is Steve Witkoff? ({n})" for n in range(6)]
WAIT = {"QA_LOG_FLUSH_SECONDS": "3600", "QA_COOLDOWN_SECONDS": "0"}


def logged(db: Path) -> list[str]:
    """The questions on file, read by a connection of the test's own (as another process would)."""
    with sqlite3.connect(db) as con:
        found = [q for (q,) in con.execute("SELECT question FROM questions ORDER BY id")]
    con.close()
    return found


async def stop(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """SIGTERM, then everything the process wrote until it exited."""
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.communicate(), 60)


async def test_sigterm_to_the_terminal_chat_writes_every_question_answered(tmp_path: Path) -> None:
    db = tmp_path / "qa.sqlite3"
    proc = await asyncio.create_subprocess_exec(  # no token: `start` is the terminal chat
        sys.executable, "-m", "bot", "start", "--json", cwd=tmp_path, env=_terminal_env(tmp_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        answers = []
        for question in QUESTIONS:
            proc.stdin.write(question.encode() + b"\n")
            await proc.stdin.drain()
            answers.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 60)))
        assert [a["question"] for a in answers] == QUESTIONS
        assert logged(db) == []  # every one still waits in memory; stdin stays open: the chat goes on
        _out, err = await stop(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 143 and "Traceback" not in err.decode(), err.decode()[-2000:]
    assert logged(db) == QUESTIONS


def _terminal_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a terminal process: no Discord token, the seeds, a database in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "QA_"))}
    return env | WAIT | LIGHT | {"QA_DOCS": str(ROOT / "seeds"), "QA_DB": str(tmp_path / "qa.sqlite3"),
                                 "PYTHONPATH": str(ROOT)}


@pytest.fixture
async def secret_fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord that only accepts SECRET (the process logs in with it)."""
    async with FakeDiscord(token=SECRET) as server:
        yield server


async def test_sigterm_to_the_discord_bot_writes_every_question_answered(secret_fake: FakeDiscord,
                                                                         tmp_path: Path) -> None:
    db, fake = tmp_path / "qa.sqlite3", secret_fake
    env = env_for(fake, tmp_path, SECRET, QA_LOG_LEVEL="INFO", **WAIT)
    async with running_bot(env, tmp_path, "run", fake=fake) as bot:
        for question in QUESTIONS:
            asked = await fake.send_interaction("ask", {"question": question})
            assert "Witkoff" in (await fake.wait_for_reply(asked, timeout=15)).text
        assert logged(db) == []  # answered, and still waiting to be written
        code = await bot.stop(60)
    assert code == 0 and "Traceback" not in bot.err, bot.err[-2000:]
    assert logged(db) == QUESTIONS


async def test_a_vote_on_an_answer_whose_question_still_waits_is_recorded(fake: FakeDiscord, docs: Path,
                                                                        tmp_path: Path) -> None:
    service = await QAService.open(tmp_path / "qa.sqlite3", docs, log_flush_seconds=3600)
    try:
        bot = TestBot(service, Settings(cooldown_seconds=0, dev_guild=fake.guild.id), guild_ready_timeout=0.1)
        async with run_bot(bot):
            asked = await fake.send_interaction("ask", {"question": QUESTIONS[0]}, user=ALICE)
            answer = await fake.wait_for_reply(asked)
            assert service.questions.waiting == 1 and logged(service.store.path) == []
            voted = await fake.wait_for_reply(await fake.send_component(answer.custom_ids[0], user=BOB))
        assert voted.text == "Thanks for the feedback!"
        stats = await service.stats()
        assert (stats.questions, stats.thumbs_up) == (1, 1)
    finally:
        await service.close()
