"""Servers' own collections through QAService: each server answers from its own documents, a server
without its own (and a DM) from the default ones, and adding or removing documents touches one server only."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.service import QAService
from bot.uploads import MAX_UPLOAD_BYTES, safe_name
from retrieval import documents
from retrieval.errors import BusyError, NoCollectionError, QAError, UnknownDocumentError
from retrieval.model import Document
from tests.support.corpus import OBSERVATORY, default_collection

ONE, TWO, THREE = 111, 222, 333
LIGHTHOUSE = "How many steps does the lighthouse have?"
LIGHTHOUSE_MD = b"# The lighthouse\n\nThe lighthouse is kept by Marguerite Olsen, who climbs its 212 steps daily.\n"
BAKERY = "When does the bakery open?"
BAKERY_TXT = b"The bakery opens at six in the morning and sells rye bread until noon.\n"
ORCHARD = "What grows in the orchard?"
ORCHARD_RST = b"The orchard\n===========\n\nThe orchard grows quinces and medlars along the south wall.\n"
DEFAULT_TEXT = OBSERVATORY
TELESCOPE = "Who built the observatory telescope?"


@pytest.fixture
def default_docs(tmp_path: Path) -> Path:
    return default_collection(tmp_path / "default")


@pytest.fixture
async def service(default_docs: Path, tmp_path: Path) -> AsyncIterator[QAService]:
    svc = await QAService.open(tmp_path / "data" / "qa.sqlite3", default_docs)
    yield svc
    await svc.close()


async def top(service: QAService, question: str, guild: int | None = None) -> str | None:
    """The document the answer quotes first, or None when nothing answers."""
    answer = (await service.ask(question, guild=guild)).answer
    return answer.quotes[0].source if answer.answered and answer.quotes else None


async def test_two_servers_answer_from_their_own_documents(service: QAService) -> None:
    added = await service.add_documents(ONE, [("lighthouse.md", LIGHTHOUSE_MD)])
    assert added.added == ("lighthouse.md",) and not added.skipped
    await service.add_documents(TWO, [("bakery.txt", BAKERY_TXT)])
    assert await top(service, LIGHTHOUSE, ONE) == "lighthouse.md"
    assert await top(service, LIGHTHOUSE, TWO) is None
    assert await top(service, BAKERY, TWO) == "bakery.txt"
    assert await top(service, BAKERY, ONE) is None
    # A server without its own and a DM use the default documents, which know neither.
    for guild in (THREE, None):
        assert await top(service, TELESCOPE, guild) == "observatory.txt"
        assert await top(service, LIGHTHOUSE, guild) is None
    assert await top(service, TELESCOPE, ONE) is None
    assert [s.id for s in service.sources(ONE)] == ["lighthouse.md"]
    assert [s.id for s in service.sources(THREE)] == ["harbour.md", "observatory.txt"]
    assert [s.id for s in service.document_choices("bak", guild=TWO)] == ["bakery.txt"]
    assert service.document_choices("bak", guild=ONE) == []
    assert service.has_collection(ONE) and service.has_collection(TWO) and not service.has_collection(THREE)


async def test_adding_and_removing_touch_one_server_only(service: QAService, default_docs: Path) -> None:
    await service.add_documents(ONE, [("lighthouse.md", LIGHTHOUSE_MD), ("bakery.txt", BAKERY_TXT)])
    await service.add_documents(TWO, [("bakery.txt", BAKERY_TXT)])
    report = await service.remove_document(ONE, "bakery.txt")
    assert report.removed == ("bakery.txt",) and report.unchanged == ("lighthouse.md",)
    assert await top(service, BAKERY, ONE) is None
    assert await top(service, BAKERY, TWO) == "bakery.txt"  # the other server keeps its copy
    assert sorted(p.name for p in default_docs.iterdir()) == ["harbour.md", "observatory.txt"]
    with pytest.raises(UnknownDocumentError, match="Did you mean"):
        await service.remove_document(ONE, "lighthouse.mdx")
    with pytest.raises(NoCollectionError):
        await service.remove_document(THREE, "observatory.txt")  # the default's files are not a server's
    assert (default_docs / "observatory.txt").exists()
    # Its last document removed, a server's collection is empty, not refused.
    emptied = await service.remove_document(ONE, "lighthouse.md")
    assert emptied.removed == ("lighthouse.md",) and service.sources(ONE) == []
    assert await top(service, LIGHTHOUSE, ONE) is None


async def test_adding_again_parses_only_what_changed(service: QAService, monkeypatch: pytest.MonkeyPatch) -> None:
    await service.add_documents(ONE, [("lighthouse.md", LIGHTHOUSE_MD), ("bakery.txt", BAKERY_TXT)])
    parsed: list[str] = []
    real = documents.parse_document

    def counted(name: str, raw: bytes) -> Document:
        parsed.append(name)
        return real(name, raw)

    monkeypatch.setattr(documents, "parse_document", counted)
    report = await service.add_documents(ONE, [("bakery.txt", BAKERY_TXT.replace(b"six", b"seven")),
                                               ("orchard.rst", ORCHARD_RST)])
    assert report.added == ("orchard.rst",) and report.changed == ("bakery.txt",)
    assert report.unchanged == ("lighthouse.md",)
    assert sorted(parsed) == ["bakery.txt", "orchard.rst"]
    assert "seven" in (await service.ask(BAKERY, guild=ONE)).answer.quotes[0].text
    assert await top(service, ORCHARD, ONE) == "orchard.rst"


async def test_uploads_are_checked_and_their_names_made_safe(service: QAService, tmp_path: Path) -> None:
    report = await service.add_documents(ONE, [
        ("../../evil.md", LIGHTHOUSE_MD),
        ("notes.exe", b"MZ"),
        ("big.txt", b"a" * (MAX_UPLOAD_BYTES + 1)),
        ("...", b"dots"),
        ("empty.txt", b""),
    ])
    assert report.added == ("evil.md",)
    reasons = {s.name: s.reason for s in report.skipped}
    assert set(reasons) == {"notes.exe", "big.txt", "...", "empty.txt"}
    assert "only .md" in reasons["notes.exe"] and "larger than the limit" in reasons["big.txt"]
    folder = service.collections.folder(ONE)
    assert sorted(p.name for p in folder.iterdir()) == ["evil.md"]
    assert not (tmp_path / "evil.md").exists() and not (tmp_path / "data" / "evil.md").exists()


@pytest.mark.parametrize(("given", "saved"), [
    ("../../etc/passwd.md", "passwd.md"),
    ("C:\\Users\\x\\notes.txt", "notes.txt"),
    (".hidden.md", "hidden.md"),
    ("rapport d'été.pdf", "rapport_d__t_.pdf"),
    ("x" * 300 + ".md", "x" * 97 + ".md"),
    ("..", ""),
    ("/", ""),
])
def test_safe_name(given: str, saved: str) -> None:
    assert safe_name(given) == saved


async def test_a_server_starts_from_a_copy_of_the_default_documents(service: QAService, default_docs: Path) -> None:
    report = await service.add_documents(ONE, [("bakery.txt", BAKERY_TXT)], copy_default=True)
    assert sorted(report.added) == ["bakery.txt", "harbour.md", "observatory.txt"]
    assert await top(service, TELESCOPE, ONE) == "observatory.txt"
    await service.remove_document(ONE, "observatory.txt")
    assert await top(service, TELESCOPE, ONE) is None
    assert await top(service, TELESCOPE) == "observatory.txt"  # the default keeps its own
    # copy_default on a server that has its own already copies nothing.
    again = await service.add_documents(ONE, [("orchard.rst", ORCHARD_RST)], copy_default=True)
    assert again.added == ("orchard.rst",) and "observatory.txt" not in again.unchanged


async def test_reindex_acts_on_the_servers_own_collection(service: QAService) -> None:
    with pytest.raises(NoCollectionError) as refused:
        await service.reindex(guild=ONE)
    assert isinstance(refused.value, QAError) and "default" in str(refused.value)
    await service.add_documents(ONE, [("bakery.txt", BAKERY_TXT)])
    (service.collections.folder(ONE) / "orchard.rst").write_bytes(ORCHARD_RST)
    report = await service.reindex(guild=ONE)
    assert report.added == ("orchard.rst",) and report.unchanged == ("bakery.txt",)
    assert (await service.reindex()).unchanged == ("harbour.md", "observatory.txt")  # the default: untouched


async def test_a_servers_collection_is_found_again_after_a_restart(default_docs: Path, tmp_path: Path) -> None:
    db = tmp_path / "data" / "qa.sqlite3"
    first = await QAService.open(db, default_docs)
    await first.add_documents(ONE, [("lighthouse.md", LIGHTHOUSE_MD)])
    await first.close()
    second = await QAService.open(db, default_docs)
    try:
        assert second.has_collection(ONE)
        assert [s.id for s in second.sources(ONE)] == ["lighthouse.md"]  # listed before it is loaded
        assert await top(second, LIGHTHOUSE, ONE) == "lighthouse.md"
        assert second.collections.loads == 1
    finally:
        await second.close()


async def test_the_memory_budget_unloads_idle_servers_never_the_default(default_docs: Path, tmp_path: Path) -> None:
    service = await QAService.open(tmp_path / "data" / "qa.sqlite3", default_docs, memory_mb=0.001)
    try:
        collections = service.collections
        await service.add_documents(ONE, [("lighthouse.md", LIGHTHOUSE_MD)])
        await service.add_documents(TWO, [("bakery.txt", BAKERY_TXT)])
        assert [c.name for c in collections.loaded] == ["the default collection", f"server {TWO}"]
        assert collections.unloads == 1
        # Listed while unloaded, from its database; answered after loading it again.
        assert [s.id for s in service.sources(ONE)] == ["lighthouse.md"]
        assert await top(service, LIGHTHOUSE, ONE) == "lighthouse.md"
        assert [c.name for c in collections.loaded] == ["the default collection", f"server {ONE}"]
        # A collection in use (mid-answer) is not unloaded to make room for another.
        async with collections.using(ONE) as held:
            assert await top(service, BAKERY, TWO) == "bakery.txt"
            assert not held.closed and {c.name for c in collections.loaded} >= {f"server {ONE}", f"server {TWO}"}
        assert await top(service, TELESCOPE) == "observatory.txt"
    finally:
        await service.close()


async def test_a_server_reindex_running_refuses_another_but_not_the_default(service: QAService) -> None:
    await service.add_documents(ONE, [("bakery.txt", BAKERY_TXT)])
    collection = await service.collections.own(ONE)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()

    running = asyncio.create_task(collection.reindex(prepare=slow))
    await started.wait()
    assert service.is_reindexing(ONE) and not service.is_reindexing(None)
    with pytest.raises(BusyError):
        await service.reindex(guild=ONE)
    assert (await service.reindex()).unchanged  # the default one is free
    release.set()
    await running


async def test_questions_of_every_server_are_logged_in_the_default_database(service: QAService, tmp_path: Path) -> None:
    await service.add_documents(ONE, [("bakery.txt", BAKERY_TXT)])
    asked = await service.ask(BAKERY, via="slash", user_id="42", guild=ONE)
    assert await service.feedback(asked.question_id, "42", 1)
    stats = await service.stats(guild=ONE)
    assert stats.questions == 1 and stats.thumbs_up == 1
    with sqlite3.connect(service.collections.database(ONE)) as own:
        # A server's own database holds its documents only: the question log is the bot's, in the default's.
        tables = {name for (name,) in own.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "documents" in tables and "questions" not in tables


async def test_a_servers_collection_unused_for_long_is_unloaded(service: QAService) -> None:
    await service.add_documents(ONE, [("bakery.txt", BAKERY_TXT)])
    await service.add_documents(TWO, [("lighthouse.md", LIGHTHOUSE_MD)])
    collections = service.collections
    one = await collections.own(ONE)
    one.last_used -= 3600  # as if last used an hour ago
    assert await collections.unload_idle(1800) == 1
    assert one.closed and [c.name for c in collections.loaded] == ["the default collection", f"server {TWO}"]
    assert await top(service, BAKERY, ONE) == "bakery.txt"  # loaded again at its next use


async def test_a_collection_unloaded_while_the_service_looks_for_newer_indexes_is_skipped(
    service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    await service.add_documents(ONE, [("bakery.txt", BAKERY_TXT)])
    one = await service.collections.own(ONE)
    looking = asyncio.create_task(service.refresh())
    await asyncio.sleep(0)  # the look is now waiting on the default collection's database
    assert await service.collections.unload_idle(-1) == 1 and one.closed
    await looking
    # Looking at the unloaded one too failed on its closed database.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert await top(service, BAKERY, ONE) == "bakery.txt"


async def test_close_closes_the_stores_even_when_a_background_task_had_died(
    default_docs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    svc = await QAService.open(tmp_path / "data" / "qa.sqlite3", default_docs)

    async def dies() -> None:
        raise ImportError("watchfiles is not installed")

    died = asyncio.ensure_future(dies())
    await asyncio.wait([died])
    svc._tasks.append(died)
    await svc.close()  # before: the task's error escaped here and the stores stayed open
    assert svc.default.closed
    assert "a background task had failed" in caplog.text


async def test_a_servers_stats_count_its_own_questions_only(service: QAService) -> None:
    await service.add_documents(ONE, [("bakery.txt", BAKERY_TXT)])
    one = await service.ask(BAKERY, via="slash", user_id="1", guild=ONE)
    await service.ask("What colour is the moon's hat?", via="slash", user_id="2", guild=TWO)
    await service.ask(TELESCOPE, via="dm", user_id="3")
    assert await service.feedback(one.question_id, "1", 1)
    mine = await service.stats(guild=ONE)
    theirs = await service.stats(guild=TWO)
    everything = await service.stats()
    assert (mine.questions, mine.thumbs_up, mine.top_unanswered) == (1, 1, ())  # before: 3, and TWO's shown
    assert theirs.questions == 1 and theirs.thumbs_up == 0
    assert [q for q, _n in theirs.top_unanswered] == ["what colour is the moon's hat?"]
    assert everything.questions == 3 and everything.thumbs_up == 1
