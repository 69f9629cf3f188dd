"""Faults the bot survives: dropped gateway, Discord errors, killed reindexes, bad databases, lost folders.

Shutdown with questions in flight is in test_bot_process.py (it needs the real process and SIGTERM).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from fake_discord import FakeDiscord, SentMessage, run_bot
from fake_discord_payloads import ADMIN, ALICE, BOB
from test_bot_process import env_for
from test_discord_e2e import TestBot

from bot.config import Settings
from bot.render_discord import clean
from bot.service import QAService
from retrieval.errors import DocumentsError

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the bot's settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "QA_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def cli(cwd: Path, *args: str, timeout: float = 120, prefix: tuple[str, ...] = (),
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` in `cwd` with a clean environment (behind `prefix`, e.g. setpriv)."""
    return subprocess.run([*prefix, sys.executable, "-m", "bot", *args], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


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


def statuses(fake: FakeDiscord, route: str) -> list[int]:
    """The statuses the fake answered to the requests whose "METHOD /path" contains `route`."""
    return [r.status for r in fake.requests if route in f"{r.method} {r.path}"]


def logged(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    """Log messages at `level` that contain `text`."""
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


def final(output: SentMessage) -> bool:
    """Any output but the "thinking…" deferral."""
    return output.kind != "callback" or output.callback_type != 5


# --- the gateway ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resumable", [True, False])
async def test_the_bot_reconnects_after_the_gateway_drops(fake: FakeDiscord, bot: TestBot, resumable: bool) -> None:
    assert "Witkoff" in await ask(fake)
    identified = len(fake.identifies)
    await fake.drop_gateway(resumable=resumable)
    assert not fake.connected
    await fake.wait_until_connected(timeout=15)
    # A resumable drop is resumed (the same session); otherwise the bot identifies afresh.
    assert (len(fake.resumes), len(fake.identifies)) == ((1, identified) if resumable else (0, identified + 1))
    assert "Witkoff" in await ask(fake)


async def test_a_question_sent_while_the_gateway_is_down_is_answered_after_the_resume(
    fake: FakeDiscord, bot: TestBot
) -> None:
    await fake.drop_gateway(resumable=True)
    assert not fake.connected
    waiting = await fake.send_message("Who is Steve Witkoff?", BOB, dm=True)  # kept, replayed on RESUME
    reply = await fake.wait_for_reply(waiting, timeout=15)
    assert "Witkoff" in reply.text and len(fake.resumes) == 1


# --- Discord answering with errors ---------------------------------------------------------------------------


async def test_a_429_on_an_answer_is_logged_and_retried(
    fake: FakeDiscord, bot: TestBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("/callback", 429, retry_after=0.2)
    assert "Witkoff" in await ask(fake)
    assert statuses(fake, "/callback") == [429, 200]
    assert logged(caplog, logging.WARNING, "rate limited. Retrying in 0.20 seconds")


async def test_a_global_429_on_a_reply_is_logged_and_retried(
    fake: FakeDiscord, bot: TestBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("POST /channels/", 429, retry_after=0.2, is_global=True)
    sent = await fake.send_message("Who is Steve Witkoff?", ALICE, dm=True)
    assert "Witkoff" in (await fake.wait_for_reply(sent, timeout=15)).text
    assert statuses(fake, "POST /channels/") == [429, 200]
    assert logged(caplog, logging.WARNING, "Global rate limit has been hit. Retrying in 0.20 seconds")


async def test_a_500_on_a_reply_is_logged_retried_and_the_bot_keeps_running(
    fake: FakeDiscord, bot: TestBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("POST /channels/", 500)
    sent = await fake.send_message("Who is Steve Witkoff?", ALICE, dm=True)
    assert "Witkoff" in (await fake.wait_for_reply(sent, timeout=15)).text
    assert statuses(fake, "POST /channels/") == [500, 200]
    assert logged(caplog, logging.WARNING, "Discord answered 500") == [
        f"Discord answered 500 to POST /api/v10/channels/{sent.channel_id}/messages"]
    assert "Witkoff" in await ask(fake)


async def test_a_500_on_an_interaction_is_logged_without_its_token(
    fake: FakeDiscord, bot: TestBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("/callback", 500)
    asked = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"}, user=ALICE)
    assert "Witkoff" in (await fake.wait_for_reply(asked, timeout=15)).text
    assert statuses(fake, "/callback") == [500, 200]
    assert logged(caplog, logging.WARNING, "Discord answered 500") == [
        f"Discord answered 500 to POST /api/v10/interactions/{asked.id}/…/callback"]


async def test_an_answer_discord_refuses_is_reported_to_the_user_and_logged(
    fake: FakeDiscord, bot: TestBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("/callback", 403, code=50013)  # not retried by discord.py
    asked = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"}, user=ALICE)
    reported = await fake.wait_for_reply(asked, lambda o: o.content is not None)
    assert reported.ephemeral and "something went wrong" in reported.text
    assert statuses(fake, "/callback") == [403, 200]
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    reference = reported.text.rsplit("reference: ", 1)[1].rstrip(".")
    assert error.getMessage() == f"command ask failed [ref {reference}]", (error.getMessage(), reported.text)
    assert error.exc_info and "403" in str(error.exc_info[1])
    assert "Witkoff" in await ask(fake)


async def test_a_reply_that_keeps_failing_is_logged_and_the_bot_keeps_running(
    fake: FakeDiscord, bot: TestBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("POST /channels/", 403, code=50013)  # Missing Permissions: not retried
    await fake.send_message("Who is Steve Witkoff?", ALICE, dm=True)
    await fake.wait_for_request(lambda r: r.status == 403)
    for _ in range(200):
        if any(r.levelno >= logging.ERROR for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    assert any("403" in str(r.exc_info and r.exc_info[1]) for r in caplog.records if r.levelno >= logging.ERROR)
    assert "Witkoff" in await ask(fake)


# --- the documents folder lost at reindex --------------------------------------------------------------


def _remove(docs: Path) -> None:
    shutil.rmtree(docs)


def _file_instead(docs: Path) -> None:
    shutil.rmtree(docs)
    docs.write_text("Not a folder any more.\n", encoding="utf-8")


def _emptied(docs: Path) -> None:
    for path in docs.iterdir():
        path.unlink()


def _link_loop(docs: Path) -> None:
    shutil.rmtree(docs)
    docs.symlink_to(docs)  # every access: "Too many levels of symbolic links"


FOLDER_FAULTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "removed": (_remove, "does not exist"),
    "a file in its place": (_file_instead, "is not a folder"),
    "emptied": (_emptied, "has no usable documents; the index was kept"),
    "a link to itself": (_link_loop, "link that leads nowhere"),
}


@pytest.mark.parametrize("fault", list(FOLDER_FAULTS))
async def test_a_lost_folder_is_reported_and_the_previous_index_keeps_serving(
    fake: FakeDiscord, bot: TestBot, docs: Path, service: QAService, fault: str
) -> None:
    make, message = FOLDER_FAULTS[fault]
    stored, index = await service.store.hashes(), service.index
    make(docs)
    asked = await fake.send_interaction("reindex", user=ADMIN)
    reply = await fake.wait_for_reply(asked, lambda o: o.ephemeral, timeout=15)  # the reason: to the admin alone
    assert message in reply.text and clean(str(docs)) in reply.text, reply.text
    public = [o.text for o in fake.outputs_for(asked) if not o.ephemeral]
    assert public and all(str(docs) not in t and clean(str(docs)) not in t for t in public), public
    assert "Reindex finished" not in reply.text
    assert "Witkoff" in await ask(fake)
    with pytest.raises(DocumentsError):
        await service.reindex()
    assert service.index is index and len(service.sources()) == 5  # the same index, still in force
    assert await service.store.hashes() == stored and await service.store.integrity() == "ok"


async def test_an_unreadable_folder_is_reported_and_the_running_bot_keeps_serving(
    fake: FakeDiscord, tmp_path: Path, docs: Path
) -> None:
    """The real `qa-bot run` process; as root, without the capabilities that would let it read anyway."""
    prefix = as_unprivileged()
    env = env_for(fake, tmp_path, "fake-token") | {"QA_DOCS": str(docs), "QA_ADMIN_IDS": str(ALICE.id),
                                                   "QA_COOLDOWN_SECONDS": "0", "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(*prefix, sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await fake.wait_until_connected(timeout=30)
        assert "Witkoff" in await ask(fake)
        docs.chmod(0)
        try:
            asked = await fake.send_interaction("reindex", user=ALICE)
            reply = await fake.wait_for_reply(asked, lambda o: o.ephemeral, timeout=15)
            assert "cannot be read: Permission denied" in reply.text and clean(str(docs)) in reply.text, reply.text
            assert "Witkoff" in await ask(fake)
            listing = await fake.wait_for_reply(await fake.send_interaction("sources", user=ALICE))
            assert listing.embeds[0]["title"].startswith("5 documents"), listing.embeds[0]["title"]
        finally:
            docs.chmod(0o755)
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err.decode(), err.decode()[-2000:]


# --- SIGKILL in the middle of a reindex ------------------------------------------------------------------

LARGE_LINES = 30_000


def _reindex_until(tmp_path: Path, docs: Path, db: Path, reached: Callable[[str], bool]) -> subprocess.Popen[bytes]:
    """Start `qa-bot reindex` with its progress on a terminal (a pty); return once `reached(progress so far)`."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "reindex", "--docs", str(docs), "--db", str(db)],
                            cwd=tmp_path, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=terminal)
    os.close(terminal)
    progress = ""
    try:
        while not reached(progress):
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, f"no progress within 60 s: {progress!r}"
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the reindex ended
                chunk = b""
            assert chunk, f"the reindex ended before the stage: {progress!r}"
            progress += chunk.decode(errors="replace")
    finally:
        os.close(controller)
    return proc


def _writing(db: Path) -> Callable[[str], bool]:
    """Reached once the new document is indexed and its passages are being written (spilling into the WAL)."""
    wal = db.with_name(db.name + "-wal")

    def reached(progress: str) -> bool:
        if "Indexed 1 of 1" not in progress:
            return False
        while wal.exists() and wal.stat().st_size < 1_000_000:  # 30,000 passages: MBs in one transaction
            select.select([], [], [], 0.002)
        return True

    return reached


STAGES: dict[str, Callable[[Path], Callable[[str], bool]]] = {
    "reading the folder": lambda db: lambda progress: "Reading" in progress,
    "tokenizing the new document": lambda db: lambda progress: "Indexing 1 new or changed" in progress,
    "writing the store": _writing,
}


def _store_state(db: Path) -> tuple[int, int]:
    """(documents, passages of large.txt) in the store, after SQLite's full integrity check."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        large = conn.execute("SELECT count(*) FROM passages WHERE doc_id = 'large.txt'").fetchone()[0]
    conn.close()
    return documents, large


async def test_sigkill_during_a_reindex_leaves_the_last_complete_index(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "qa.sqlite3"
    await (await QAService.open(db, docs)).close()  # the last complete index: the five seeds
    lines = [f"Line {i} talks about the gazelle number {i} and the ceasefire talks." for i in range(LARGE_LINES)]
    (docs / "large.txt").write_text("\n".join(lines), encoding="utf-8")
    running = {}
    for stage, reached in STAGES.items():
        proc = _reindex_until(tmp_path, docs, db, reached(db))
        running[stage] = proc.poll() is None
        proc.kill()
        proc.wait()
        # The old state or the new, never a mix; and the next start serves exactly what the store holds.
        documents, large = _store_state(db)
        assert (documents, large) in ((5, 0), (6, LARGE_LINES)), (stage, documents, large)
        service = await QAService.open(db, docs)
        try:
            assert len(service.sources()) == documents, stage
            assert (await service.ask("Who is Steve Witkoff?")).answer.answered, stage
            gazelle = await service.ask("Which line talks about the gazelle number 4242?")
            assert gazelle.answer.answered == (documents == 6), stage
        finally:
            await service.close()
        if documents == 6:  # the kill came just after the commit: back to the old state for the next stage
            with sqlite3.connect(db) as conn:
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("DELETE FROM documents WHERE id = 'large.txt'")
            conn.close()
    # The first two stages are followed by seconds of work: the kill certainly came mid-reindex.
    assert running["reading the folder"] and running["tokenizing the new document"], running
    service = await QAService.open(db, docs)  # and the next reindex completes
    try:
        assert (await service.reindex()).added == ("large.txt",)
    finally:
        await service.close()
    assert _store_state(db) == (6, LARGE_LINES)


# --- the database read-only, locked or corrupt -----------------------------------------------------------

# The commands that open the database: the terminal's, and the Discord bot's start (it opens the store
# before logging in, so the unused token and API address are never reached).
OPENERS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "ask": (("ask", "Who is Steve Witkoff?"), {}),
    "run": (("run",), {"DISCORD_TOKEN": "never-used", "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
                       "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/gateway"}),
}


def _fingerprint(db: Path) -> tuple[bytes, int, int]:
    """What "nothing overwritten" compares: the bytes, the inode (not replaced by a new file) and the mtime."""
    st = db.stat()
    return db.read_bytes(), st.st_ino, st.st_mtime_ns


def _questions(db: Path) -> int:
    """Questions logged in the database (read without writing to it)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        count = int(conn.execute("SELECT count(*) FROM questions").fetchone()[0])
    conn.close()
    return count


@pytest.fixture(scope="module")
def built_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database and its index over the seeds, closed cleanly; each test works on a copy."""
    folder = tmp_path_factory.mktemp("built")
    db = folder / "qa.sqlite3"
    result = cli(folder, "reindex", "--docs", str(SEEDS), "--db", str(db))
    assert result.returncode == 0, result.stderr
    return db


def _copy_db(built: Path, folder: Path) -> Path:
    """A copy of the built database (and its index) in `folder`."""
    shutil.copytree(built.parent, folder, symlinks=True)  # the index's link stays a link, to the copied version
    return folder / built.name


@pytest.mark.parametrize("command", list(OPENERS))
def test_a_corrupt_database_is_refused_and_left_untouched(tmp_path: Path, command: str) -> None:
    db = tmp_path / "qa.sqlite3"
    db.write_bytes(b"this is not a database at all" * 100)
    before = _fingerprint(db)
    args, env = OPENERS[command]
    line = one_clear_line(cli(tmp_path, *args, "--docs", str(SEEDS), "--db", str(db), env=clean_env(**env)))
    assert line.startswith(f"error: The database {str(db)!r} is damaged"), line
    assert _fingerprint(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa.sqlite3"]  # no -wal, -shm or index made


@pytest.mark.parametrize("command", list(OPENERS))
def test_a_read_only_database_is_a_clear_message_and_left_untouched(
    tmp_path: Path, built_db: Path, command: str
) -> None:
    prefix = as_unprivileged()
    db = _copy_db(built_db, tmp_path / "data")
    db.chmod(0o444)  # the file is read-only, its folder writable: replacing the file would be possible
    before, asked = _fingerprint(db), _questions(db)
    args, env = OPENERS[command]
    result = cli(tmp_path, *args, "--docs", str(SEEDS), "--db", str(db), prefix=prefix, env=clean_env(**env))
    assert one_clear_line(result) == f"error: The database {str(db)!r} is read-only: check its permissions."
    assert _fingerprint(db) == before and _questions(db) == asked


def test_a_locked_database_is_a_clear_message_at_the_bots_start_and_left_untouched(
    tmp_path: Path, built_db: Path
) -> None:
    command = "run"  # the terminal's commands open the store the same way (SQLite waits 5 s for the lock)
    db = _copy_db(built_db, tmp_path / "data")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")  # so that one transaction locks out every reader
    conn.close()
    before = _fingerprint(db)  # not while locked: closing any descriptor of the file drops this process's locks
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        args, env = OPENERS[command]
        result = cli(tmp_path, *args, "--docs", str(SEEDS), "--db", str(db), env=clean_env(**env))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    after = _fingerprint(db)
    assert one_clear_line(result) == (
        f"error: The database {str(db)!r} is locked by another process: is the bot already running?")
    assert after == before and _questions(db) == 0
