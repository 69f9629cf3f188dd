"""The one transport-neutral service that Discord and the terminal both call."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from retrieval import kernel, persist
from retrieval.answer import AnswerSettings, answer
from retrieval.documents import MAX_BYTES, READER_VERSION, read_folder
from retrieval.errors import BusyError, DocumentsError, IndexFileError, QuestionError, StoreError
from retrieval.index import Index, Weighting
from retrieval.links import with_links
from retrieval.model import Answer, Document, Passage, Summary
from retrieval.persist import fingerprint
from retrieval.reindex import ReindexReport, build, compare, timed_report
from retrieval.store import Stats, Store
from retrieval.summary import check_length, check_topic, summarize_collection, summarize_document, summarize_topic

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One indexed document, as listed by `sources`."""

    id: str
    title: str
    date: str | None
    passages: int


@dataclass(frozen=True, slots=True)
class Asked:
    """An answer and the id under which the question was logged (for feedback)."""

    answer: Answer
    question_id: int


class Conversations:
    """Recent questions per conversation (user and channel), forgotten after `ttl` seconds."""

    def __init__(self, ttl: float, turns: int = 3, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._turns = turns
        self._clock = clock
        self._recent: dict[str, deque[tuple[float, str]]] = {}

    def history(self, key: str) -> list[str]:
        """The conversation's questions still within the time window, oldest first."""
        now = self._clock()
        turns = self._recent.get(key)
        if not turns:
            return []
        while turns and now - turns[0][0] > self.ttl:
            turns.popleft()
        if not turns:
            del self._recent[key]
        return [q for _, q in turns]

    def remember(self, key: str, question: str) -> None:
        """Add a turn to the conversation."""
        self._recent.setdefault(key, deque(maxlen=self._turns)).append((self._clock(), question))
        if len(self._recent) > 10_000:  # bound memory: drop the oldest conversation
            self._recent.pop(next(iter(self._recent)))


def index_path(db: Path) -> Path:
    """Where the index arrays are kept, beside the database."""
    return db.with_name(db.name + ".index.npz")


def _load(path: Path, documents: list[Document], weighting: Weighting) -> Index | None:
    """The saved index when it matches the stored documents, else None."""
    try:
        return persist.load(path, documents, fingerprint(documents), weighting)
    except IndexFileError as exc:
        log.info("building the index from the store: %s", exc)
        return None


def _build(path: Path, documents: list[Document], passages: list[Passage], weighting: Weighting) -> Index:
    """A fresh index over the stored passages, saved for the next start (and served from the file)."""
    return _saved(Index.build(documents, passages, weighting), path, documents)


def _saved(index: Index, path: Path, documents: list[Document]) -> Index:
    """Save the index and serve it mapped from the file: its passages are then a table, not a Python
    object each, which the garbage collector's full passes would otherwise scan (holding the GIL).
    A failed save only costs a slower next start, so it is logged and the built index served."""
    if not len(index):
        return index
    corpus = fingerprint(documents)
    try:
        persist.save(index, path, corpus)
        # Titles, dates and hashes are all an index needs of its documents: their text is in the passages.
        return persist.load(path, [replace(d, paragraphs=()) for d in documents], corpus, index.weighting)
    except (OSError, IndexFileError) as exc:
        log.warning("could not save the index to %s: %s", path, exc)
        return index


def _saved_from(handed: list[Any], path: Path) -> Index:
    """`_saved` of the [index, documents] in `handed`, emptied first: the built objects are then freed
    here, in the worker thread, once the saved index is loaded."""
    index, documents = handed
    handed.clear()
    return _saved(index, path, documents)


def _drop(handed: list[Any]) -> None:
    """Free what `handed` holds in this (worker) thread: its last references die here."""
    handed.clear()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No automatic garbage collection inside: a reindex allocates objects for every document and
    passage, and each full pass over them held the GIL, so the event loop, for 100+ ms (bench/load.py)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class QAService:
    """Ask, sources, reindex and stats over one store and one swappable index."""

    def __init__(
        self, store: Store, docs: Path, index: Index, weighting: Weighting = Weighting(),
        settings: AnswerSettings = AnswerSettings(), follow_up_seconds: float = 300.0,
        source_url: str | None = None,
    ) -> None:
        self.store = store
        self.source_url = source_url  # QA_SOURCE_URL: links to the quoted page and section
        self.docs = docs
        self._index = index
        self.weighting = weighting
        self.answer_settings = settings
        self.conversations = Conversations(follow_up_seconds)
        self._reindex_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, db: Path, docs: Path, weighting: Weighting = Weighting(), follow_up_seconds: float = 300.0,
        progress: ProgressCallback | None = None, source_url: str | None = None,
    ) -> QAService:
        """Open the store and load the index from it; the folder is read only when the store is empty."""
        store = await Store.open(db)
        try:
            await asyncio.to_thread(kernel.warm_up)  # compiled or loaded now, not on the first question
            documents = await store.documents(text=False)
            index = await asyncio.to_thread(_load, index_path(db), documents, weighting)
            if index is None:
                passages = await store.passages()
                index = await asyncio.to_thread(_build, index_path(db), documents, passages, weighting)
            service = cls(store, docs, index, weighting, follow_up_seconds=follow_up_seconds,
                          source_url=source_url)
            # An empty store, or one whose documents were read by an older release's readers: read the folder.
            if not documents or await store.get_meta("reader_version") != READER_VERSION:
                try:
                    await service.reindex(progress)
                except (DocumentsError, StoreError) as exc:
                    if not documents:
                        raise
                    log.warning("could not read the documents again with this release's readers (%s); "
                                "serving what the store holds", exc)
        except BaseException:
            await store.close()
            raise
        return service

    @property
    def index(self) -> Index:
        """The index in force now: read once per request, so a request never sees a mix."""
        return self._index

    @property
    def reindexing(self) -> bool:
        """Whether a reindex is running."""
        return self._reindex_lock.locked()

    async def ask(
        self, question: str, conversation: str | None = None, via: str = "terminal", user_id: str | None = None,
        channel: str | None = None,
    ) -> Asked:
        """Answer a question (with the conversation's recent turns as context) and log it."""
        index = self._index
        history = self.conversations.history(conversation) if conversation else []
        result = await asyncio.to_thread(answer, index, question, history, self.answer_settings)
        if result.quotes:
            result = replace(result, quotes=tuple(with_links(q, self.source_url) for q in result.quotes))
        if conversation:
            # A follow-up is remembered with its context, so "and then?" chains keep the topic.
            remembered = f"{history[-1]} {result.question}" if result.context_used and history else result.question
            self.conversations.remember(conversation, remembered)
        top = result.quotes[0].source if result.quotes else None
        if self.log_days == 0:  # QA_LOG_DAYS=0: the log keeps that a question was asked, not who asked what
            qid = await self.store.log_question("", result.answered, top, via)
        else:
            qid = await self.store.log_question(result.question, result.answered, top, via, user_id, channel)
        return Asked(result, qid)

    def sources(self) -> list[SourceInfo]:
        """The indexed documents with title, date and passage count, by id."""
        index = self._index
        return [
            SourceInfo(d.id, d.title, d.date, len(index.passages_of(d.id)))
            for d in sorted(index.documents.values(), key=lambda d: d.id)
        ]

    async def reindex(self, progress: ProgressCallback | None = None) -> ReindexReport:
        """Rebuild from the folder: store written in one transaction, then the index swapped.
        On any failure the store and the index in force are left as they were."""
        if self._reindex_lock.locked():
            raise BusyError("A reindex is already running; try again when it has finished.")
        async with self._reindex_lock:
            with _collector_paused():
                return await self._reindex(progress)

    async def _reindex(self, progress: ProgressCallback | None) -> ReindexReport:
        """The reindex itself, under the lock."""
        started = time.perf_counter()
        say = progress or (lambda _msg: None)
        say(f"Reading {self.docs} …")
        outdated = await self.store.get_meta("reader_version") != READER_VERSION
        # Files whose bytes did not change are not parsed again: the index in force holds their documents.
        unchanged = {} if outdated else self._index.documents
        documents, skipped = await asyncio.to_thread(read_folder, self.docs, MAX_BYTES, unchanged)
        hashes = await self.store.hashes()
        if outdated:  # read by an older release: every document is read again and reported as changed
            hashes = dict.fromkeys(hashes, "")
        report = compare(hashes, documents, skipped)
        if not documents and self._index.passages:
            raise DocumentsError(
                f"The documents folder {str(self.docs)!r} has no usable documents; the index was kept."
            )
        say(f"Indexing {len(report.added) + len(report.changed)} new or changed documents …")

        def tick(done: int, total: int) -> None:
            say(f"Indexed {done:,} of {total:,} …")

        if report.modified or not self._index.passages:
            previous = None if outdated else self._index  # older readers' passages cannot be reused
            index = await asyncio.to_thread(build, documents, previous, self.weighting, progress=tick)
            fresh = {*report.added, *report.changed}
            upserts = [d for d in documents if d.id in fresh]
            rows = [index.passages[i] for d in upserts for i in index.passages_of(d.id)]
            await self.store.replace_documents(upserts, rows, report.removed, skipped)
            await self.store.set_meta("reader_version", READER_VERSION)
            # Hand the built index and the documents read (a Python object per passage) to the thread
            # that saves them, keeping no reference here: freeing them on the event loop stalled it
            # for 100+ ms (bench/load.py); the index in force is the one mapped from the saved file.
            handed: list[Any] = [index, documents]
            del index, documents
            fresh_index = await asyncio.to_thread(_saved_from, handed, index_path(self.store.path))
            old, self._index = [self._index], fresh_index
            await asyncio.to_thread(_drop, old)  # the old index is freed off the loop too
        else:  # nothing indexed changed: the index in force (and its file) stay
            await self.store.replace_documents([], [], [], skipped)
            await self.store.set_meta("reader_version", READER_VERSION)
            await asyncio.to_thread(_drop, [documents])
            del documents
        report = timed_report(report, self._index, started)
        log.info("reindex: %d added, %d changed, %d removed, %d skipped in %.2fs", len(report.added),
                 len(report.changed), len(report.removed), len(report.skipped), report.seconds)
        return report

    async def stats(self) -> Stats:
        """Questions asked, answered, top unanswered and feedback."""
        return await self.store.stats()

    async def feedback(self, question_id: int, user_id: str, value: int) -> bool:
        """Record 👍 (1) or 👎 (-1) for a logged answer; False when it is not (or no longer) on record."""
        if not 0 < question_id < 2**63:  # SQLite's integers: a larger id cannot be on record
            return False
        if self.log_days == 0:
            user_id = self._voter(user_id)
        elif (asked := await self.store.asked_at(question_id)) is None or asked < _cutoff(self.log_days):
            return False  # past the retention its votes were made anonymous: a new one would count twice
        return await self.store.record_feedback(question_id, user_id, value)

    async def close(self) -> None:
        """Close the store."""
        await self.store.close()

    def document_choices(self, typed: str, limit: int = 25) -> list[SourceInfo]:
        """Indexed documents whose title or id contains what the user typed (for autocomplete)."""
        needle = typed.casefold().strip()
        found = [s for s in self.sources() if needle in s.title.casefold() or needle in s.id.casefold()]
        found.sort(key=lambda s: (not s.title.casefold().startswith(needle), s.title.casefold()))
        return found[:limit]

    async def summary(
        self, document: str | None = None, topic: str | None = None, sentences: int = 5, words: int | None = None
    ) -> Summary:
        """Verbatim sentences summing up one document, a topic, or (neither given) the whole collection."""
        index = self._index
        check_length(sentences, words)
        if document is not None and topic is not None:
            raise QuestionError("Summarise a document or a topic, not both at once.")
        if document is not None:
            return await asyncio.to_thread(summarize_document, index, document, sentences, words)
        if topic is not None:
            return await asyncio.to_thread(summarize_topic, index, check_topic(topic), sentences, words)
        return await asyncio.to_thread(summarize_collection, index, sentences, words)

    # --- users' data: QA_LOG_DAYS, /forget-me and `qa-bot forget` ---------------------------------------

    log_days: int = 90
    """Days the question log keeps who asked what, where, and who voted (QA_LOG_DAYS); 0 keeps only counts.
    Set by the front-end from its settings."""
    _voter_key: bytes = secrets.token_bytes(16)
    """With QA_LOG_DAYS=0 a vote is stored under a keyed hash of the voter, so a member has one vote per
    answer; the key lives only in this process, so after it no stored vote can be traced to anyone."""

    def _voter(self, user_id: str) -> str:
        """The stand-in stored for a voter when QA_LOG_DAYS is 0."""
        return "anon:" + hmac.new(self._voter_key, user_id.encode(), "sha256").hexdigest()[:16]

    async def purge(self, now: dt.datetime | None = None) -> Erased:
        """Apply QA_LOG_DAYS: questions and votes older than it keep only what counts in /stats."""
        now = now or dt.datetime.now(dt.UTC)
        questions, votes = await self.store.anonymise_before(_cutoff(self.log_days, now))
        if questions or votes:
            log.info("retention: made %d questions and %d votes older than %d days anonymous", questions, votes,
                     self.log_days)
        return Erased(questions, votes)

    async def forget(self, user_id: str) -> Erased:
        """Erase what the bot holds about a member: their questions' text, channel and id (the questions
        still count), their votes, and the conversation it remembers for follow-ups."""
        erased = Erased(*await self.store.forget_user([user_id, self._voter(user_id)]))
        recent = self.conversations._recent
        for key in [k for k in recent if k.endswith(f":{user_id}")]:
            del recent[key]
        return erased


@dataclass(frozen=True, slots=True)
class Erased:
    """What a purge or a member's erasure changed in the question log."""

    questions: int
    votes: int


def _cutoff(days: int, now: dt.datetime | None = None) -> str:
    """The moment `days` before `now` (UTC), written as SQLite writes `asked_at`."""
    now = now or dt.datetime.now(dt.UTC)
    return (now.astimezone(dt.UTC) - dt.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")
