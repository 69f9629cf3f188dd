"""The folder watcher: files added, edited or removed in a running service's folders are answered from
without a command; QA_WATCH=0 turns it off."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.service import QAService
from retrieval.errors import ConfigError
from tests.support.corpus import OBSERVATORY, default_collection

GUILD = 4242
TELESCOPE = "Who built the observatory telescope?"
DEFAULT_TEXT = OBSERVATORY
EDITED_TEXT = "The observatory telescope was built in 1902 by the engineer Ilse Brandt.\n"
FERRY = "How often does the harbour ferry leave?"
BAKERY = "When does the bakery open?"
TIMEOUT = 60.0  # generous: the machine may be busy; the loop ends as soon as the change is seen


@pytest.fixture
def default_docs(tmp_path: Path) -> Path:
    market = "The Saturday market sells cheese, honey and baskets in the square.\n"
    return default_collection(tmp_path / "default", **{"market.txt": market})


@pytest.fixture
async def watched(default_docs: Path, tmp_path: Path) -> AsyncIterator[QAService]:
    service = await QAService.open(tmp_path / "data" / "qa.sqlite3", default_docs, watch=True, watch_quiet=0.2)
    yield service
    await service.close()


async def answered(service: QAService, question: str, guild: int | None = None) -> str:
    """The first quoted text, or "" when nothing answers."""
    answer = (await service.ask(question, guild=guild)).answer
    return answer.quotes[0].text if answer.answered and answer.quotes else ""


async def until(check: Callable[[], asyncio.Future[bool] | object], change: Callable[[], None]) -> None:
    """Make `change`, then wait until `check()` holds; the change is made again every few seconds, since the
    watcher may not have been watching yet the first time (nothing tells when it starts)."""
    loop = asyncio.get_running_loop()
    deadline = last = loop.time()
    deadline += TIMEOUT
    change()
    while loop.time() < deadline:
        result = check()
        if await result if asyncio.iscoroutine(result) else result:
            return
        if loop.time() - last > 3.0:
            change()
            last = loop.time()
        await asyncio.sleep(0.1)
    raise AssertionError("the change was not picked up within the timeout")


async def test_an_edited_file_is_answered_from_its_new_text(
    watched: QAService, default_docs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.collection")
    assert "Carvalho" in await answered(watched, TELESCOPE)

    async def new_text() -> bool:
        return "Ilse Brandt" in await answered(watched, TELESCOPE)

    await until(new_text, lambda: (default_docs / "observatory.txt").write_text(EDITED_TEXT))
    assert any(r.getMessage().startswith("watch: the default collection: 0 added, 1 changed")
               for r in caplog.records)
    # Removed: no longer quoted; the others stay.
    await until(lambda: "harbour.md" not in {s.id for s in watched.sources()},
                lambda: (default_docs / "harbour.md").unlink(missing_ok=True))
    assert "Ilse Brandt" in await answered(watched, TELESCOPE)


async def test_a_servers_folder_is_watched_too(watched: QAService) -> None:
    await watched.add_documents(GUILD, [("harbour.md", b"# Harbour\n\nThe harbour ferry leaves every hour.\n"),
                                        ("market.txt", b"The market sells cheese and honey.\n")])
    folder = watched.collections.folder(GUILD)

    async def bakery_known() -> bool:
        return "six" in await answered(watched, BAKERY, GUILD)

    await until(bakery_known, lambda: (folder / "bakery.txt").write_text(
        "The bakery opens at six in the morning and sells rye bread until noon.\n"))
    assert await answered(watched, BAKERY) == ""  # the default collection has no bakery


async def test_no_watcher_when_qa_watch_is_0(default_docs: Path, tmp_path: Path) -> None:
    env = {"QA_DOCS": str(default_docs), "QA_DB": str(tmp_path / "qa.sqlite3"), "QA_WATCH": "0"}
    settings = load_settings(env, env_file=None)
    assert not settings.watch and load_settings({}, env_file=None).watch
    service = await QAService.from_settings(settings)
    try:
        assert not service.watching
    finally:
        await service.close()
    service = await QAService.from_settings(load_settings({**env, "QA_WATCH": "1"}, env_file=None))
    try:
        assert service.watching
    finally:
        await service.close()


@pytest.mark.parametrize(("env", "error"), [
    ({"QA_WATCH": "maybe"}, "QA_WATCH must be 1"),
    ({"QA_MEMORY_MB": "0"}, "QA_MEMORY_MB must be at least 1"),
    ({"QA_MEMORY_MB": "lots"}, "QA_MEMORY_MB must be a number"),
])
def test_bad_collection_settings_are_refused(env: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load_settings(env, env_file=None)


def test_servers_collections_live_under_the_data_directory() -> None:
    assert load_settings({"QA_DB": "/srv/qa/db.sqlite3"}, env_file=None).data_dir == Path("/srv/qa")
    settings = load_settings({"QA_DB": "/srv/qa/db.sqlite3", "QA_DATA": "/var/lib/qa", "QA_MEMORY_MB": "256"},
                             env_file=None)
    assert settings.data_dir == Path("/var/lib/qa") and settings.memory_mb == 256
