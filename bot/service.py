"""The one transport-neutral service that Discord and the terminal both call."""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import functools
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from retrieval import kernel
from retrieval.answer import AnswerSettings, warm_up
from retrieval.collection import Collection, ProgressCallback, SourceInfo
from retrieval.errors import QuestionError, UnknownDocumentError
from retrieval.index import Index, Weighting
from retrieval.index_source import index_path
from retrieval.model import Answer, Skipped, Summary
from retrieval.reindex import ReindexReport
from retrieval.store import DocumentStore, SQLiteStore
from retrieval.summary import check_length, check_topic, summarize_collection, summarize_document, summarize_topic

from .answer_workers import MIN_PASSAGES, AnswerWorkers, answer_linked
from .collections import Collections, guild_label
from .config import Settings
from .question_log import FLUSH_SECONDS, QuestionLog, Stats
from .uploads import copy_folder, save_uploads
from .watch import watch_folders

__all__ = ["Asked", "Conversations", "Erased", "QAService", "SourceInfo", "index_path"]

log = logging.getLogger(__name__)

# Answers hold the GIL for most of their time: more threads than cores only queue for it, and the event
# loop then waits behind all of them (bench/load.py: loop lag p50 57 ms with the default pool's six
# threads answering). Two threads keep both cores busy while the kernel runs without the GIL.
_ANSWERING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qa-answer")

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
RECENT_SECONDS = 600.0  # a server's collection used this recently is looked at too (others at their next use)
IDLE_SECONDS = 1800.0  # a server's collection unused this long is unloaded (loaded again at its next use)


