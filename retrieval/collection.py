"""A collection: one folder of documents with its own store, index file, generation, reindex lock and swap.

Its lifecycle awaits the store (aiosqlite), so its methods that touch the store are async; every CPU-heavy
step (reading the folder, building, saving, loading, freeing) runs in a worker thread, so the event loop
only waits. It never imports discord: which collection a Discord server uses is the bot's business.

One truth across processes: the store's generation says which reindex the documents are at. `refresh`
compares it with the generation of the index in force and switches to the newer one, so a reindex by
another process on the same database is served here too."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import index_source as source
from . import persist, reindex_process
from .documents import MAX_BYTES, READER_VERSION, read_folder
from .errors import BusyError, DocumentsError, QAError, StoreError
from .index import Index, Weighting
from .passages import PassageTable
from .reindex import ReindexReport, build, compare, timed_report
from .store import DocumentStore

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str], None]
StoreOpener = Callable[[], Awaitable[DocumentStore]]

# What a loaded collection costs beyond its arrays (its database connection and the thread serving it,
# SQLite's page cache, Python objects): bench/collections.py measured 471 KiB of RSS per loaded small
# collection (3-5 short documents), whose arrays and vocabulary are estimated at about 70 KiB.
BASE_BYTES = 400 << 10
VOCABULARY_ENTRY_BYTES = 120  # a str key and an int value in a dict, for a short term
DOCUMENT_BYTES = 600  # a Document with its id, title, date and hash


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One indexed document, as listed by `sources`."""

    id: str
    title: str
    date: str | None
    passages: int


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic garbage collection inside: a reindex allocates objects for every document and
    passage, and each full pass over them held the GIL, so the event loop, for 100+ ms (bench/load.py)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _hand_over(waiting: asyncio.Future[None], look: asyncio.Future[None]) -> None:
    """Give the waiting callers the outcome of the look they waited for."""
    if waiting.done():
        return
    if look.cancelled():
        waiting.cancel()
    elif (exc := look.exception()) is not None:
        waiting.set_exception(exc)
    else:
        waiting.set_result(None)
    waiting.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved, whoever still waits


def memory_bytes(index: Index) -> int:
    """An estimate of the memory an index holds: its arrays (each counted once, mapped ones too, since
    serving reads their pages in), its vocabulary and documents, and a fixed cost per loaded collection."""
    arrays: list[np.ndarray] = [index.counts.data, index.counts.indices, index.counts.indptr, index.weights.data,
                                index.weights.indices, index.weights.indptr, index.idf, index.df]
    passages = index.passages
    if isinstance(passages, PassageTable):
        arrays += [passages.doc_of, passages.paragraph, passages.part, passages.kind, passages.section_of,
                   passages.page, passages.text, passages.offsets, passages.marks, passages.mark_offsets]
        extra = 0
    else:  # a Python object per passage (the index could not be saved and served from its file)
        extra = sum(400 + len(p.text) for p in passages)
    seen: dict[tuple[int, int], int] = {}
    for array in arrays:
        seen[(array.__array_interface__["data"][0], array.nbytes)] = array.nbytes
    return (BASE_BYTES + sum(seen.values()) + extra + len(index.vocabulary) * VOCABULARY_ENTRY_BYTES
            + len(index.documents) * DOCUMENT_BYTES)


