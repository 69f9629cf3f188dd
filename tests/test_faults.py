"""Faults the bot survives: dropped gateway, Discord errors, killed reindexes, bad databases, lost folders."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fake_discord import FakeDiscord, point_discord_py_at, run_bot
from fake_discord_payloads import ADMIN, ALICE
from test_discord_e2e import TestBot

from bot.config import Settings
from bot.service import QAService
from retrieval.errors import DocumentsError

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def cli(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` in `cwd` with a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "QA_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A writable copy of the seeds."""
    folder = tmp_path / "docs"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
async def service(docs: Path, tmp_path: Path) -> AsyncIterator[QAService]:
    """A real service over a real SQLite file."""
    svc = await QAService.open(tmp_path / "qa.sqlite3", docs)
    yield svc
    await svc.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord, with discord.py pointed at it."""
    async with FakeDiscord() as server:
        with point_discord_py_at(server):
            yield server


@pytest.fixture
async def bot(fake: FakeDiscord, service: QAService) -> AsyncIterator[TestBot]:
    """The real bot, ready."""
    client = TestBot(service, Settings(cooldown_seconds=0, dev_guild=fake.guild.id), guild_ready_timeout=0.1)
    async with run_bot(client, timeout=10):
        yield client


async def ask(fake: FakeDiscord, question: str = "Who is Steve Witkoff?") -> str:
    """Ask by slash command and return the reply's text."""
    asked = await fake.send_interaction("ask", {"question": question}, user=ALICE)
    return (await fake.wait_for_reply(asked, timeout=15)).text


# --- Discord faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("resumable", [True, False])
async def test_the_bot_reconnects_after_the_gateway_drops(fake: FakeDiscord, bot: TestBot, resumable: bool) -> None:
    assert "Witkoff" in await ask(fake)
    await fake.drop_gateway(resumable=resumable)
    await fake.wait_until_connected(timeout=15)
    assert "Witkoff" in await ask(fake)


async def test_a_429_on_the_answer_is_retried(fake: FakeDiscord, bot: TestBot) -> None:
    fake.fail_next("/callback", 429, retry_after=0.2)
    assert "Witkoff" in await ask(fake)
    statuses = [r.status for r in fake.requests if "/callback" in r.path]
    assert statuses == [429, 200]


async def test_a_500_on_a_reply_is_retried_and_the_bot_keeps_running(fake: FakeDiscord, bot: TestBot) -> None:
    fake.fail_next("/messages", 500)
    sent = await fake.send_message("Who is Steve Witkoff?", ALICE, dm=True)
    reply = await fake.wait_for_reply(sent, timeout=15)
    assert "Witkoff" in reply.text
    assert "Witkoff" in await ask(fake)


async def test_a_reply_that_keeps_failing_is_logged_and_the_bot_keeps_running(
    fake: FakeDiscord, bot: TestBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("/messages", 403, code=50013, times=1)  # Missing Permissions: not retried
    await fake.send_message("Who is Steve Witkoff?", ALICE, dm=True)
    for _ in range(200):
        if any(r.levelname == "ERROR" for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    assert any("403" in (r.getMessage() + str(r.exc_info)) for r in caplog.records if r.levelname == "ERROR")
    assert "Witkoff" in await ask(fake)


# --- reindex faults -------------------------------------------------------------------------------


async def test_a_removed_folder_keeps_the_index_serving(fake: FakeDiscord, bot: TestBot, docs: Path,
                                                        service: QAService) -> None:
    shutil.rmtree(docs)
    asked = await fake.send_interaction("reindex", user=ADMIN)
    reply = await fake.wait_for_reply(asked, lambda o: o.kind != "callback" or o.callback_type != 5, timeout=15)
    assert "does not exist" in reply.text
    assert "Witkoff" in await ask(fake)
    with pytest.raises(DocumentsError):
        await service.reindex()
    assert len(service.sources()) == 5


def test_sigkill_during_a_reindex_leaves_the_last_complete_index(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "qa.sqlite3"
    first = cli(tmp_path, "reindex", "--docs", str(docs), "--db", str(db), "--json")
    assert first.returncode == 0, first.stderr
    lines = [f"Line {i} talks about the gazelle number {i} and the ceasefire talks." for i in range(60_000)]
    (docs / "large.txt").write_text("\n".join(lines), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "QA_"))}
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen([sys.executable, "-m", "bot", "reindex", "--docs", str(docs), "--db", str(db)],
                                cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)})
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            count = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        assert count in (5, 6)  # the old state or the new, never a mix
        asked = cli(tmp_path, "ask", "Who is Steve Witkoff?", "--docs", str(docs), "--db", str(db), "--json")
        assert asked.returncode == 0 and '"answered": true' in asked.stdout, asked.stderr


# --- database faults ------------------------------------------------------------------------------


def test_a_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "qa.sqlite3"
    db.write_bytes(b"this is not a database at all" * 100)
    before = db.read_bytes()
    result = cli(tmp_path, "sources", "--docs", str(SEEDS), "--db", str(db))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: The database") and "damaged" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == before


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A database file that nobody, root included, can write (chattr +i)."""
    db = tmp_path / "ro" / "qa.sqlite3"
    db.parent.mkdir()
    assert cli(tmp_path, "reindex", "--docs", str(SEEDS), "--db", str(db)).returncode == 0
    for extra in db.parent.iterdir():
        if extra != db and extra.suffix != ".npz":
            extra.unlink()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield db
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)


def test_a_read_only_database_is_a_clear_message(tmp_path: Path, immutable: Path) -> None:
    before = immutable.read_bytes()
    result = cli(tmp_path, "ask", "Who is Steve Witkoff?", "--docs", str(SEEDS), "--db", str(immutable))
    assert result.returncode == 1, result.stdout
    assert "read-only" in result.stderr or "cannot be opened" in result.stderr or "Cannot open" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert immutable.read_bytes() == before


def test_a_locked_database_is_a_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "qa.sqlite3"
    assert cli(tmp_path, "reindex", "--docs", str(SEEDS), "--db", str(db)).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = cli(tmp_path, "ask", "Who is Steve Witkoff?", "--docs", str(SEEDS), "--db", str(db))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1
    assert "locked by another process" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
