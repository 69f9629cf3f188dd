"""Upgrades keep data (issue 13): a database written by the release at commit fcff6cf (documents, passages,
question log, feedback, a slash-command hash in `meta`) opens with this release, every row kept; opening
again changes nothing; a database from a newer release is refused with a clear error and left unchanged.

The fixture tests/fixtures/qa-fcff6cf.sql was written by that release's own code (how: the docstring of
tests/fixtures/make_fcff6cf_db.py), as SQL so that it reads in a review."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.question_log import LOG_VERSION
from bot.service import QAService
from retrieval.errors import StoreError
from retrieval.store import SCHEMA_VERSION
from tests.support.storage import open_storage

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "qa-fcff6cf.sql"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
OLD_TABLES = ("documents", "passages", "digests", "skipped", "meta", "questions", "feedback")
COMMANDS = ("commands:1234:global", "0f" * 32)


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    """The database the fcff6cf release wrote, as a file."""
    path = tmp_path / "qa.sqlite3"
    with sqlite3.connect(path) as con:
        con.executescript(FIXTURE.read_text(encoding="utf-8"))
    con.close()
    return path


def tables(path: Path, names: tuple[str, ...] = OLD_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the named tables, in a fixed order."""
    with sqlite3.connect(path) as con:
        found = {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in names}
    con.close()
    return found


def dump(path: Path) -> list[str]:
    """The whole database as SQL: what it holds and its schema."""
    with sqlite3.connect(path) as con:
        lines = list(con.iterdump())
    con.close()
    return lines


async def test_a_database_from_fcff6cf_keeps_every_row(old_db: Path) -> None:
    before = tables(old_db)
    assert len(before["passages"]) > 10 and len(before["questions"]) == 3 and len(before["feedback"]) == 2
    assert COMMANDS in before["meta"]

    store, questions = await open_storage(old_db)
    try:
        assert await questions.command_hash(COMMANDS[0]) == COMMANDS[1]  # moved to the log's own table
        assert await store.get_meta(COMMANDS[0]) is None
        assert len(await store.passages()) == len(before["passages"])
        stats = await questions.stats()
        assert (stats.questions, stats.answered, stats.thumbs_up, stats.thumbs_down) == (3, 1, 1, 1)
        assert await questions.record_feedback(3, "333", 1)  # an old question takes new votes
        new = await questions.log_question("New?", False, None, "terminal")
    finally:
        await questions.close()
        await store.close()

    after = tables(old_db)
    assert after["meta"] == [r for r in before["meta"] if r != COMMANDS]
    for table in ("documents", "passages", "digests", "skipped"):
        assert after[table] == before[table], table
    # Every question kept as it was, with the server it was asked in (a column of version 3) unknown.
    assert [row[:-1] for row in after["questions"][:3]] == before["questions"] and new > 3
    assert {row[-1] for row in after["questions"][:3]} == {None}
    assert set(before["feedback"]) < set(after["feedback"])
    assert tables(old_db, ("question_log_meta",))["question_log_meta"] == sorted(
        [COMMANDS, ("version", str(LOG_VERSION))], key=repr)


async def test_reopening_an_upgraded_database_changes_nothing(old_db: Path) -> None:
    dumps = []
    for _ in range(2):
        store, questions = await open_storage(old_db)
        await questions.close()
        await store.close()
        dumps.append([s for s in dump(old_db) if "sqlite_sequence" not in s])
    # Each open reserves a block of question ids (the AUTOINCREMENT counter moves); nothing else changes.
    assert dumps[0] == dumps[1]


async def test_the_service_serves_an_old_database_without_reading_the_folder_again(old_db: Path,
                                                                                   tmp_path: Path) -> None:
    empty = tmp_path / "no-documents"
    empty.mkdir()  # were the folder read, the index would be refused as empty: the store must be enough
    service = await QAService.open(old_db, empty)
    try:
        asked = await service.ask("Who is Steve Witkoff?")
        assert asked.answer.answered and "Witkoff" in asked.answer.quotes[0].text
        assert (await service.stats()).questions == 4
    finally:
        await service.close()


@pytest.mark.parametrize("part", ["store", "question log"])
async def test_a_database_from_a_newer_release_is_refused_and_left_unchanged(old_db: Path, part: str) -> None:
    store, questions = await open_storage(old_db)  # upgraded first: the newer release started from this one
    await questions.close()
    await store.close()
    with sqlite3.connect(old_db) as con:
        if part == "store":
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
        else:
            con.execute("UPDATE question_log_meta SET value = ? WHERE key = 'version'", (str(LOG_VERSION + 1),))
    con.close()
    before = dump(old_db)

    with pytest.raises(StoreError) as caught:
        await open_storage(old_db)

    message = str(caught.value)
    assert f"was written by a newer release of qa-bot ({part}" in message and "upgrade qa-bot" in message
    assert str(old_db) in message and "\n" not in message
    assert dump(old_db) == before


async def test_a_new_database_gets_the_current_versions(tmp_path: Path) -> None:
    store, questions = await open_storage(tmp_path / "qa.sqlite3")
    await questions.close()
    await store.close()
    found = tables(tmp_path / "qa.sqlite3", ("meta", "question_log_meta"))
    assert ("schema_version", str(SCHEMA_VERSION)) in found["meta"]
    assert found["question_log_meta"] == [("version", str(LOG_VERSION))]
