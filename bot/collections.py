"""Which collection serves a Discord server, and how many stay in memory.

The default collection (QA_DOCS and QA_DB) is always loaded. A server's own lives under the data
directory, `guilds/<guild id>/docs/` beside its own database and index file; it is loaded on first use
and unloaded, least recently used first, when the loaded collections' estimated size passes the memory
budget (QA_MEMORY_MB). Never unloaded: the default, and a collection in the middle of a reindex, a swap
or a request."""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
import sqlite3
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path

from retrieval.collection import Collection, ProgressCallback, SourceInfo
from retrieval.errors import NoCollectionError
from retrieval.index import Weighting
from retrieval.index_source import index_path
from retrieval.store import DocumentStore, SQLiteStore

log = logging.getLogger(__name__)

DATABASE_NAME = "qa.sqlite3"
FILES_PER_COLLECTION = 4  # a loaded collection holds its database, its -wal and -shm files, and a spare


def loadable() -> int:
    """How many servers' collections may be loaded at once within the open-file limit (most systems
    default to 1,024 files a process), half of it left to Discord's connections and the rest."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, (soft if soft != resource.RLIM_INFINITY else 65536) // 2 // FILES_PER_COLLECTION)


def guild_label(guild: int) -> str:
    """How logs name a server's collection."""
    return f"server {guild}"


