"""The index the service serves: the saved file, mapped, after every build; no garbage collection
pass during a reindex; the collector on again afterwards, whatever happened."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from bot.service import QAService, index_path
from retrieval.errors import DocumentsError
from retrieval.passages import PassageTable

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


async def test_the_index_in_force_is_the_saved_file_and_text_lives_in_its_passages(tmp_path: Path,
                                                                                  docs: Path) -> None:
    service = await QAService.open(tmp_path / "qa.sqlite3", docs)
    try:
        assert (index_path(service.store.path) / "index.json").is_file()
        assert isinstance(service.index.passages, PassageTable)  # served from the file, not built objects
        assert all(d.paragraphs == () for d in service.index.documents.values())
        (docs / "zebra.txt").write_text("The zebra herd crossed the Limpopo river in March.\n")
        await service.reindex()
        assert isinstance(service.index.passages, PassageTable)
        asked = await service.ask("Which river did the zebra herd cross?")
        assert asked.answer.answered and "Limpopo" in asked.answer.quotes[0].text
    finally:
        await service.close()


async def test_no_collection_during_a_reindex_and_the_collector_back_on_after(tmp_path: Path, docs: Path) -> None:
    service = await QAService.open(tmp_path / "qa.sqlite3", docs)
    seen: list[bool] = []
    try:
        assert gc.isenabled()
        (docs / "zebra.txt").write_text("The zebra herd crossed the Limpopo river in March.\n")
        await service.reindex(lambda _message: seen.append(gc.isenabled()))
        assert seen and not any(seen)
        assert gc.isenabled()
        shutil.rmtree(docs)
        docs.mkdir()
        with pytest.raises(DocumentsError):
            await service.reindex()
        assert gc.isenabled()  # a failed reindex turns the collector back on too
    finally:
        await service.close()
