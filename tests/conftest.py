"""Fixtures most test modules share: a writable copy of the seeds, a service over it, the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.service import QAService
from tests.support.corpus import copy_seeds
from tests.support.fake_discord import FakeDiscord, point_discord_py_at


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A writable copy of the seeds."""
    return copy_seeds(tmp_path / "docs")


@pytest.fixture
async def service(docs: Path, tmp_path: Path) -> AsyncIterator[QAService]:
    """A real service over a real SQLite file, opened on `docs`."""
    svc = await QAService.open(tmp_path / "qa.sqlite3", docs)
    yield svc
    await svc.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord on 127.0.0.1, with discord.py pointed at it."""
    async with FakeDiscord() as server:
        with point_discord_py_at(server):
            yield server
