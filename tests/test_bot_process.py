"""`qa-bot run` as a real process against the fake Discord: bad tokens, clean shutdown, no secrets."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_discord import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Sekr1t.token-that-must-never-be-printed"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord that only accepts SECRET."""
    async with FakeDiscord(token=SECRET) as server:
        yield server


def env_for(fake: FakeDiscord, tmp_path: Path, token: str | None) -> dict[str, str]:
    """A clean environment pointing the bot at the fake."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "QA_"))}
    env.update(DISCORD_API_BASE=fake.api_base, DISCORD_GATEWAY_URL=fake.gateway_url, QA_DOCS=str(ROOT / "seeds"),
               QA_DB=str(tmp_path / "qa.sqlite3"), QA_LOG_LEVEL="DEBUG", QA_DEV_GUILD=str(fake.guild.id))
    if token is not None:
        env["DISCORD_TOKEN"] = token
    return env


async def start(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """`python -m bot ARGS` in its own folder (no stray .env)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_a_rejected_token_is_one_clear_line(fake: FakeDiscord, tmp_path: Path) -> None:
    proc = await start(env_for(fake, tmp_path, "wrong-token"), tmp_path, "run")
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("error: Discord rejected the token"), err.decode()
    assert "Traceback" not in err.decode()


async def test_a_missing_token_is_one_clear_line(fake: FakeDiscord, tmp_path: Path) -> None:
    proc = await start(env_for(fake, tmp_path, None), tmp_path, "run")
    _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert err.decode().strip() == (
        "error: DISCORD_TOKEN is not set: put it in .env (see .env.example) or the environment."
    )


async def test_sigterm_shuts_down_cleanly_and_the_token_is_never_logged(fake: FakeDiscord, tmp_path: Path) -> None:
    proc = await start(env_for(fake, tmp_path, SECRET), tmp_path, "run")
    try:
        await fake.wait_until_connected(timeout=30)
        asked = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"})
        assert "Witkoff" in (await fake.wait_for_reply(asked, timeout=15)).text
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert SECRET not in out.decode() + err.decode()
    assert "Traceback" not in err.decode()
    with sqlite3.connect(tmp_path / "qa.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM questions").fetchone()[0] == 1


async def test_sync_command_syncs_and_exits(fake: FakeDiscord, tmp_path: Path) -> None:
    proc = await start(env_for(fake, tmp_path, SECRET), tmp_path, "sync")
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "synced" in out.decode()
    assert fake.commands(fake.guild.id)


async def test_sigterm_with_questions_in_flight_answers_each(fake: FakeDiscord, tmp_path: Path) -> None:
    env = env_for(fake, tmp_path, SECRET) | {"QA_COOLDOWN_SECONDS": "0"}
    proc = await start(env, tmp_path, "run")
    try:
        await fake.wait_until_connected(timeout=30)
        warm = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"})
        await fake.wait_for_reply(warm, timeout=15)
        asked = [await fake.send_interaction("ask", {"question": f"Who is Steve Witkoff? ({n})"}) for n in range(8)]
        proc.send_signal(signal.SIGTERM)
        replies = [await fake.wait_for_reply(a, timeout=15) for a in asked]
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert all("Witkoff" in r.text for r in replies)
    assert proc.returncode == 0 and "Traceback" not in err.decode()