class Collection:
    """A folder of documents, its store and its one swappable index: read once per request, so a request
    sees the old index or the new one, never a mix."""

    def __init__(
        self, name: str, store: DocumentStore, docs: Path, index_file: Path, index: Index,
        weighting: Weighting = Weighting(), generation: int = 0, mapped: persist.FileId | None = None,
        allow_empty: bool = False, saved: persist.FileId | None = None, reindex_elsewhere: bool = False,
    ) -> None:
        self.name = name  # for logs: "the default collection", "server 123"
        # A folder emptied is a mistake to refuse for the default collection (a mount gone missing), and a
        # state to index for a server's own (its last document removed).
        self.allow_empty = allow_empty
        # QA_REINDEX_PROCESS: a reindex of a large collection runs in a process of its own (reindex_process).
        self.reindex_elsewhere = reindex_elsewhere
        self.closed = False
        self.shown = str(docs)  # how progress names the folder (a server's is not told its path on the host)
        self.store = store
        self.docs = docs
        self.index_file = index_file
        self.weighting = weighting
        self._index = index
        self._generation = generation  # the store's generation the index in force shows
        self._mapped = mapped  # the index file the index in force maps, as it was when mapped
        self._saved = saved  # the saved index file the index in force was loaded from (None: memory only)
        self._suspect: set[str] = set()  # documents whose stored passages failed their digest: re-read them
        self._reindex_lock = asyncio.Lock()
        self._switch_lock = asyncio.Lock()  # held while the index in force is being replaced
        self._looking: asyncio.Future[None] | None = None  # the look for a newer index running now
        self._next_look: asyncio.Future[None] | None = None  # what callers arriving during it wait for
        found = persist.file_id(store.path)
        self._database = found[:2] if found else None  # the database file's device and inode
        self.problems: dict[str, str] = {}  # what /stats must tell an operator, by subject
        self.users = 0  # requests using the collection now: it is not unloaded meanwhile
        self.last_used = time.monotonic()
        self.bytes = memory_bytes(index)

    @classmethod
    async def open(
        cls, name: str, docs: Path, index_file: Path, open_store: StoreOpener, weighting: Weighting = Weighting(),
        progress: ProgressCallback | None = None, allow_empty: bool = False, reindex_elsewhere: bool = False,
    ) -> Collection:
        """Open the store and load the index from it; the folder is read only when the store is empty
        (or holds damaged passages, which are re-read, or documents read by an older release's readers)."""
        # Verifying the index file's checksums (reading all of it) overlaps opening and checking the
        # database, on another core: at 1M passages each takes most of a second.
        reading = asyncio.ensure_future(asyncio.to_thread(source.read_file, index_file))
        try:
            store = await open_store()
        except BaseException:
            reading.cancel()
            raise
        try:
            current = await source.current(store, index_file, weighting, reading)
            collection = cls(name, store, docs, index_file, current.index, weighting, current.generation,
                             current.mapped, allow_empty, current.file, reindex_elsewhere)
            collection._note_index_warning(current.warning)
            if not current.index.documents and not current.suspect:
                await collection.reindex(progress)
            elif current.suspect:
                await collection._repair(current.suspect, progress)
            elif await store.get_meta("reader_version") != READER_VERSION:
                try:  # documents read by an older release's readers: read the folder again, once
                    await collection.reindex(progress)
                except (DocumentsError, StoreError) as exc:
                    log.warning("could not read the documents of %s again with this release's readers (%s); "
                                "serving what the store holds", name, exc)
        except BaseException:
            reading.cancel()
            await store.close()
            raise
        return collection

    @property
    def index(self) -> Index:
        """The index in force now: read once per request, so a request never sees a mix."""
        return self._index

    @property
    def saved(self) -> tuple[Path, persist.FileId] | None:
        """Where the index in force is saved, and the identity of that saved version (another process can
        load the very same index from it); None when it is served from memory only. Read with `index`."""
        return None if self._saved is None else (self.index_file, self._saved)

    @property
    def reindexing(self) -> bool:
        """Whether a reindex is running."""
        return self._reindex_lock.locked()

    @property
    def busy(self) -> bool:
        """Whether unloading now would cut something short: a reindex, a swap or a request."""
        return self.users > 0 or self._reindex_lock.locked() or self._switch_lock.locked()

    @contextmanager
    def held(self, touch: bool = True) -> Iterator[Collection]:
        """Mark the collection in use for the block: it is not unloaded meanwhile. `touch`: a request, which
        makes it recently used (a look for a newer index does not)."""
        self.users += 1
        try:
            yield self
        finally:
            self.users -= 1
            if touch:
                self.last_used = time.monotonic()

    def sources(self) -> list[SourceInfo]:
        """The indexed documents with title, date and passage count, by id."""
        index = self._index
        return [
            SourceInfo(d.id, d.title, d.date, len(index.passages_of(d.id)))
            for d in sorted(index.documents.values(), key=lambda d: d.id)
        ]

    async def close(self) -> None:
        """Close the store and free the index (in a worker thread)."""
        self.closed = True
        await self.store.close()
        handed: list[Any] = [self._index]
        await asyncio.to_thread(source.drop, handed)

    async def refresh(self) -> None:
        """Serve the newest index: the one a reindex by another process made, or a sound one when the file
        the index in force maps was changed in place. Cheap when nothing changed (one query, a look at the
        index folder), and shared: callers arriving while a look runs wait for the next one, which starts
        after them and so sees every change made before they asked. Per caller, the look cost 1 ms of event
        loop under 50 users (bench/load.py), the stats of the index folder waiting each time for the GIL."""
        if self._looking is None:
            look = self._looking = self._start_look()
        else:
            if self._next_look is None:
                self._next_look = asyncio.get_running_loop().create_future()
            look = self._next_look
        await asyncio.shield(look)

    def _start_look(self) -> asyncio.Future[None]:
        """Run `_look` as the look in force; when it ends, the callers waiting for the next one get theirs."""
        look = asyncio.ensure_future(self._look())
        look.add_done_callback(self._look_ended)
        return look

    def _look_ended(self, look: asyncio.Future[None]) -> None:
        """Start the look the callers that came during `look` wait for, its outcome handed to them."""
        if not look.cancelled():
            look.exception()  # retrieved: a caller cancelled meanwhile must not leave it unreported
        waiting, self._next_look = self._next_look, None
        if waiting is None:
            self._looking = None
            return
        self._looking = nxt = self._start_look()
        nxt.add_done_callback(functools.partial(_hand_over, waiting))

    async def _look(self) -> None:
        """One look for a newer index (see `refresh`)."""
        self.check_database()
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
                log.warning("the index file %s was changed in place while mapped: loading it again", self.index_file)
            else:
                log.info("%s: the store is at generation %d (serving %d): switching to its index", self.name,
                         generation, self._generation)
            current = await source.current(self.store, self.index_file, self.weighting)
            await self._install(current)
        if current.suspect:
            await self._repair(current.suspect)

    async def refreshed(self) -> None:
        """`refresh`, its failures logged: the index in force keeps answering."""
        try:
            await self.refresh()
        except QAError as exc:
            log.warning("%s: could not check for a newer index: %s", self.name, exc)

    async def _install(self, current: source.Current) -> None:
        """Make `current` the index in force; the old one is freed off the event loop."""
        previous, self._index = [self._index], current.index
        self._generation, self._mapped, self._saved = current.generation, current.mapped, current.file
        self._suspect.update(current.suspect)
        self._note_index_warning(current.warning)
        self.bytes = memory_bytes(current.index)
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
        now = persist.file_id(self.index_file)
        return now is not None and now[:2] == self._mapped[:2] and now != self._mapped

    def check_database(self) -> None:
        """Note (once, in the log and for /stats) a database file deleted or replaced under the collection:
        SQLite keeps writing to the file it opened, which nothing will find again."""
        found = persist.file_id(self.store.path)
        if self._database is None or (found is not None and found[:2] == self._database):
            return
        if "database" not in self.problems:
            self.problems["database"] = (
                "The database file was deleted or replaced while the bot runs: questions and feedback "
                "recorded since are lost when it stops. Restart the bot to start a new database."
            )
            log.error("the database %s was %s while in use: what is recorded from now on is lost at exit; "
                      "restart to recreate it", self.store.path, "deleted" if found is None else "replaced")

    def _note_index_warning(self, warning: str | None) -> None:
        """Keep (or clear) the warning of the last save of the index, for /stats."""
        if warning:
            self.problems["index"] = warning
        else:
            self.problems.pop("index", None)

    async def reindex(self, progress: ProgressCallback | None = None, wait: bool = False, reason: str = "reindex",
                      prepare: Callable[[], Awaitable[object]] | None = None) -> ReindexReport:
        """Bring the index up to the folder: store written in one transaction, then the index swapped. On any
        failure the store and the index in force are left as they were. A reindex already running raises
        BusyError, unless `wait` (the folder watcher), which waits for it and then looks again. `prepare`
        changes the folder first, under the same lock (files added or removed): no other reindex (the
        watcher's) indexes half of the change and leaves this one's report without it."""
        if self._reindex_lock.locked() and not wait:
            raise BusyError("A reindex is already running; try again when it has finished.")
        async with self._reindex_lock, self._switch_lock:
            if prepare is not None:
                await prepare()
            with collector_paused():
                report = await self._reindex(progress)
        level = logging.INFO if report.modified or reason == "reindex" else logging.DEBUG
        log.log(level, "%s: %s: %d added, %d changed, %d removed, %d skipped in %.2fs", reason, self.name,
                len(report.added), len(report.changed), len(report.removed), len(report.skipped), report.seconds)
        return report

    def mark_suspect(self, ids: tuple[str, ...]) -> None:
        """Documents whose stored passages failed their digest: the next reindex reads them again."""
        self._suspect.update(ids)

    async def _hands_over(self) -> bool:
        """Whether the reindex can run in a process of its own: enabled, a large collection, and the index in
        force is the saved one of the store's generation (which the child loads as its own) and of this
        release's readers."""
        if not self.reindex_elsewhere or len(self._index) < reindex_process.MIN_PASSAGES or self._saved is None:
            return False
        if persist.file_id(self.index_file) != self._saved or not isinstance(self.store.path, Path):
            return False
        return (await self.store.generation() == self._generation
                and await self.store.get_meta("reader_version") == READER_VERSION)

    async def _reindex_in_process(self, progress: ProgressCallback | None) -> ReindexReport:
        """The reindex run by a child process (see reindex_process); then the saved index of the store's new
        generation is served here."""
        started = time.perf_counter()
        job = reindex_process.Job(self.name, self.shown, self.docs.absolute(), self.store.path.absolute(),
                                  self.index_file.absolute(), self.weighting, self.allow_empty,
                                  tuple(sorted(self._suspect)))
        report = await reindex_process.run(job, progress)
        if await self.store.generation() != self._generation or persist.file_id(self.index_file) != self._saved:
            await self._install(await source.current(self.store, self.index_file, self.weighting))
        self._suspect -= {*report.changed, *report.removed}
        warnings = (*report.warnings, *([self.problems["index"]] if "index" in self.problems else []))
        return timed_report(replace(report, warnings=tuple(dict.fromkeys(warnings))), self._index, started)

    async def _reindex(self, progress: ProgressCallback | None) -> ReindexReport:
        """The reindex itself, under the locks. The folder is compared with the store (what to write) and
        with the index in force (what changes for those who ask, and so the report): after a reindex by
        another process the two differ."""
        if await self._hands_over():
            return await self._reindex_in_process(progress)
        started = time.perf_counter()
        say = progress or (lambda _msg: None)
        say(f"Reading {self.shown} …")
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
        if not documents and (self._index.passages or stored) and not self.allow_empty:
            raise DocumentsError(
                f"The documents folder {str(self.docs)!r} has no usable documents; the index was kept."
            )
        say(f"Indexing {len(report.added) + len(report.changed)} new or changed documents …")

        def tick(done: int, total: int) -> None:
            say(f"Indexed {done:,} of {total:,} …")

        if to_store.modified or (not self._index.passages and documents):
            previous = None if outdated else self._index  # older readers' passages cannot be reused
            index = await asyncio.to_thread(build, documents, previous, self.weighting, progress=tick)
            fresh = {*to_store.added, *to_store.changed}
            upserts = [d for d in documents if d.id in fresh]
            rows = [index.passages[i] for d in upserts for i in index.passages_of(d.id)]
            lock = persist.WriteLock(self.index_file)
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
                made = await asyncio.to_thread(source.saved_from, handed, self.index_file, True)
            finally:
                lock.release()
            # Another process's reindex committed between our reading of the store and our writing: the
            # store now holds a mix, and the index built from the folder is not known to be it.
            consistent = after == generation + (1 if to_store.modified else 0)
            await self._install(replace(made, generation=after if consistent else generation))
            self._suspect -= {*to_store.changed, *to_store.removed}
        elif report.modified:  # the store holds the folder already (another process reindexed): serve it
            await self._note_skipped(skipped, [documents])
            del documents
            await self._install(await source.current(self.store, self.index_file, self.weighting))
        else:  # nothing indexed changed: the index in force (and its file) stay
            await self._note_skipped(skipped, [documents])
            del documents
        warning = self.problems.get("index")
        return timed_report(replace(report, warnings=(warning,) if warning else ()), self._index, started)

    async def _note_skipped(self, skipped: list[Any], handed: list[Any]) -> None:
        """Record what was skipped and that this release's readers read the folder; free what `handed` holds
        in a worker thread."""
        await self.store.replace_documents([], [], [], skipped)
        await self.store.set_meta("reader_version", READER_VERSION)
        await asyncio.to_thread(source.drop, handed)