class QAService:
    """Ask, sources, summary, reindex and stats over the collections: the default one (QA_DOCS and QA_DB),
    and a server's own once it has one. The question log (and feedback) lives in the default's database.

    A collection serves the newest generation of its store: before answering (and every WATCH_SECONDS for
    those in use) the service lets each look for a reindex by another process (`Collection.refresh`)."""

    def __init__(
        self, collections: Collections, questions: QuestionLog, settings: AnswerSettings = AnswerSettings(),
        follow_up_seconds: float = 300.0, source_url: str | None = None, workers: AnswerWorkers | None = None,
    ) -> None:
        self.collections = collections
        self.workers = workers or AnswerWorkers(0)  # QA_ANSWER_PROCESSES: answering in processes of their own
        self.questions = questions  # the question log, feedback and command hashes (in the default's database)
        self.source_url = source_url  # QA_SOURCE_URL: links to the quoted page and section (default documents)
        self.answer_settings = settings
        self.conversations = Conversations(follow_up_seconds)
        self._tasks: list[asyncio.Task[None]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._stop_watching = asyncio.Event()

    @classmethod
    async def open(
        cls, db: Path, docs: Path, weighting: Weighting = Weighting(), follow_up_seconds: float = 300.0,
        progress: ProgressCallback | None = None, source_url: str | None = None, data_dir: Path | None = None,
        watch: bool = False, memory_mb: float | None = None, watch_quiet: float = 1.0,
        log_flush_seconds: float = FLUSH_SECONDS, answer_processes: int = 0,
        answer_min_passages: int = MIN_PASSAGES, reindex_process: bool = False,
    ) -> QAService:
        """Open the default collection (its folder read only when its store is empty, or holds damaged
        passages); servers' collections (under `data_dir`, by default the database's folder) load on first
        use, within `memory_mb`. `watch`: reindex a collection when its folder changes (after `watch_quiet`
        seconds without a change). The question log shares the default's database file, through its own
        connection, opened after the store has checked the file; a question waits in memory at most
        `log_flush_seconds` before it is written. `answer_processes`: how many worker processes answer questions
        about an index of `answer_min_passages` passages or more (0: threads of this process answer all).
        `reindex_process`: a large collection's reindex runs in a process of its own (retrieval/reindex_process)."""
        await asyncio.to_thread(kernel.warm_up)  # compiled or loaded now, not on the first question
        default = await Collection.open("the default collection", docs, index_path(db),
                                        lambda: SQLiteStore.open(db), weighting, progress,
                                        reindex_elsewhere=reindex_process)
        try:
            questions = await QuestionLog.open(db, delay=log_flush_seconds)
        except BaseException:
            await default.close()
            raise
        budget = None if memory_mb is None else int(memory_mb * 1024 * 1024)
        collections = Collections(default, data_dir or db.parent, weighting, budget,
                                  reindex_elsewhere=reindex_process)
        service = cls(collections, questions, follow_up_seconds=follow_up_seconds, source_url=source_url,
                      workers=AnswerWorkers(answer_processes, answer_min_passages))
        service.workers.warm(default.index, default.saved, default.store.path)
        await asyncio.to_thread(warm_up, default.index)  # the first question then loads no table or model
        service._tasks.append(asyncio.create_task(service._watch()))
        if watch:
            service._watcher = asyncio.create_task(watch_folders(collections, watch_quiet, service._stop_watching))
            service._tasks.append(service._watcher)
        return service

    @classmethod
    async def from_settings(cls, settings: Settings, progress: ProgressCallback | None = None,
                            watch: bool | None = None) -> QAService:
        """The service the settings describe (the folder watcher as QA_WATCH says, unless `watch` is given)."""
        service = await cls.open(settings.db, settings.docs, follow_up_seconds=settings.follow_up_seconds,
                                 progress=progress, source_url=settings.source_url, data_dir=settings.data_dir,
                                 watch=settings.watch if watch is None else watch, memory_mb=settings.memory_mb,
                                 log_flush_seconds=settings.log_flush_seconds,
                                 answer_processes=settings.answer_processes,
                                 reindex_process=settings.reindex_process)
        service.log_days = settings.log_days
        return service

    # --- the default collection, as the front-ends knew it ------------------------------------------------

    @property
    def default(self) -> Collection:
        """The default collection: QA_DOCS and QA_DB."""
        return self.collections.default

    @property
    def store(self) -> DocumentStore:
        """The default collection's store (its database file also holds the question log)."""
        return self.default.store

    @property
    def docs(self) -> Path:
        """The default documents folder."""
        return self.default.docs

    @property
    def weighting(self) -> Weighting:
        """How passages are weighed, in every collection."""
        return self.default.weighting

    @property
    def index(self) -> Index:
        """The default collection's index in force now."""
        return self.default.index

    @property
    def reindexing(self) -> bool:
        """Whether the default collection is being reindexed."""
        return self.default.reindexing

    def is_reindexing(self, guild: int | None = None) -> bool:
        """Whether the collection serving `guild` is being reindexed."""
        collection = self.collections.peek(guild)
        return collection is not None and collection.reindexing

    @property
    def watching(self) -> bool:
        """Whether the folder watcher runs (QA_WATCH)."""
        return self._watcher is not None and not self._watcher.done()

    def has_collection(self, guild: int) -> bool:
        """Whether a server has documents of its own (else it uses the default ones)."""
        return self.collections.has(guild)

    async def refresh(self) -> None:
        """Let each collection in use serve the newest index of its store (see `Collection.refresh`); one that
        cannot look (its failure logged) keeps serving what it serves, and the others still look."""
        recent = time.monotonic() - RECENT_SECONDS
        for collection in self.collections.loaded:
            # One unloaded while an earlier one was being looked at is skipped; held, none is unloaded mid-look.
            if not collection.closed and (collection is self.default or collection.last_used >= recent):
                with collection.held(touch=False):
                    await collection.refreshed()

    async def _watch(self) -> None:
        """Every WATCH_SECONDS, `refresh` (/sources and autocomplete, which do not wait, see it too) and unload
        servers' collections idle for IDLE_SECONDS."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.refresh()
                await self.collections.unload_idle(IDLE_SECONDS)
            except Exception:
                log.exception("checking for a newer index failed")

    # --- use cases --------------------------------------------------------------------------------------

    async def ask(
        self, question: str, conversation: str | None = None, via: str = "terminal", user_id: str | None = None,
        channel: str | None = None, guild: int | None = None,
    ) -> Asked:
        """Answer a question from the collection serving `guild` (with the conversation's recent turns as
        context) and log it."""
        async with self.collections.using(guild) as collection:
            await collection.refreshed()
            index, saved = collection.index, collection.saved  # together: the saved file is this index's
            history = self.conversations.history(conversation) if conversation else []
            quoted = self.conversations.quoted(conversation) if conversation else ()
            links = (self.source_url,) if collection is self.default else None  # QA_SOURCE_URL: the default's
            # A follow-up does not quote again what was just quoted, unless nothing else answers.
            here = functools.partial(asyncio.get_running_loop().run_in_executor, _ANSWERING, functools.partial(
                answer_linked, index, question, history, self.answer_settings, quoted, links))
            result = await self.workers.answer(saved, collection.store.path, index, question, history,
                                               self.answer_settings, quoted, links, here)
        if conversation:
            # A follow-up is remembered with its context, so "and then?" chains keep the topic.
            remembered = f"{history[-1]} {result.question}" if result.context_used and history else result.question
            self.conversations.remember(conversation, remembered, tuple(q.text for q in result.quotes[:1]))
        top = result.quotes[0].source if result.quotes else None
        server = None if guild is None else str(guild)  # the log keeps where it was asked, for /stats
        if self.log_days == 0:  # QA_LOG_DAYS=0: the log keeps that a question was asked, not who asked what
            qid = await self.questions.log_question("", result.answered, top, via, guild=server)
        else:
            qid = await self.questions.log_question(result.question, result.answered, top, via, user_id, channel,
                                                    server)
        return Asked(result, qid)

    def sources(self, guild: int | None = None) -> list[SourceInfo]:
        """The documents of the collection serving `guild`, with title, date and passage count, by id."""
        collection = self.collections.peek(guild)
        if collection is not None:
            return collection.sources()
        return self.collections.stored_sources(guild) if guild is not None else []

    def document_choices(self, typed: str, limit: int = 25, guild: int | None = None) -> list[SourceInfo]:
        """Documents of the collection serving `guild` whose title or id contains what the user typed
        (for autocomplete)."""
        needle = typed.casefold().strip()
        found = [s for s in self.sources(guild) if needle in s.title.casefold() or needle in s.id.casefold()]
        found.sort(key=lambda s: (not s.title.casefold().startswith(needle), s.title.casefold()))
        return found[:limit]

    async def reindex(self, progress: ProgressCallback | None = None, guild: int | None = None) -> ReindexReport:
        """Bring a collection up to its folder: the default one (`guild` None) or a server's own
        (NoCollectionError if it has none). On any failure its store and index are left as they were."""
        if guild is None:
            return await self.default.reindex(progress)
        async with self.collections.using(guild, own=True) as collection:
            return await collection.reindex(progress)

    async def add_documents(
        self, guild: int, files: Sequence[tuple[str, bytes]], copy_default: bool = False,
        progress: ProgressCallback | None = None,
    ) -> ReindexReport:
        """Save files (name, bytes) into a server's own collection and index them; the collection is created
        on first use, empty or (`copy_default`) with a copy of the default documents. Files refused (their
        type, size or name) are reported as skipped with the reason; unchanged files are not read again."""
        folder = self.collections.folder(guild)
        if not self.collections.has(guild):
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            log.info("%s: collection created%s", guild_label(guild),
                     " from the default documents" if copy_default else "")
        else:
            copy_default = False  # only a new collection starts from the default one
        refused: list[Skipped] = []

        async def save() -> None:
            if copy_default:
                await asyncio.to_thread(copy_folder, self.docs, folder)
            refused.extend((await asyncio.to_thread(save_uploads, folder, files))[1])

        async with self.collections.using(guild, own=True) as collection:
            report = await collection.reindex(progress, wait=True, prepare=save)
        return replace(report, skipped=(*refused, *report.skipped))

    async def remove_document(self, guild: int, document_id: str,
                              progress: ProgressCallback | None = None) -> ReindexReport:
        """Delete a document's file from a server's own collection and index the change."""
        async with self.collections.using(guild, own=True) as collection:
            ids = collection.index.documents
            if document_id not in ids:
                raise UnknownDocumentError(document_id, tuple(difflib.get_close_matches(document_id, list(ids), 3)))
            target = collection.docs / document_id
            if ".." in Path(document_id).parts or Path(document_id).is_absolute():
                raise UnknownDocumentError(document_id)

            async def delete() -> None:
                await asyncio.to_thread(target.unlink, missing_ok=True)

            return await collection.reindex(progress, wait=True, prepare=delete)

    async def stats(self, guild: int | None = None) -> Stats:
        """Questions asked, answered, top unanswered and feedback; and what an operator must know about the
        default collection and the one serving `guild`."""
        collections = {id(c): c for c in (self.default, self.collections.peek(guild)) if c is not None}
        problems: dict[str, str] = {}
        for collection in collections.values():
            collection.check_database()
            problems.update(collection.problems)
        # In a server, its own questions only: another server's questions are not its admins' to read.
        stats = await self.questions.stats(guild=None if guild is None else str(guild))
        return replace(stats, problems=(*problems.values(), *stats.problems))

    async def feedback(self, question_id: int, user_id: str, value: int) -> bool:
        """Record 👍 (1) or 👎 (-1) for a logged answer; False when it is not (or no longer) on record."""
        self.default.check_database()
        if not 0 < question_id < 2**63:  # SQLite's integers: a larger id cannot be on record
            return False
        if self.log_days == 0:
            user_id = self._voter(user_id)
        elif (asked := await self.questions.asked_at(question_id)) is None or asked < _cutoff(self.log_days):
            return False  # past the retention its votes were made anonymous: a new one would count twice
        return await self.questions.record_feedback(question_id, user_id, value)

    async def close(self) -> None:
        """Stop watching and close every collection."""
        self._stop_watching.set()
        for task in self._tasks:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # a task that died (e.g. the watcher) must not keep the stores open
                log.exception("a background task had failed")
        self._tasks.clear()
        await self.workers.close()
        try:
            await self.questions.close()  # writes the questions still waiting
        finally:
            await self.collections.close()

    async def summary(
        self, document: str | None = None, topic: str | None = None, sentences: int = 5, words: int | None = None,
        guild: int | None = None,
    ) -> Summary:
        """Verbatim sentences summing up one document, a topic, or (neither given) the whole collection
        serving `guild`."""
        check_length(sentences, words)
        if document is not None and topic is not None:
            raise QuestionError("Summarise a document or a topic, not both at once.")
        async with self.collections.using(guild) as collection:
            await collection.refreshed()
            index = collection.index
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
