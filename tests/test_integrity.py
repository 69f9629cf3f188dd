"""Never serve what the documents do not say: a damaged index file or store, another process's reindex,
a file changed under a running bot, a full disk while saving, the database deleted while in use.

Damage is done the way it happens: bytes changed in place in the real files, processes that really run
side by side, a real file-size limit (RLIMIT_FSIZE) instead of a mocked disk.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from bot import service as service_module
from bot.service import QAService, index_path
from retrieval import persist
from retrieval.documents import read_folder
from retrieval.errors import IndexDamagedError
from retrieval.index import Index, Weighting
from retrieval.passages import all_passages
from tests.support.bots import ask, final
from tests.support.corpus import big_document
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_discord_payloads import ALICE
from tests.support.processes import clean_env, cli, env_for, running_bot
from tests.support.services import two_services

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "When is Netanyahu invited to the White House?"
SENTENCE = b"White House on February 4, 2025"
DAMAGED = b"White House on February 5, 2025"  # one bit away: '4' is 0x34, '5' is 0x35
GONE = "000_fe643504d8637f7e.txt"  # the document that says it


def flip_bit(path: Path, offset: int, mask: int = 0x01) -> None:
    """Flip bits of one byte of a file, in place (the file keeps its inode, size and every other byte)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ mask]))


def array_at(path: Path, name: str) -> tuple[Path, int, np.dtype[np.generic]]:
    """The `.npy` file of array `name` in a saved index and where its data starts, read with numpy's own
    header readers."""
    file = path / f"{name}.npy"
    with open(file, "rb") as fh:
        major, _minor = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        _shape, _fortran, dtype = read_header(fh)
        return file, fh.tell(), dtype


def only_version(path: Path) -> Path:
    """The one version folder beside the link `path`, which the link points at (older ones were removed)."""
    versions = list(path.with_name(path.name + ".versions").iterdir())
    assert versions == [path.resolve()], (versions, path.resolve())
    return versions[0]


def quoted(result: subprocess.CompletedProcess[str]) -> str:
    """The first quote of `qa-bot ask --json`."""
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["quotes"], answer
    return str(answer["quotes"][0]["text"])


# --- 1. a damaged index file ----------------------------------------------------------------------------


def test_a_flipped_bit_in_the_index_file_is_never_quoted_and_a_reindex_replaces_the_file(
    tmp_path: Path, docs: Path
) -> None:
    db = tmp_path / "qa.sqlite3"
    places = ("--docs", str(docs), "--db", str(db))
    assert cli(tmp_path, "reindex", *places).returncode == 0
    text = index_path(db) / "text.npy"  # through the link: the version in force
    where = text.read_bytes().index(SENTENCE) + len(SENTENCE) - len("4, 2025")
    flip_bit(text, where)
    assert DAMAGED in text.read_bytes()

    unchanged = cli(tmp_path, "reindex", *places)  # the folder did not change
    assert unchanged.returncode == 0 and "0 added, 0 changed, 0 removed" in unchanged.stdout, unchanged.stdout
    assert DAMAGED not in text.read_bytes() and SENTENCE in text.read_bytes()
    assert "is damaged" in unchanged.stderr and "text does not match its checksum" in unchanged.stderr
    only_version(index_path(db))  # the damaged version is gone

    flip_bit(text, where)
    answer = quoted(cli(tmp_path, "ask", "--json", *places, QUESTION))
    assert "February 4, 2025" in answer and "February 5" not in answer


