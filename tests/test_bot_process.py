"""`qa-bot run` as a real process against the fake Discord: bad tokens, clean shutdown, no secrets."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fake_discord import FakeDiscord
from tests.support.processes import SECRET, assert_every_log_line_captured, env_for, running_bot


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord that only accepts SECRET."""
    async with FakeDiscord(token=SECRET) as server:
        yield server


async def test_a_rejected_token_is_one_clear_line_and_never_shown(fake: FakeDiscord, tmp_path: Path) -> None:
    rejected = "MTA0.Wr0ng-but-still-secret.token-value"
    async with running_bot(env_for(fake, tmp_path, rejected), tmp_path, "run") as bot:
        assert await bot.wait(60) == 1
    last = bot.err.strip().splitlines()[-1]
    assert last == "error: Discord rejected the token: check DISCORD_TOKEN (Developer Portal → Bot).", bot.err
    assert "Traceback" not in bot.err
    assert_every_log_line_captured(bot.err)
    assert rejected not in bot.out + bot.err
    assert any(r.status == 401 for r in fake.requests)  # it was really sent, and refused


async def test_a_missing_token_is_one_clear_line(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(env_for(fake, tmp_path, None), tmp_path, "run") as bot:
        assert await bot.wait(60) == 1
    assert bot.err.strip() == (
        "error: DISCORD_TOKEN is not set: put it in .env (see .env.example) or the environment."
    )


async def test_sigterm_shuts_down_cleanly_and_the_token_is_never_logged(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(env_for(fake, tmp_path, SECRET), tmp_path, "run", fake=fake) as bot:
        asked = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"})
        assert "Witkoff" in (await fake.wait_for_reply(asked, timeout=15)).text
        assert await bot.stop() == 0, bot.err[-2000:]
    assert_every_log_line_captured(bot.err)
    assert SECRET not in bot.out + bot.err
    assert not [o for o in fake.outputs if SECRET in o.text or SECRET in repr(o.body)]
    assert "Traceback" not in bot.err
    with sqlite3.connect(tmp_path / "qa.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM questions").fetchone()[0] == 1


async def test_sync_command_syncs_and_exits(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(env_for(fake, tmp_path, SECRET), tmp_path, "sync") as bot:
        assert await bot.wait(60) == 0, bot.err[-2000:]
    assert "synced" in bot.out
    assert fake.commands(fake.guild.id)
    puts = [r for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert len(puts) == 1, [r.path for r in puts]  # registered once, not once in setup_hook and again after


async def test_sigterm_with_questions_in_flight_answers_each(fake: FakeDiscord, tmp_path: Path) -> None:
    """Eight answers are held by the fake (in flight, deterministically) when SIGTERM comes: the bot says it
    waits for them, delivers each once they are let through, closes the store and exits with 0."""
    env = env_for(fake, tmp_path, SECRET, QA_COOLDOWN_SECONDS="0", QA_LOG_LEVEL="INFO")
    async with running_bot(env, tmp_path, "run", fake=fake) as bot:
        warm = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"})
        await fake.wait_for_reply(warm, timeout=15)
        held = fake.hold("/callback")
        asked = [await fake.send_interaction("ask", {"question": f"Who is Steve Witkoff? ({n})"}) for n in range(8)]
        await held.wait_held(8, timeout=15)
        bot.terminate()
        waiting = await bot.wait_for_line("shutting down", timeout=15)
        assert "waiting for 8 requests in flight" in waiting, waiting
        assert not any(fake.outputs_for(a) for a in asked)  # none answered yet: all still in flight
        held.release()
        replies = [await fake.wait_for_reply(a, timeout=15) for a in asked]
        await bot.wait()
    assert all("Witkoff" in r.text and r.kind == "followup" for r in replies)
    assert all([o.kind for o in fake.outputs_for(a)] == ["callback", "followup"] for a in asked)  # deferred, answered
    assert [r.status for r in fake.requests if r.path.endswith("/callback")] == [200] * 9
    assert bot.returncode == 0 and "Traceback" not in bot.err, bot.err[-2000:]
    with sqlite3.connect(tmp_path / "qa.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM questions").fetchone()[0] == 9
    db.close()
