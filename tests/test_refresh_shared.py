"""The look for a newer index before each answer is shared by the requests that arrive while one runs
(under 50 users it cost each of them a database query and a stat of every file of the index), and still
sees every change made before a request arrived."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import service as service_module
from bot.service import QAService
from tests.support.services import two_services

GONE = "000_fe643504d8637f7e.txt"


@pytest.fixture
async def two(tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[QAService, ...]]:
    """Two services on one database and folder, as two processes would be; no timer."""
    monkeypatch.setattr(service_module, "WATCH_SECONDS", 3600.0)
    async with two_services(tmp_path / "qa.sqlite3", docs) as services:
        yield services


async def test_requests_arriving_during_a_look_share_the_next_one_which_sees_what_changed_before_them(
    two: tuple[QAService, QAService], docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serving, other = two
    collection = serving.default
    real = collection.store.generation
    gate = asyncio.Event()
    looks: list[int] = []

    async def generation() -> int:
        seen = await real()  # what the store holds when the look starts…
        looks.append(seen)
        if len(looks) == 1:
            await gate.wait()  # …and the first look is slow to finish
        return seen

    monkeypatch.setattr(collection.store, "generation", generation)
    first = asyncio.create_task(collection.refresh())
    while not looks:
        await asyncio.sleep(0.01)
    (docs / GONE).unlink()
    await other.reindex()  # another process's reindex, committed while the first look runs
    later = [asyncio.create_task(collection.refresh()) for _ in range(20)]
    await asyncio.sleep(0.05)
    assert len(looks) == 1  # the twenty wait for the look after the one running
    gate.set()
    await asyncio.gather(first, *later)
    assert looks[1] > looks[0]  # the shared look saw the commit
    # One query for the first look, one for the shared one, two more as it switched (under the lock, and
    # reading the store's index): not one per request.
    assert len(looks) == 4, looks
    assert GONE not in collection.index.documents


async def test_a_look_that_fails_fails_for_each_request_sharing_it_and_the_next_one_looks_again(
    service: QAService, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = service.default
    real = collection.store.generation
    calls = 0

    async def broken() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise service_module.QuestionError("database gone")  # any QAError: `refreshed` logs it

    monkeypatch.setattr(collection.store, "generation", broken)
    results = await asyncio.gather(*(collection.refresh() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, service_module.QuestionError) for r in results) and calls == 2
    monkeypatch.setattr(collection.store, "generation", real)
    await collection.refresh()  # nothing stuck: a later request looks afresh
    assert (await service.ask("When is Netanyahu invited to the White House?")).answer.answered