def test_a_shifted_text_offset_is_never_served(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "qa.sqlite3"
    places = ("--docs", str(docs), "--db", str(db))
    assert cli(tmp_path, "reindex", *places).returncode == 0
    path = index_path(db)
    text, offsets = np.load(path / "text.npy").tobytes(), np.load(path / "offsets.npy")
    quoted_passage = next(i for i in range(len(offsets) - 1) if SENTENCE in text[offsets[i]:offsets[i + 1]])
    file, start, dtype = array_at(path, "offsets")
    at = start + quoted_passage * dtype.itemsize
    with open(file, "r+b") as fh:  # that passage now starts one byte later
        fh.seek(at)
        fh.write(np.array([offsets[quoted_passage] + 1], dtype).tobytes())

    result = cli(tmp_path, "ask", "--json", *places, QUESTION)
    assert quoted(result).startswith("Israeli Prime Minister Benjamin Netanyahu has been invited")
    assert "UnicodeDecodeError" not in result.stderr and "is damaged" in result.stderr, result.stderr


def test_every_array_is_covered_by_a_checksum_including_ones_added_later(tmp_path: Path) -> None:
    """Whatever arrays a saved index holds, damage to any of them is refused."""
    documents, _ = read_folder(ROOT / "seeds")
    corpus = persist.fingerprint(documents)
    arrays = persist.arrays_of(Index.build(documents, all_passages(documents)), corpus)
    arrays["added_later"] = np.arange(1000, dtype=np.int32)  # a column some later version saves
    good = tmp_path / "good"
    persist.write_arrays(good, arrays)
    assert persist.read(good)["added_later"].tolist() == list(range(1000))
    persist.load(good, documents, corpus, Weighting())  # sound
    for name in arrays.keys() - {"params"}:  # the parameters are index.json itself: compared, not summed
        damaged = tmp_path / name
        shutil.copytree(good, damaged)
        file, start, _dtype = array_at(damaged, name)
        size = arrays[name].nbytes
        flip_bit(file, start + size // 2 if size else start - 2, 0x10)  # an empty array: its header
        # An empty array's header is all there is of it: damage there is refused while reading the header.
        with pytest.raises(IndexDamagedError, match=f"{name} does not match its checksum" if size else "damaged"):
            persist.load(damaged, documents, corpus, Weighting())
    damaged = tmp_path / "manifest"
    shutil.copytree(good, damaged)
    flip_bit(damaged / "index.json", 0)  # '{' becomes 'z': no longer JSON
    with pytest.raises(IndexDamagedError, match="damaged"):
        persist.load(damaged, documents, corpus, Weighting())


def test_passages_changed_in_the_store_are_re_read_from_the_folder(tmp_path: Path, docs: Path) -> None:
    """The index file is gone and the store's copy of a sentence was changed behind its back: the start
    builds from the store without that document's passages and re-reads it from the folder."""
    db = tmp_path / "qa.sqlite3"
    places = ("--docs", str(docs), "--db", str(db))
    assert cli(tmp_path, "reindex", *places).returncode == 0
    with sqlite3.connect(db) as conn:
        changed = conn.execute("UPDATE passages SET text = replace(text, ?, ?) WHERE text LIKE ?",
                               (SENTENCE.decode(), DAMAGED.decode(), f"%{SENTENCE.decode()}%")).rowcount
    conn.close()
    assert changed == 1
    index_path(db).unlink()

    result = cli(tmp_path, "ask", "--json", *places, QUESTION)
    assert "February 4, 2025" in quoted(result)
    assert f"stored passages of {GONE} do not match their digests" in result.stderr, result.stderr
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM passages WHERE text LIKE ?", (f"%{SENTENCE.decode()}%",))
        assert stored.fetchone()[0] == 1  # written again, from the folder
    conn.close()


# --- 2. one truth across processes ------------------------------------------------------------------------


@pytest.fixture
async def two(tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[QAService, ...]]:
    """Two services on one database and folder, as two processes would be; no timer (each test says when)."""
    monkeypatch.setattr(service_module, "WATCH_SECONDS", 3600.0, raising=False)
    async with two_services(tmp_path / "qa.sqlite3", docs) as services:
        yield services


async def test_reindex_compares_the_folder_with_the_index_it_serves(
    two: tuple[QAService, QAService], docs: Path
) -> None:
    serving, other = two
    (docs / GONE).unlink()
    assert (await other.reindex()).removed == (GONE,)
    assert GONE in [s.id for s in serving.sources()]  # nothing asked since: not switched yet
    report = await serving.reindex()
    assert report.removed == (GONE,) and not report.added and not report.changed
    assert GONE not in [s.id for s in serving.sources()]
    assert all(q.source != GONE for q in (await serving.ask(QUESTION)).answer.quotes)


async def test_a_question_is_answered_from_the_newest_generation(two: tuple[QAService, QAService], docs: Path) -> None:
    serving, other = two
    assert (await serving.ask(QUESTION)).answer.quotes[0].source == GONE
    (docs / GONE).unlink()
    (docs / "zebra.txt").write_text("The zebra herd crossed the Limpopo river in March.\n", encoding="utf-8")
    await other.reindex()
    assert all(q.source != GONE for q in (await serving.ask(QUESTION)).answer.quotes)
    assert "Limpopo" in (await serving.ask("Which river did the zebra herd cross?")).answer.quotes[0].text
    assert sorted(s.id for s in serving.sources()) == sorted(s.id for s in other.sources())
    assert GONE not in [s.id for s in serving.sources()]


async def test_a_running_bot_serves_the_reindex_another_process_made(
    fake: FakeDiscord, tmp_path: Path, docs: Path
) -> None:
    """The README's sharded set-up: `qa-bot reindex` run beside a running bot on the same database."""
    db = tmp_path / "qa.sqlite3"
    # QA_WATCH=0: the bot must learn of the change from the other process's reindex, not from its own watcher.
    env = env_for(fake, tmp_path, "fake-token", QA_DOCS=str(docs), QA_COOLDOWN_SECONDS="0", QA_LOG_LEVEL="INFO",
                  QA_WATCH="0")
    async with running_bot(env, tmp_path, "run", fake=fake) as bot:
        assert "February 4, 2025" in await ask(fake, QUESTION)
        (docs / GONE).unlink()
        other = await asyncio.to_thread(cli, tmp_path, "reindex", "--docs", str(docs), "--db", str(db))
        assert "1 removed" in other.stdout, other.stdout + other.stderr
        assert "February 4, 2025" not in await ask(fake, QUESTION)
        listing = await fake.wait_for_reply(await fake.send_interaction("sources", user=ALICE), timeout=15)
        assert listing.embeds[0]["title"].startswith("4 documents"), listing.embeds[0]["title"]
        assert await bot.stop() == 0, bot.err[-2000:]
    assert "switching to its index" in bot.err, bot.err[-2000:]


# --- 3. the index file changed under a running process -------------------------------------------------------


async def test_a_running_bot_survives_its_index_file_truncated_or_copied_over(
    fake: FakeDiscord, tmp_path: Path, docs: Path
) -> None:
    """An index with arrays over 1 MiB (which the bot once mapped from the file) cut to nothing and then
    overwritten in place: the bot goes on answering (a mapped file would kill it with SIGBUS)."""
    big_document(docs)
    path = index_path(tmp_path / "qa.sqlite3")
    env = env_for(fake, tmp_path, "fake-token", QA_DOCS=str(docs), QA_COOLDOWN_SECONDS="0", QA_LOG_LEVEL="WARNING")
    async with running_bot(env, tmp_path, "run", fake=fake) as bot:
        assert "Witkoff" in await ask(fake)
        text = path / "text.npy"
        assert text.stat().st_size > 1 << 20
        os.truncate(text, 0)
        assert "Witkoff" in await ask(fake)
        assert "Lighthouse keeper" in await ask(fake, "How many ships did the lighthouse keepers log?")
        with open(text, "r+b") as fh:  # as `cp` over it does: the same file, other bytes
            fh.write(os.urandom(2 << 20))
        assert "Witkoff" in await ask(fake)
        assert "Lighthouse keeper" in await ask(fake, "How many ships did the lighthouse keepers log?")
        assert bot.returncode is None
        assert await bot.stop() == 0, (bot.returncode, bot.err[-2000:])


MAPPING_CHAT = ("import sys; from retrieval import persist; persist._MAP_FROM = 0; "
                "from bot.cli import main; sys.exit(main(sys.argv[1:]))")


def test_a_mapped_index_file_changed_in_place_is_reloaded_before_the_next_answer(tmp_path: Path, docs: Path) -> None:
    """Every array mapped (as a very large index's are): a file of the version in force truncated, then
    overwritten, under a running `qa-bot chat`. Each change is noticed before the next answer, which comes
    from a sound index."""
    db = tmp_path / "qa.sqlite3"
    path = index_path(db) / "text.npy"  # through the link: the version in force, whichever it is
    command = [sys.executable, "-c", MAPPING_CHAT, "chat", "--json", "--docs", str(docs), "--db", str(db)]
    proc = subprocess.Popen(command, cwd=tmp_path, env=clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None

    def answer(question: str) -> str:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(question + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, f"the chat ended ({proc.wait(30)}): {proc.stderr.read() if proc.stderr else ''}"
        return str(json.loads(line)["quotes"][0]["text"])

    watchdog = threading.Timer(180, proc.kill)  # a hung chat fails the test instead of hanging the suite
    watchdog.start()
    try:
        assert "February 4, 2025" in answer(QUESTION)
        os.truncate(path, 0)
        assert "February 4, 2025" in answer(QUESTION)
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(os.urandom(size))
        assert "February 4, 2025" in answer(QUESTION)
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    assert proc.stderr.read().count("was changed in place while mapped") == 2


def test_a_save_has_a_folder_of_its_own_and_waits_for_another_writer(tmp_path: Path) -> None:
    documents, _ = read_folder(ROOT / "seeds")
    corpus = persist.fingerprint(documents)
    index = Index.build(documents, all_passages(documents))
    path = tmp_path / "index"
    dead = tmp_path / "index.versions" / "20260101T000000-99999-deadbeef"  # a writer killed mid-save
    dead.mkdir(parents=True)
    (dead / "text.npy").write_bytes(b"half")
    (tmp_path / "index.99999.deadbeef.tmp").symlink_to(dead)  # its link, never put in force
    lock = persist.WriteLock(path)
    lock.acquire()  # another writer is saving
    saving = threading.Thread(target=persist.save, args=(index, path, corpus))
    saving.start()
    saving.join(0.5)
    assert saving.is_alive() and not path.exists()  # waiting, having written nothing in its place
    lock.release()
    saving.join(60)
    assert not saving.is_alive()
    loaded = persist.load(path, documents, corpus, Weighting())
    assert len(loaded) == len(index)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index", "index.lock", "index.versions"]
    assert only_version(path) != dead


def test_readers_see_one_whole_version_while_another_is_put_in_force(tmp_path: Path) -> None:
    """A reader beside a writer saving again and again: every read is one saved index, whole and verified,
    never a mix of two versions nor a half-written one (the writer removes each replaced version)."""
    documents, _ = read_folder(ROOT / "seeds")
    indexes = [Index.build(d, all_passages(d)) for d in (documents, documents[:2])]
    path = tmp_path / "index"
    persist.save(indexes[0], path, "corpus")
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(30):
                persist.save(indexes[i % 2], path, "corpus")
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = set()
    while not done.is_set() or not seen:
        arrays = persist.read(path)  # raises if anything read were damaged or missing
        seen.add(len(arrays["doc_of"]))
    writer.join()
    assert seen <= {len(i) for i in indexes}
    only_version(path)


def test_a_folder_changed_in_place_has_another_file_id_and_a_new_version_another_folder(tmp_path: Path) -> None:
    documents, _ = read_folder(ROOT / "seeds")
    index = Index.build(documents, all_passages(documents))
    path = tmp_path / "index"
    persist.save(index, path, "corpus")
    first = persist.file_id(path)
    assert first is not None and persist.file_id(path) == first
    (path / "idf.npy").write_bytes((path / "idf.npy").read_bytes())  # `cp` over it: same name, new bytes
    changed = persist.file_id(path)
    assert changed is not None and changed[:2] == first[:2] and changed != first
    persist.save(index, path, "corpus")
    renewed = persist.file_id(path)
    assert renewed is not None and renewed[:2] != first[:2]


async def test_the_previous_releases_index_file_is_not_read_and_is_removed(
    tmp_path: Path, docs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An `.npz` beside the database, as the previous release saved it: the index is built from the store once,
    saved as a folder, and the old file goes (with its lock)."""
    db = tmp_path / "qa.sqlite3"
    await (await QAService.open(db, docs)).close()
    old = tmp_path / "qa.sqlite3.index.npz"
    np.savez(old, params=np.array("{}"), text=np.frombuffer(b"not what the documents say", np.uint8))
    (tmp_path / "qa.sqlite3.index.npz.lock").touch()
    shutil.rmtree(tmp_path / "qa.sqlite3.index.versions")
    index_path(db).unlink()
    caplog.set_level("INFO", "retrieval")
    service = await QAService.open(db, docs)
    try:
        assert "Witkoff" in (await service.ask("Who is Steve Witkoff?")).answer.quotes[0].text
    finally:
        await service.close()
    assert "building the index from the store: No saved index" in caplog.text
    assert "removed the previous release's index file" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir() if "index" in p.name) == [
        "qa.sqlite3.index", "qa.sqlite3.index.lock", "qa.sqlite3.index.versions"]


def test_two_reindexes_at_once_both_succeed(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "qa.sqlite3"
    places = ("--docs", str(docs), "--db", str(db))
    assert cli(tmp_path, "reindex", *places).returncode == 0
    for round_ in range(3):
        (docs / "zebra.txt").write_text(f"The zebra herd crossed the Limpopo river {round_} times.\n")
        runs = [subprocess.Popen([sys.executable, "-m", "bot", "reindex", *places], cwd=tmp_path, env=clean_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0 and not err, (out, err)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    only_version(index_path(db))
    assert "Limpopo river 2 times" in quoted(cli(tmp_path, "ask", "--json", *places, "How often did the zebras cross?"))


# --- 4. a full disk while saving -------------------------------------------------------------------------


FILE_LIMIT = 512 << 10  # enough for the database's write-ahead log of one small change, not for the index


def _small_disk() -> None:
    """In the child: files can grow to FILE_LIMIT bytes only, and writing past it fails (EFBIG) instead of
    killing the process, as a full disk fails a write (ENOSPC)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_full_disk_while_saving_the_index_leaves_no_temporary_file_and_is_reported(
    tmp_path: Path, docs: Path
) -> None:
    db = tmp_path / "data" / "qa.sqlite3"
    places = ("--docs", str(docs), "--db", str(db))
    big_document(docs)
    assert cli(tmp_path, "reindex", *places).returncode == 0
    path = index_path(db)
    version = only_version(path)
    before = {f.name: f.read_bytes() for f in version.iterdir()}
    assert sum(len(b) for b in before.values()) > 2 * FILE_LIMIT
    (docs / "zebra.txt").write_text("The zebra herd crossed the Limpopo river in March.\n", encoding="utf-8")

    full = subprocess.run([sys.executable, "-m", "bot", "reindex", *places], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=120, preexec_fn=_small_disk)
    assert "1 added" in full.stdout, full.stdout + full.stderr
    assert "warning: The index could not be saved (File too large)" in full.stdout, full.stdout
    assert "could not save the index" in full.stderr and "Traceback" not in full.stderr, full.stderr
    assert sorted(p.name for p in db.parent.iterdir() if "index" in p.name) == [
        path.name, path.name + ".lock", path.name + ".versions"]
    assert only_version(path) == version  # the half-written version removed, the one in force as it was
    assert {f.name: f.read_bytes() for f in version.iterdir()} == before

    answer = quoted(cli(tmp_path, "ask", "--json", *places, "Which river did the zebra herd cross?"))
    assert "Limpopo" in answer  # the store has it: the next start built the index from it
    assert only_version(path) != version


# --- 9. the database deleted under a running bot --------------------------------------------------------------


async def test_a_database_deleted_under_the_running_bot_is_logged_and_shown_in_stats(
    fake: FakeDiscord, tmp_path: Path, docs: Path
) -> None:
    db = tmp_path / "qa.sqlite3"
    env = env_for(fake, tmp_path, "fake-token", QA_DOCS=str(docs), QA_ADMIN_IDS=str(ALICE.id),
                  QA_COOLDOWN_SECONDS="0", QA_LOG_LEVEL="WARNING")
    async with running_bot(env, tmp_path, "run", fake=fake) as bot:
        assert "Witkoff" in await ask(fake)
        for name in (db.name, db.name + "-wal", db.name + "-shm"):
            (tmp_path / name).unlink(missing_ok=True)
        stats = await fake.wait_for_reply(await fake.send_interaction("stats", user=ALICE), final, timeout=15)
        assert "The database file was deleted or replaced while the bot runs" in stats.text, stats.text
        assert str(tmp_path) not in stats.text
        assert "Witkoff" in await ask(fake)  # still answering
        assert await bot.stop() == 0, bot.err[-2000:]
    log = bot.err
    assert log.count(f"ERROR retrieval.collection: the database {db} was deleted while in use") == 1, log[-2000:]


def test_a_large_array_is_verified_in_chunks_and_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(persist, "_CHUNK", 4096)
    monkeypatch.setattr(persist, "_MAP_FROM", 10_000)
    arrays = {"big": np.arange(50_001, dtype=np.int64), "small": np.arange(7, dtype=np.int16)}
    path = tmp_path / "x"
    persist.write_arrays(path, arrays)
    manifest = json.loads((path / "index.json").read_text())
    assert len(manifest["arrays"]["big"]["crc32"]) == -(-50_001 * 8 // 4096)  # every byte in one chunk
    read = persist.read(path)
    assert isinstance(read["big"], np.memmap) and not read["big"].flags.writeable
    assert not isinstance(read["small"], np.memmap)
    assert read["big"].tolist() == arrays["big"].tolist() and read["small"].tolist() == arrays["small"].tolist()
    file, start, _dtype = array_at(path, "big")
    flip_bit(file, start + 4096 * 37 + 5)  # inside one chunk of many
    with pytest.raises(IndexDamagedError, match="big does not match its checksum"):
        persist.read(path)
    flip_bit(file, start + 4096 * 37 + 5)
    os.truncate(file, start + 4096)  # a mapping past the end would be read: refused before any is
    with pytest.raises(IndexDamagedError, match="damaged"):
        persist.read(path)