class Collections:
    """The default collection and the servers' own, loaded on demand within a memory budget."""

    def __init__(self, default: Collection, data_dir: Path, weighting: Weighting = Weighting(),
                 budget_bytes: int | None = None,
                 open_store: Callable[[Path], Awaitable[DocumentStore]] = SQLiteStore.open,
                 reindex_elsewhere: bool = False) -> None:
        self.default = default
        self.reindex_elsewhere = reindex_elsewhere  # QA_REINDEX_PROCESS, for servers' collections too
        self.root = data_dir / "guilds"
        self.weighting = weighting
        self.budget_bytes = budget_bytes  # None: no limit
        self.max_loaded = loadable()
        self._open_store = open_store
        self._loaded: OrderedDict[int, Collection] = OrderedDict()  # least recently used first
        self._loading: dict[int, asyncio.Future[Collection]] = {}
        self.loads = 0  # how many times a server's collection was loaded (bench/collections.py reads it)
        self.unloads = 0

    # --- where a server's collection lives ----------------------------------------------------------------

    def folder(self, guild: int) -> Path:
        """The documents folder of a server's own collection."""
        return self.root / str(int(guild)) / "docs"

    def database(self, guild: int) -> Path:
        """The database of a server's own collection (its index file is beside it)."""
        return self.root / str(int(guild)) / DATABASE_NAME

    def has(self, guild: int) -> bool:
        """Whether a server has a collection of its own (its folder exists)."""
        return guild in self._loaded or self.folder(guild).is_dir()

    def guild_of(self, path: Path) -> int | None:
        """The server whose documents folder holds `path`, or None."""
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return None
        if len(parts) >= 3 and parts[0].isdigit() and parts[1] == "docs":
            return int(parts[0])
        return None

    # --- loading and unloading ----------------------------------------------------------------------------

    @property
    def loaded(self) -> list[Collection]:
        """The default collection and the servers' loaded ones."""
        return [self.default, *self._loaded.values()]

    def peek(self, guild: int | None) -> Collection | None:
        """The collection that serves `guild` if it is in memory now (the default for None or a server
        without its own), else None."""
        if guild is None or not self.has(guild):
            return self.default
        return self._loaded.get(guild)

    async def serving(self, guild: int | None) -> Collection:
        """The collection that serves `guild`: its own once it has one (loaded if need be), else the default."""
        if guild is None or not self.has(guild):
            return self.default
        return await self.own(guild)

    async def own(self, guild: int, progress: ProgressCallback | None = None) -> Collection:
        """A server's own collection, loaded if need be (and created, empty, if its folder is new)."""
        if not self.has(guild):
            raise NoCollectionError("This server has no documents of its own yet: it uses the default ones.")
        while True:
            found = self._loaded.get(guild)
            if found is not None:
                self._loaded.move_to_end(guild)
                return found
            loading = self._loading.get(guild)
            if loading is None:
                loading = self._loading[guild] = asyncio.ensure_future(self._load(guild, progress))
                loading.add_done_callback(functools.partial(self._loaded_or_failed, guild))
            collection = await asyncio.shield(loading)
            if not collection.closed:  # unloaded between its load and this waiter's turn: load again
                return collection

    def _loaded_or_failed(self, guild: int, _done: object) -> None:
        """A load has finished (or failed): the next request for it looks in the loaded ones (or tries again)."""
        self._loading.pop(guild, None)

    async def _load(self, guild: int, progress: ProgressCallback | None) -> Collection:
        """Open a server's collection and make room for it."""
        db = self.database(guild)
        collection = await Collection.open(guild_label(guild), self.folder(guild), index_path(db),
                                           lambda: self._open_store(db), self.weighting, progress, allow_empty=True,
                                           reindex_elsewhere=self.reindex_elsewhere)
        collection.shown = "the server's documents"
        self._loaded[guild] = collection
        self.loads += 1
        await self.fit(keep=guild)
        return collection

    @asynccontextmanager
    async def using(self, guild: int | None, own: bool = False) -> AsyncIterator[Collection]:
        """The collection serving `guild` (its own only, with `own`), held for the block: not unloaded meanwhile."""
        while True:
            collection = await (self.own(guild) if own and guild is not None else self.serving(guild))
            if not collection.closed:  # no await between this check and the hold
                break
        with collection.held():
            yield collection

    def size(self) -> int:
        """The estimated bytes of every loaded collection, the default included."""
        return sum(c.bytes for c in self.loaded)

    async def fit(self, keep: int | None = None) -> None:
        """Unload idle servers' collections, least recently used first, until the loaded ones fit the budget
        (and the open-file limit)."""
        budget = self.budget_bytes if self.budget_bytes is not None else float("inf")
        total, count = self.size(), len(self._loaded)
        leaving: list[Collection] = []
        for guild, collection in list(self._loaded.items()):
            if total <= budget and count <= self.max_loaded:
                break
            if guild == keep or collection.busy:
                continue
            del self._loaded[guild]
            collection.closed = True  # before any await: a request that finds it now loads it again
            leaving.append(collection)
            total -= collection.bytes
            count -= 1
        for collection in leaving:
            self.unloads += 1
            log.debug("unloading %s (%d KiB) to stay within the memory budget", collection.name,
                      collection.bytes // 1024)
            await collection.close()

    async def unload(self, guild: int) -> bool:
        """Unload a server's collection now if it is loaded and idle; whether it was."""
        collection = self._loaded.get(guild)
        if collection is None or collection.busy:
            return False
        del self._loaded[guild]
        collection.closed = True
        self.unloads += 1
        await collection.close()
        return True

    async def unload_idle(self, seconds: float) -> int:
        """Unload the servers' collections unused for `seconds` (their database connection, its thread and
        their index go); returns how many."""
        now = time.monotonic()
        idle = [g for g, c in self._loaded.items() if now - c.last_used > seconds]
        unloaded = sum([await self.unload(guild) for guild in idle])  # each checked again: it may be in use now
        if unloaded:
            log.debug("unloaded %d servers' collections unused for %.0f s", unloaded, seconds)
        return unloaded

    async def close(self) -> None:
        """Close every collection, the default last."""
        while self._loading:
            await asyncio.gather(*self._loading.values(), return_exceptions=True)
        loaded, self._loaded = list(self._loaded.values()), OrderedDict()
        for collection in loaded:
            await collection.close()
        await self.default.close()

    # --- what a server's collection lists, without loading it ---------------------------------------------

    def stored_sources(self, guild: int) -> list[SourceInfo]:
        """The documents a server's unloaded collection holds, read from its database (small, and this is
        synchronous like `sources`, which autocomplete calls): loading would need the event loop."""
        db = self.database(guild)
        if not db.is_file():
            return []
        try:
            with closing(sqlite3.connect(db, timeout=5)) as connection:
                rows = connection.execute(
                    "SELECT d.id, d.title, d.date, (SELECT count(*) FROM passages p WHERE p.doc_id = d.id) "
                    "FROM documents d ORDER BY d.id"
                ).fetchall()
        except sqlite3.Error as exc:
            log.warning("could not list the documents of %s: %s", guild_label(guild), exc)
            return []
        return [SourceInfo(i, t, d, n) for i, t, d, n in rows]
