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


def assert_every_log_line_captured(err: str) -> None:
    """The bot logged at DEBUG, to standard error: what was captured is every line it logged."""
    assert "DEBUG discord.http:" in err and "DEBUG discord." in err and " INFO " in err, err[-2000:]


async def test_a_rejected_token_is_one_clear_line_and_never_shown(fake: FakeDiscord, tmp_path: Path) -> None:
    rejected = "MTA0.Wr0ng-but-still-secret.token-value"
    proc = await start(env_for(fake, tmp_path, rejected), tmp_path, "run")
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    last = err.decode().strip().splitlines()[-1]
    assert last == "error: Discord rejected the token: check DISCORD_TOKEN (Developer Portal → Bot).", err.decode()
    assert "Traceback" not in err.decode()
    assert_every_log_line_captured(err.decode())
    assert rejected not in out.decode() + err.decode()
    assert any(r.status == 401 for r in fake.requests)  # it was really sent, and refused


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
    assert_every_log_line_captured(err.decode())
    assert SECRET not in out.decode() + err.decode()
    assert not [o for o in fake.outputs if SECRET in o.text or SECRET in repr(o.body)]
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
    puts = [r for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert len(puts) == 1, [r.path for r in puts]  # registered once, not once in setup_hook and again after


async def _read_lines(stream: asyncio.StreamReader, lines: list[str]) -> None:
    """Collect a process's output lines as they come (so its pipe never fills)."""
    while line := await stream.readline():
        lines.append(line.decode(errors="replace"))


async def _wait_for_line(lines: list[str], text: str, proc: asyncio.subprocess.Process, timeout: float) -> str:
    """The first collected line containing `text`, waiting for it (failing if the process ends first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = next((line for line in lines if text in line), None)
        if found is not None:
            return found
        assert proc.returncode is None, f"the bot exited ({proc.returncode}) without logging {text!r}"
        assert loop.time() < deadline, f"no {text!r} within {timeout}s:\n{''.join(lines[-20:])}"
        await asyncio.sleep(0.01)


async def test_sigterm_with_questions_in_flight_answers_each(fake: FakeDiscord, tmp_path: Path) -> None:
    """Eight answers are held by the fake (in flight, deterministically) when SIGTERM comes: the bot says it
    waits for them, delivers each once they are let through, closes the store and exits with 0."""
    env = env_for(fake, tmp_path, SECRET) | {"QA_COOLDOWN_SECONDS": "0", "QA_LOG_LEVEL": "INFO"}
    proc = await start(env, tmp_path, "run")
    assert proc.stderr is not None
    lines: list[str] = []
    reader = asyncio.create_task(_read_lines(proc.stderr, lines))
    try:
        await fake.wait_until_connected(timeout=30)
        warm = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"})
        await fake.wait_for_reply(warm, timeout=15)
        held = fake.hold("/callback")
        asked = [await fake.send_interaction("ask", {"question": f"Who is Steve Witkoff? ({n})"}) for n in range(8)]
        await held.wait_held(8, timeout=15)
        proc.send_signal(signal.SIGTERM)
        waiting = await _wait_for_line(lines, "shutting down", proc, timeout=15)
        assert "waiting for 8 requests in flight" in waiting, waiting
        assert not any(fake.outputs_for(a) for a in asked)  # none answered yet: all still in flight
        held.release()
        replies = [await fake.wait_for_reply(a, timeout=15) for a in asked]
        await asyncio.wait_for(proc.wait(), 30)
        await reader
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert all("Witkoff" in r.text and r.kind == "followup" for r in replies)
    assert all([o.kind for o in fake.outputs_for(a)] == ["callback", "followup"] for a in asked)  # deferred, answered
    assert [r.status for r in fake.requests if r.path.endswith("/callback")] == [200] * 9
    assert proc.returncode == 0 and "Traceback" not in "".join(lines), "".join(lines)[-2000:]
    with sqlite3.connect(tmp_path / "qa.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM questions").fetchone()[0] == 9
    db.close()
