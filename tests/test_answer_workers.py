"""Answering in worker processes (QA_ANSWER_PROCESSES): the same answers as the service's own threads,
conversations kept, the index swapped by a reindex followed, and a worker that dies costs no answer."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.service import QAService
from retrieval import answer as engine
from retrieval import calibration, lexicon, quote_ranker
from retrieval.errors import ConfigError, QuestionError
from retrieval.index import Index
from tests.support.corpus import indexed

QUESTION = "When is Netanyahu invited to the White House?"
GONE = "000_fe643504d8637f7e.txt"  # the document that says it
QUESTIONS = (QUESTION, "Who was in the White House?", "and then?", "Which ships did the Houthis attack?",
             "What did the court decide?")


@pytest.fixture
async def pair(tmp_path: Path, docs: Path) -> AsyncIterator[tuple[QAService, QAService]]:
    """The same documents served twice: by one worker process (every index counts as large), and by threads."""
    workers = await QAService.open(tmp_path / "w" / "qa.sqlite3", docs, answer_processes=1, answer_min_passages=0)
    threads = await QAService.open(tmp_path / "t" / "qa.sqlite3", docs)
    try:
        assert await workers.workers.started() == 1
        yield workers, threads
    finally:
        await threads.close()
        await workers.close()


async def test_a_worker_answers_as_the_threads_do_follow_ups_included(pair: tuple[QAService, QAService]) -> None:
    workers, threads = pair
    for question in QUESTIONS:
        a = await workers.ask(question, conversation="c:1")
        b = await threads.ask(question, conversation="c:1")
        assert a.answer == b.answer, question
    assert workers.workers.answered == len(QUESTIONS)  # every one of them came from the worker
    assert threads.workers.answered == 0
    with pytest.raises(QuestionError):  # the engine's errors reach the caller as they are
        await workers.ask("   ")


async def test_a_worker_follows_the_index_a_reindex_swaps_in(pair: tuple[QAService, QAService], docs: Path) -> None:
    workers, _ = pair
    assert (await workers.ask(QUESTION)).answer.quotes[0].source == GONE
    (docs / GONE).unlink()
    (docs / "zebra.txt").write_text("The zebra herd crossed the Limpopo river in March.\n", encoding="utf-8")
    await workers.reindex()
    answered = workers.workers.answered
    assert all(q.source != GONE for q in (await workers.ask(QUESTION)).answer.quotes)
    assert "Limpopo" in (await workers.ask("Which river did the zebra herd cross?")).answer.quotes[0].text
    assert workers.workers.answered == answered + 2


async def test_a_worker_killed_costs_no_answer(pair: tuple[QAService, QAService]) -> None:
    workers, threads = pair
    [worker] = workers.workers._workers
    os.kill(worker.process.pid or 0, signal.SIGKILL)
    worker.process.join(30)
    a = await workers.ask(QUESTION)  # answered here, in a thread, while no worker runs
    assert a.answer == (await threads.ask(QUESTION)).answer


def test_answer_processes_setting() -> None:
    assert load_settings({"QA_ANSWER_PROCESSES": "3"}, env_file=None).answer_processes == 3
    assert load_settings({"QA_ANSWER_PROCESSES": "0"}, env_file=None).answer_processes == 0
    cores = os.cpu_count() or 1
    assert load_settings({}, env_file=None).answer_processes == (cores if cores >= 2 else 0)
    with pytest.raises(ConfigError):
        load_settings({"QA_ANSWER_PROCESSES": "many"}, env_file=None)
    assert load_settings({}, env_file=None).reindex_process
    assert not load_settings({"QA_REINDEX_PROCESS": "0"}, env_file=None).reindex_process


async def test_the_workers_start_after_the_first_answer_not_with_the_service(tmp_path: Path, docs: Path) -> None:
    service = await QAService.open(tmp_path / "qa.sqlite3", docs, answer_processes=1, answer_min_passages=0)
    workers = service.workers
    try:
        # Opened: no answering process started, so none competes with the first answer for the cores.
        assert workers._starting is None and not workers._workers
        first = await service.ask(QUESTION)
        assert workers.answered == 0  # the service's thread answered it
        assert workers._starting is not None or workers._workers  # and the workers start after it
        assert await workers.started() == 1
        again = await service.ask(QUESTION)
        assert workers.answered == 1  # the worker answers from now on, the same answer
        assert again.answer == first.answer
    finally:
        await service.close()


async def test_a_worker_reads_the_documents_itself_none_cross_the_pipe(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):  # enough documents that sending them would dwarf any question
        (folder / f"harbour-report-{i:04d}-of-the-northern-lighthouse-keepers.txt").write_text(
            f"Report {i} of the lighthouse keepers.\n\nThe keeper of lighthouse {i} logged {i % 7 + 2} storms "
            f"and {i % 5 + 1} ships in distress during the winter season.\n", encoding="utf-8")
    service = await QAService.open(tmp_path / "qa.sqlite3", folder, answer_processes=1, answer_min_passages=0)
    try:
        assert await service.workers.started() == 1
        asked = await service.ask("How many storms did the keeper of lighthouse 17 log?", conversation="c:1")
        await service.ask("and ships in distress?", conversation="c:1")
        assert service.workers.answered == 2
        assert "lighthouse 17 logged 5 storms" in asked.answer.quotes[0].text
        documents = len(ForkingPickler.dumps(list(service.index.documents.values())))
        assert service.workers.largest_message * 10 < documents  # questions crossed, the documents did not
    finally:
        await service.close()


async def test_a_store_that_moved_on_is_refused_once_and_answered_here(tmp_path: Path, docs: Path) -> None:
    service = await QAService.open(tmp_path / "qa.sqlite3", docs, answer_processes=1, answer_min_passages=0)
    workers = service.workers
    try:
        # Another process's reindex committed new documents; the index in force (and its file) is still the
        # old one: a worker reading the store cannot load that version as it is, so the service answers.
        with closing(sqlite3.connect(service.store.path)) as db:
            db.execute("UPDATE documents SET content_hash = 'changed' WHERE id = ?", (GONE,))
            db.commit()
        assert await workers.started() == 1  # it tried the version in force first, and refused it
        [refused] = workers._refused
        for _ in range(2):  # not asked for again: each question goes straight to the service's thread
            assert (await service.ask(QUESTION)).answer.quotes[0].source == GONE
            assert list(workers._refused) == [refused] and workers.answered == 0
            assert not workers._workers[0].keys and not workers._workers[0].loading
    finally:
        await service.close()


def test_warm_up_makes_what_a_first_answer_would(tmp_path: Path) -> None:
    """A worker warms a version before serving it: the fitted models and word tables are loaded and the index's
    passage flags made, so its first questions wait for none of them; an empty index is left alone."""
    index = indexed(tmp_path, {"harbour.md": "# Harbour\n\nThe harbour ferry leaves every hour for the island.\n"})
    for cached in (calibration.load, quote_ranker.load, lexicon.english_frequency):
        cached.cache_clear()
    assert engine._passage_flags not in index._derived
    engine.warm_up(index)
    assert engine._passage_flags in index._derived
    for cached in (calibration.load, quote_ranker.load, lexicon.english_frequency):
        assert cached.cache_info().currsize == 1, cached
    engine.warm_up(Index.build([], []))  # nothing to ask: no error


async def test_opening_the_service_warms_it_for_the_first_question(tmp_path: Path, docs: Path) -> None:
    """The service answers its first question from its own thread: opening it has loaded the fitted models and the
    word tables and made the default index's passage flags already (off the event loop)."""
    for cached in (calibration.load, quote_ranker.load, lexicon.english_frequency):
        cached.cache_clear()
    service = await QAService.open(tmp_path / "qa.sqlite3", docs)
    try:
        assert engine._passage_flags in service.collections.default.index._derived
        for cached in (calibration.load, quote_ranker.load, lexicon.english_frequency):
            assert cached.cache_info().currsize == 1, cached
    finally:
        await service.close()
