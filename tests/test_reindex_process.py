"""A large collection's reindex in a process of its own (QA_REINDEX_PROCESS): the build happens there, the
progress messages come through, a failure or a cancellation leaves the old index serving, and the new
index is served once it is done."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.service import QAService
from retrieval import collection as collection_module
from retrieval import reindex_process
from retrieval.errors import DocumentsError

QUESTION = "When is Netanyahu invited to the White House?"
GONE = "000_fe643504d8637f7e.txt"  # the document that says it
ZEBRA = "The zebra herd crossed the Limpopo river in March.\n"


@pytest.fixture
async def service(tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[QAService]:
    """A service whose collections count as large: every reindex runs in a child process."""
    monkeypatch.setattr(reindex_process, "MIN_PASSAGES", 0)
    svc = await QAService.open(tmp_path / "qa.sqlite3", docs, reindex_process=True)
    yield svc
    await svc.close()


def _no_build_here(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the index was built in the serving process")


async def test_the_build_happens_in_another_process_and_its_index_is_served(
    service: QAService, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collection_module, "build", _no_build_here)  # only this process's build
    (docs / GONE).unlink()
    (docs / "zebra.txt").write_text(ZEBRA, encoding="utf-8")
    messages: list[str] = []
    report = await service.reindex(messages.append)
    assert report.removed == (GONE,) and report.added == ("zebra.txt",) and not report.changed
    assert messages[0].startswith("Reading ") and any(m.startswith("Indexing 1 ") for m in messages), messages
    assert "Limpopo" in (await service.ask("Which river did the zebra herd cross?")).answer.quotes[0].text
    assert all(q.source != GONE for q in (await service.ask(QUESTION)).answer.quotes)
    assert GONE not in [s.id for s in service.sources()]
    assert (await service.reindex()).modified is False  # the store and the saved index agree with the folder


async def test_a_failed_reindex_leaves_the_old_index_serving(service: QAService, docs: Path) -> None:
    before = service.index
    shutil.rmtree(docs)
    docs.mkdir()
    with pytest.raises(DocumentsError, match="no usable documents"):  # the child's error, as it raised it
        await service.reindex()
    assert service.index is before
    assert (await service.ask(QUESTION)).answer.quotes[0].source == GONE


async def test_a_cancelled_reindex_kills_its_process_and_keeps_the_old_index(
    service: QAService, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[asyncio.subprocess.Process] = []
    spawn = asyncio.create_subprocess_exec

    async def recorded(*args: object, **kwargs: object) -> asyncio.subprocess.Process:
        child = await spawn(*args, **kwargs)  # type: ignore[arg-type]
        started.append(child)
        return child

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recorded)
    before = service.index
    (docs / GONE).unlink()
    reading = asyncio.Event()
    task = asyncio.create_task(service.reindex(lambda m: reading.set()))
    await asyncio.wait_for(reading.wait(), 120)  # the child is at work
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert started and started[0].returncode is not None  # killed and waited for
    assert service.index is before and not service.reindexing
    # Whatever the child had committed is served at the next look, as another process's reindex would be.
    await service.refresh()
    report = await service.reindex()
    assert GONE in report.removed or GONE not in [s.id for s in service.sources()]
    assert GONE not in [s.id for s in service.sources()]
