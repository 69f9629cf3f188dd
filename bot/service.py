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
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from retrieval import kernel, persist
from retrieval.answer import AnswerSettings, answer
from retrieval.documents import MAX_BYTES, READER_VERSION, read_folder
from retrieval.errors import BusyError, DocumentsError, QAError, QuestionError, StoreError
from retrieval.index import Index, Weighting
from retrieval.links import with_links
from retrieval.model import Answer, Summary
from retrieval.reindex import ReindexReport, build, compare, timed_report
from retrieval.store import DocumentStore
from retrieval.summary import check_length, check_topic, summarize_collection, summarize_document, summarize_topic

from . import index_source as source
from .index_source import index_path
from .question_log import FLUSH_SECONDS, QuestionLog, Stats
from .storage import open_storage

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
    """Recent turns per conversation (user and channel): each question with the texts quoted in reply,
    forgotten after `ttl` seconds."""

    def __init__(self, ttl: float, turns: int = 3, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._turns = turns
        self._clock = clock
        self._recent: dict[str, deque[tuple[float, str, tuple[str, ...]]]] = {}

    def _live(self, key: str) -> deque[tuple[float, str, tuple[str, ...]]]:
        """The conversation's turns still within the time window (expired ones dropped)."""
        now = self._clock()
        turns = self._recent.get(key)
        if not turns:
            return deque()
        while turns and now - turns[0][0] > self.ttl:
            turns.popleft()
        if not turns:
            del self._recent[key]
        return turns

    def history(self, key: str) -> list[str]:
        """The conversation's questions still within the time window, oldest first."""
        return [q for _, q, _ in self._live(key)]

    def quoted(self, key: str) -> tuple[str, ...]:
        """What the bot quoted first in reply to the conversation's last question (within the window)."""
        turns = self._live(key)
        return turns[-1][2] if turns else ()

    def remember(self, key: str, question: str, quoted: tuple[str, ...] = ()) -> None:
        """Add a turn to the conversation: the question and what was quoted first in reply."""
        self._recent.setdefault(key, deque(maxlen=self._turns)).append((self._clock(), question, quoted))
        if len(self._recent) > 10_000:  # bound memory: drop the oldest conversation
            self._recent.pop(next(iter(self._recent)))


WATCH_SECONDS = 2.0  # how often a serving process looks for another process's reindex and a lost database


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
    """Ask, sources, reindex and stats over one store and one swappable index.

    One truth across processes: the store's generation says which reindex the documents are at. Before
    answering (and every WATCH_SECONDS) the service compares it with the generation of the index it
    serves and switches to the newer one, so a reindex by another process on the same database is
    served here too, and a document it removed is quoted and listed no more."""

    def __init__(
        self, store: DocumentStore, questions: QuestionLog, docs: Path, index: Index,
        weighting: Weighting = Weighting(), settings: AnswerSettings = AnswerSettings(),
        follow_up_seconds: float = 300.0, generation: int = 0, mapped: persist.FileId | None = None,
        source_url: str | None = None,
    ) -> None:
        self.store = store
        self.questions = questions  # the question log, feedback and command hashes
        self.source_url = source_url  # QA_SOURCE_URL: links to the quoted page and section
        self.docs = docs
        self._index = index
        self._generation = generation  # the store's generation the index in force shows
        self._mapped = mapped  # the index file the index in force maps, as it was when mapped
        self._suspect: set[str] = set()  # documents whose stored passages failed their digest: re-read them
        self.weighting = weighting
        self.answer_settings = settings
        self.conversations = Conversations(follow_up_seconds)
        self._reindex_lock = asyncio.Lock()
        self._switch_lock = asyncio.Lock()  # held while the index in force is being replaced
        found = persist.file_id(store.path)
        self._database = found[:2] if found else None  # the database file's device and inode
        self._problems: dict[str, str] = {}  # what /stats must tell an operator, by subject
        self._watcher: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, db: Path, docs: Path, weighting: Weighting = Weighting(), follow_up_seconds: float = 300.0,
        progress: ProgressCallback | None = None, source_url: str | None = None,
        log_flush_seconds: float = FLUSH_SECONDS,
    ) -> QAService:
        """Open the store and the question log in the SQLite file `db` (bot/storage.py), then `start`."""
        # Verifying the index file's checksums (reading all of it) overlaps opening and checking the
        # database, on another core: at 1M passages each takes most of a second.
        reading = asyncio.ensure_future(asyncio.to_thread(source.read_file, index_path(db)))
        try:
            store, questions = await open_storage(db, log_flush_seconds)
        except BaseException:
            reading.cancel()
            raise
        return await cls.start(store, questions, docs, weighting, follow_up_seconds, progress, source_url, reading)

    @classmethod
    async def start(
        cls, store: DocumentStore, questions: QuestionLog, docs: Path, weighting: Weighting = Weighting(),
        follow_up_seconds: float = 300.0, progress: ProgressCallback | None = None, source_url: str | None = None,
        reading: asyncio.Future[Any] | None = None,
    ) -> QAService:
        """Serve over a store and a question log opened by the caller (both closed if this fails): the index
        is loaded from the store; the folder is read only when the store is empty (or holds damaged
        passages, which are re-read). `reading`: the index file, already being read."""
        if reading is None:
            reading = asyncio.ensure_future(asyncio.to_thread(source.read_file, index_path(store.path)))
        try:
            await asyncio.to_thread(kernel.warm_up)  # compiled or loaded now, not on the first question
            current = await source.current(store, index_path(store.path), weighting, reading)
            service = cls(store, questions, docs, current.index, weighting, follow_up_seconds=follow_up_seconds,
                          generation=current.generation, mapped=current.mapped, source_url=source_url)
            service._note_index_warning(current.warning)
            if not current.index.documents and not current.suspect:
                await service.reindex(progress)
            elif current.suspect:
                await service._repair(current.suspect, progress)
            elif await store.get_meta("reader_version") != READER_VERSION:
                # Documents read by an older release's readers: read the folder again, once.
                try:
                    await service.reindex(progress)
                except (DocumentsError, StoreError) as exc:
                    log.warning("could not read the documents again with this release's readers (%s); "
                                "serving what the store holds", exc)
            service._watcher = asyncio.create_task(service._watch())
        except BaseException:
            reading.cancel()
            await store.close()
            await questions.close()
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

    async def refresh(self) -> None:
        """Serve the newest index: the one a reindex by another process made, or a sound one when the file
        the index in force maps was changed in place. Cheap when nothing changed (one query, two stats)."""
        self._check_database()
        if self._reindex_lock.locked():  # this process's own reindex installs the newest index
            return
        if await self.store.generation() == self._generation and not self._mapped_file_changed():
            return
        if self._reindex_lock.locked():
            return
        async with self._switch_lock:
            generation = await self.store.generation()
            changed = self._mapped_file_changed()
            if generation == self._generation and not changed:
                return  # another request switched meanwhile
            if changed:
                log.warning("the index file %s was changed in place while mapped: loading it again",
                            index_path(self.store.path))
            else:
                log.info("the store is at generation %d (serving %d): switching to its index", generation,
                         self._generation)
            current = await source.current(self.store, index_path(self.store.path), self.weighting)
            await self._install(current)
        if current.suspect:
            await self._repair(current.suspect)

    async def _refreshed(self) -> None:
        """`refresh`, its failures logged: the index in force keeps answering."""
        try:
            await self.refresh()
        except QAError as exc:
            log.warning("could not check for a newer index: %s", exc)

    async def _install(self, current: source.Current) -> None:
        """Make `current` the index in force; the old one is freed off the event loop."""
        previous, self._index = [self._index], current.index
        self._generation, self._mapped = current.generation, current.mapped
        self._suspect.update(current.suspect)
        self._note_index_warning(current.warning)
        await asyncio.to_thread(source.drop, previous)

    async def _repair(self, suspect: tuple[str, ...], progress: ProgressCallback | None = None) -> None:
        """Re-read documents whose stored passages are damaged; on failure they stay left out, logged."""
        self._suspect.update(suspect)
        try:
            await self.reindex(progress)
        except QAError as exc:
            log.error("could not re-read the damaged documents %s: %s", ", ".join(sorted(suspect)), exc)

    def _mapped_file_changed(self) -> bool:
        """Whether the file the index in force maps was changed in place (same inode, other size or time):
        reading its pages now could kill the process (SIGBUS). A file renamed over it is harmless."""
        if self._mapped is None:
            return False
        now = persist.file_id(index_path(self.store.path))
        return now is not None and now[:2] == self._mapped[:2] and now != self._mapped

    def _check_database(self) -> None:
        """Note (once, in the log and for /stats) a database file deleted or replaced under the service:
        SQLite keeps writing to the file it opened, which nothing will find again."""
        found = persist.file_id(self.store.path)
        if self._database is None or (found is not None and found[:2] == self._database):
            return
        if "database" not in self._problems:
            self._problems["database"] = (
                "The database file was deleted or replaced while the bot runs: questions and feedback "
                "recorded since are lost when it stops. Restart the bot to start a new database."
            )
            log.error("the database %s was %s while in use: what is recorded from now on is lost at exit; "
                      "restart to recreate it", self.store.path, "deleted" if found is None else "replaced")

    def _note_index_warning(self, warning: str | None) -> None:
        """Keep (or clear) the warning of the last save of the index, for /stats."""
        if warning:
            self._problems["index"] = warning
        else:
            self._problems.pop("index", None)

    async def _watch(self) -> None:
        """Every WATCH_SECONDS, `refresh`: /sources and autocomplete, which do not wait, see it too."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.refresh()
            except Exception:
                log.exception("checking for a newer index failed")

    async def ask(
        self, question: str, conversation: str | None = None, via: str = "terminal", user_id: str | None = None,
        channel: str | None = None,
    ) -> Asked:
        """Answer a question (with the conversation's recent turns as context) and log it."""
        await self._refreshed()
        index = self._index
        history = self.conversations.history(conversation) if conversation else []
        quoted = self.conversations.quoted(conversation) if conversation else ()
        # A follow-up does not quote again what was just quoted, unless nothing else answers.
        result = await asyncio.to_thread(answer, index, question, history, self.answer_settings, quoted)
        if result.quotes:
            result = replace(result, quotes=tuple(with_links(q, self.source_url) for q in result.quotes))
        if conversation:
            # A follow-up is remembered with its context, so "and then?" chains keep the topic.
            remembered = f"{history[-1]} {result.question}" if result.context_used and history else result.question
            self.conversations.remember(conversation, remembered, tuple(q.text for q in result.quotes[:1]))
        top = result.quotes[0].source if result.quotes else None
        if self.log_days == 0:  # QA_LOG_DAYS=0: the log keeps that a question was asked, not who asked what
            qid = await self.questions.log_question("", result.answered, top, via)
        else:
            qid = await self.questions.log_question(result.question, result.answered, top, via, user_id, channel)
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
        async with self._reindex_lock, self._switch_lock:
            with _collector_paused():
                return await self._reindex(progress)

    async def _reindex(self, progress: ProgressCallback | None) -> ReindexReport:
        """The reindex itself, under the locks. The folder is compared with the store (what to write) and
        with the index in force (what changes for those who ask, and so the report): after a reindex by
        another process the two differ."""
        started = time.perf_counter()
        say = progress or (lambda _msg: None)
        say(f"Reading {self.docs} …")
        outdated = await self.store.get_meta("reader_version") != READER_VERSION
        # Files whose bytes did not change are not parsed again: the index in force holds their documents
        # (not those read by an older release's readers, nor those whose stored passages were damaged).
        unchanged = {} if outdated else {i: d for i, d in self._index.documents.items() if i not in self._suspect}
        documents, skipped = await asyncio.to_thread(read_folder, self.docs, MAX_BYTES, unchanged)
        generation = await self.store.generation()  # before the hashes: see `consistent` below
        stored = await self.store.hashes()
        stored.update({i: "" for i in self._suspect if i in stored})  # damaged in the store: write them again
        if outdated:  # read by an older release: every document is read again and reported as changed
            stored = dict.fromkeys(stored, "")
        to_store = compare(stored, documents, skipped)
        served = {d.id: "" if outdated else d.content_hash for d in self._index.documents.values()}
        report = compare(served, documents, skipped)
        if not documents and (self._index.passages or stored):
            raise DocumentsError(
                f"The documents folder {str(self.docs)!r} has no usable documents; the index was kept."
            )
        say(f"Indexing {len(report.added) + len(report.changed)} new or changed documents …")

        def tick(done: int, total: int) -> None:
            say(f"Indexed {done:,} of {total:,} …")

        path = index_path(self.store.path)
        if to_store.modified or not self._index.passages:
            previous = None if outdated else self._index  # older readers' passages cannot be reused
            index = await asyncio.to_thread(build, documents, previous, self.weighting, progress=tick)
            fresh = {*to_store.added, *to_store.changed}
            upserts = [d for d in documents if d.id in fresh]
            rows = [index.passages[i] for d in upserts for i in index.passages_of(d.id)]
            lock = persist.WriteLock(path)
            # Held from the commit to the saved file, so that another process seeing the new generation
            # waits for this file instead of building the same index itself.
            await asyncio.to_thread(lock.acquire)
            try:
                after = await self.store.replace_documents(upserts, rows, to_store.removed, skipped)
                await self.store.set_meta("reader_version", READER_VERSION)
                # Hand the built index and the documents read (a Python object per passage) to the thread
                # that saves them, keeping no reference here: freeing them on the event loop stalled it
                # for 100+ ms (bench/load.py); the index in force is the one loaded from the saved file.
                handed: list[Any] = [index, documents]
                del index, documents
                made = await asyncio.to_thread(source.saved_from, handed, path, True)
            finally:
                lock.release()
            # Another process's reindex committed between our reading of the store and our writing: the
            # store now holds a mix, and the index built from the folder is not known to be it.
            consistent = after == generation + (1 if to_store.modified else 0)
            await self._install(replace(made, generation=after if consistent else generation))
            self._suspect -= {*to_store.changed, *to_store.removed}
        elif report.modified:  # the store holds the folder already (another process reindexed): serve it
            await self.store.replace_documents([], [], [], skipped)
            await self.store.set_meta("reader_version", READER_VERSION)
            await asyncio.to_thread(source.drop, [documents])
            del documents
            await self._install(await source.current(self.store, path, self.weighting))
        else:  # nothing indexed changed: the index in force (and its file) stay
            await self.store.replace_documents([], [], [], skipped)
            await self.store.set_meta("reader_version", READER_VERSION)
            await asyncio.to_thread(source.drop, [documents])
            del documents
        warning = self._problems.get("index")
        report = timed_report(replace(report, warnings=(warning,) if warning else ()), self._index, started)
        log.info("reindex: %d added, %d changed, %d removed, %d skipped in %.2fs", len(report.added),
                 len(report.changed), len(report.removed), len(report.skipped), report.seconds)
        return report

    async def stats(self) -> Stats:
        """Questions asked, answered, top unanswered and feedback; and what an operator must know."""
        self._check_database()
        stats = await self.questions.stats()
        return replace(stats, problems=(*self._problems.values(), *stats.problems))

    async def feedback(self, question_id: int, user_id: str, value: int) -> bool:
        """Record 👍 (1) or 👎 (-1) for a logged answer; False when it is not (or no longer) on record."""
        self._check_database()
        if not 0 < question_id < 2**63:  # SQLite's integers: a larger id cannot be on record
            return False
        if self.log_days == 0:
            user_id = self._voter(user_id)
        elif (asked := await self.questions.asked_at(question_id)) is None or asked < _cutoff(self.log_days):
            return False  # past the retention its votes were made anonymous: a new one would count twice
        return await self.questions.record_feedback(question_id, user_id, value)

    async def close(self) -> None:
        """Stop watching and close the store and the question log (which writes what waits)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        try:
            await self.questions.close()
        finally:
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
        await self._refreshed()
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
        questions, votes = await self.questions.anonymise_before(_cutoff(self.log_days, now))
        if questions or votes:
            log.info("retention: made %d questions and %d votes older than %d days anonymous", questions, votes,
                     self.log_days)
        return Erased(questions, votes)

    async def forget(self, user_id: str) -> Erased:
        """Erase what the bot holds about a member: their questions' text, channel and id (the questions
        still count), their votes, and the conversation it remembers for follow-ups."""
        erased = Erased(*await self.questions.forget_user([user_id, self._voter(user_id)]))
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
