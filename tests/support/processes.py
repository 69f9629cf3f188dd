"""The real `qa-bot` as a process: clean environments, one-shot commands, and a running bot.

Every process gets an environment without this one's QA_*/DISCORD_* settings, run from a folder of its
own (no stray .env), on the lighter kernel: QA_KERNEL=numpy skips importing numba, which costs a process
about a second and 110 MB before its first answer, while the seeds are far too small to gain from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.fake_discord import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
SECRET = "Sekr1t.token-that-must-never-be-printed"
LIGHT = {"QA_KERNEL": "numpy"}
STOP_TIMEOUT = 30.0  # seconds a bot has to exit after SIGTERM before it is killed (generous: a busy machine)

# The commands that open the database: the terminal's, and the Discord bot's start (it opens the store
# before logging in, so the unused token and API address are never reached).
OPENERS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "ask": (("ask", "Who is Steve Witkoff?"), {}),
    "run": (("run",), {"DISCORD_TOKEN": "never-used", "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
                       "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/gateway"}),
}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the bot's settings, on the lighter kernel, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "QA_"))}
    return {**env, "PYTHONPATH": str(ROOT), **LIGHT, **extra}


def cli(cwd: Path, *args: str, timeout: float = 120, prefix: tuple[str, ...] = (),
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` in `cwd` with a clean environment (behind `prefix`, e.g. setpriv)."""
    return subprocess.run([*prefix, sys.executable, "-m", "bot", *args], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def qa_bot(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` in `cwd` with a clean environment, `stdin` piped in, output read as UTF-8."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
        encoding="utf-8", env=clean_env(PYTHONIOENCODING="utf-8"), timeout=120,
    )


def one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error: ...` line a failed command printed: no traceback, nothing else."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def as_unprivileged() -> tuple[str, ...]:
    """A command prefix under which file modes are enforced: none for a normal user; for root, setpriv
    dropping the two capabilities that let root read and write whatever the modes say."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced, nothing is unreadable")
    prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"running as root and setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return prefix


def env_for(fake: FakeDiscord, tmp_path: Path, token: str | None, **extra: str) -> dict[str, str]:
    """A clean environment pointing the bot at the fake (the seeds, a database in `tmp_path`, DEBUG logs)."""
    env = clean_env(DISCORD_API_BASE=fake.api_base, DISCORD_GATEWAY_URL=fake.gateway_url, QA_DOCS=str(SEEDS),
                    QA_DB=str(tmp_path / "qa.sqlite3"), QA_LOG_LEVEL="DEBUG", QA_DEV_GUILD=str(fake.guild.id))
    if token is not None:
        env["DISCORD_TOKEN"] = token
    return {**env, **extra}


def assert_every_log_line_captured(err: str) -> None:
    """The bot logged at DEBUG, to standard error: what was captured is every line it logged."""
    assert "DEBUG discord.http:" in err and "DEBUG discord." in err and " INFO " in err, err[-2000:]


async def _collect(stream: asyncio.StreamReader | None, lines: list[str]) -> None:
    """Read a process's output lines as they come, so that its pipe never fills (DEBUG logs are long)."""
    assert stream is not None
    while line := await stream.readline():
        lines.append(line.decode(errors="replace"))


@dataclass
class BotProcess:
    """A `qa-bot` process with its standard output and error collected line by line as they come."""

    proc: asyncio.subprocess.Process
    out_lines: list[str] = field(default_factory=list)
    err_lines: list[str] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while it runs."""
        return self.proc.returncode

    @property
    def out(self) -> str:
        """Standard output so far."""
        return "".join(self.out_lines)

    @property
    def err(self) -> str:
        """Standard error (the log) so far."""
        return "".join(self.err_lines)

    def terminate(self) -> None:
        """Send SIGTERM (a clean shutdown), without waiting."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit and its output to be read in full; its exit status."""
        await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(asyncio.gather(*self.readers), timeout)
        code = self.proc.returncode
        assert code is not None
        return code

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait for the exit; its exit status."""
        self.terminate()
        return await self.wait(timeout)

    async def wait_until_ready(self, fake: FakeDiscord, timeout: float) -> None:
        """Wait until the fake sees the bot's gateway connection, failing at once if the process exits first."""
        connected = asyncio.ensure_future(fake.wait_until_connected(timeout=timeout))
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            await asyncio.wait({connected, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if not connected.done():
            connected.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connected
            await asyncio.gather(*self.readers)
            raise AssertionError(f"the bot exited ({self.proc.returncode}) before connecting:\n{self.err[-3000:]}")
        connected.result()  # a TimeoutError with the fake's diagnosis if it never connected

    async def wait_for_line(self, text: str, timeout: float) -> str:
        """The first line of its log containing `text`, waiting for it (failing if the process ends first)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = next((line for line in self.err_lines if text in line), None)
            if found is not None:
                return found
            assert self.proc.returncode is None, f"the bot exited ({self.proc.returncode}) without logging {text!r}"
            assert loop.time() < deadline, f"no {text!r} within {timeout}s:\n{''.join(self.err_lines[-20:])}"
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_bot(
    env: dict[str, str], cwd: Path, *args: str, fake: FakeDiscord | None = None, prefix: tuple[str, ...] = (),
    ready_timeout: float = 60,
) -> AsyncIterator[BotProcess]:
    """`python -m bot ARGS` (default `run`) in `cwd`; with `fake`, yielded once connected to it. On the way
    out a process still running gets SIGTERM and STOP_TIMEOUT seconds to exit, then SIGKILL."""
    proc = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, "-m", "bot", *(args or ("run",)), cwd=cwd, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    bot = BotProcess(proc)
    bot.readers = [asyncio.create_task(_collect(proc.stdout, bot.out_lines)),
                   asyncio.create_task(_collect(proc.stderr, bot.err_lines))]
    try:
        if fake is not None:
            await bot.wait_until_ready(fake, ready_timeout)
        yield bot
    finally:
        if proc.returncode is None:
            bot.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.wait(bot.readers, timeout=5)  # the rest of its output, for a failing test's message
        for reader in bot.readers:
            reader.cancel()
        await asyncio.gather(*bot.readers, return_exceptions=True)
