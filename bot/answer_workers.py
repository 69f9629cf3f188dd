"""Answering in worker processes that load the very index the service serves from its saved file.

Why processes: an answer holds the GIL for most of its time, so threads answer on one core's worth at most,
and the event loop (the Discord heartbeat with it) waits for the GIL behind them: bench/load.py measured
loop lag of 27 ms p50, 82 ms max with two answering threads, and every syscall of the loop (a stat, a
socket read) paid a wait for the GIL. A worker process has a GIL of its own.

What crosses: the question, the conversation's recent turns and what was just quoted (the conversation stays
in the service), and the identity of the saved index version in force (`Collection.saved`: path and file id)
with its store's path. A worker loads that version itself the first time it is asked about it, and keeps a
few: the arrays mapped from the file (the page cache is shared; their checksums are not computed again: the
service verified this very version), the documents' titles, dates and hashes read from the store. Nothing
large crosses the pipe: sent by the service, the 100,000 documents of a 1M-passage index stalled its event
loop 0.3-0.7 s while the workers started (bench/scale.py --startup-only). A version a worker cannot load as
that very one (the file or the store moved on) is refused, and the service answers in its own thread, as it
does for an index served from memory only, for a small one (QA_ANSWER_MIN_PASSAGES), while the workers start,
and when one dies. The answers are the same either way: the engine is one pure function of these arguments.

When they start: after the service has answered its first question about a large index, not when it opens:
started with it, two workers importing the engine and loading a 1M-passage index shared the two cores with
the first answer (0.46-1.1 s against 0.31-0.33 s without them, on a busy machine); started after it, they
also find numba's disk cache filled by that answer instead of compiling the same kernels beside it."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import multiprocessing
import multiprocessing.connection as mpc
import signal
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

from retrieval import index_source as source
from retrieval import kernel, persist
from retrieval.answer import AnswerSettings, answer, warm_up
from retrieval.index import Index, Weighting
from retrieval.links import with_links
from retrieval.model import Answer, Document, Quote
from retrieval.structure import Mark

log = logging.getLogger(__name__)

MIN_PASSAGES = 20_000  # smaller indexes answer in a few ms in the service's thread: a process is not worth it
KEEP_INDEXES = 4  # saved versions a worker keeps loaded (the default collection and recent servers' ones)
IN_FLIGHT = 2  # questions queued per worker: one answering, one waiting in its pipe, so it never idles
RESTART_SECONDS = 30.0  # after a worker died, how long before another is started in its place

Key = tuple[str, persist.FileId, str]  # a saved index version: its path and file id, and its store's path
REFUSED = 16  # versions remembered as refused (their file or store moved on): not asked for again


class AnswerWorkers:
    """A few worker processes answering questions; `answer` has the service answer when none can."""

    def __init__(self, processes: int, min_passages: int = MIN_PASSAGES) -> None:
        self.processes = processes
        self.min_passages = min_passages
        if processes > 0:
            register_reducers()
        self._workers: list[_Worker] = []
        self._starting: asyncio.Task[None] | None = None
        self._last_start = -RESTART_SECONDS
        self._closed = False
        self._waiting: deque[asyncio.Future[None]] = deque()  # questions waiting for a free worker, in order
        self._preload: tuple[Key, Weighting] | None = None  # what `warm` has each new worker load first
        self._refused: deque[Key] = deque(maxlen=REFUSED)  # versions the workers could not load as such
        self.answered = 0  # questions the workers answered (tests and bench/load.py read it)

    async def answer(self, saved: tuple[Path, persist.FileId] | None, store: Path, index: Index, question: str,
                     history: Sequence[str], settings: AnswerSettings, quoted: tuple[str, ...],
                     links: tuple[str | None] | None, here: Callable[[], Awaitable[Answer]]) -> Answer:
        """The answer from a worker process, else from `here` (the service's thread; see the module's
        docstring). `saved`: the index's saved version, `store`: the path of the store it shows."""
        key: Key | None = None if saved is None else (str(saved[0]), saved[1], str(store))
        if self.processes <= 0 or self._closed or key is None or key in self._refused or len(index) < self.min_passages:
            return await here()
        worker = await self._free_worker()
        if worker is None:
            result = await here()
            self._start_soon()  # after the answer, not competing with it (at start: the first answer)
            return result
        for _attempt in range(2):
            if not await self._loaded(worker, key, index.weighting):
                break  # the file or store holds another version now (or the worker died)
            reply = await worker.ask(("ask", key, question, list(history), settings, quoted, links))
            if reply is None or reply[0] == "failed":
                break  # died, or the engine raised: answered here, where the error is raised again
            if reply[0] == "ok":
                self.answered += 1
                result = reply[1]
                return result
            worker.keys.discard(key)  # "need": it let that version go (it keeps KEEP_INDEXES)
        return await here()

    async def _loaded(self, worker: _Worker, key: Key, weighting: Weighting) -> bool:
        """Whether the worker has the version `key` loaded, having it load it (once) if need be."""
        if key in worker.keys:
            return True
        if key in self._refused:
            return False
        loading = worker.loading.get(key)
        if loading is None:
            loading = worker.loading[key] = asyncio.ensure_future(self._load(worker, key, weighting))
        return await asyncio.shield(loading)

    async def _load(self, worker: _Worker, key: Key, weighting: Weighting) -> bool:
        """Have the worker load version `key` (from the file and the store: a message of a few hundred
        bytes); a version it refuses is remembered, so no later question waits for it to refuse it again."""
        try:
            reply = await worker.ask(("load", key, weighting))
            if reply is not None and reply[0] == "ok":
                worker.keys.add(key)
                return True
            if reply is not None and key not in self._refused:
                self._refused.append(key)
            return False
        finally:
            worker.loading.pop(key, None)

    @property
    def largest_message(self) -> int:
        """The largest request (pickled bytes) sent to a worker running now: a question, never an index."""
        return max((w.largest_sent for w in self._workers), default=0)

    async def _free_worker(self) -> _Worker | None:
        """The least busy worker with room, waiting in line for one; None when none runs (yet)."""
        while True:
            self._workers = [w for w in self._workers if w.alive]
            if self._workers and len(self._workers) < self.processes:
                self._start_soon()  # one died: its replacement (when none runs, `answer` starts them)
            if not self._workers:
                return None
            ready = [w for w in self._workers if len(w.pending) < IN_FLIGHT]
            if ready:
                return min(ready, key=lambda w: len(w.pending))
            # Woken one at a time, as replies free room: waking every waiter per reply cost the loop more
            # than the reply itself.
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._wake(1)  # the turn given to this cancelled caller goes to the next one
                raise

    def _wake(self, count: int | None) -> None:
        """Give `count` waiting questions (None: all, when a worker died) their turn to look for room."""
        while self._waiting and (count is None or count > 0):
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                count = None if count is None else count - 1

    def warm(self, index: Index, saved: tuple[Path, persist.FileId] | None, store: Path) -> None:
        """Have each worker, once started, load `index` (saved as `saved`, of the store at `store`) first, if
        it is one they would answer about: their first questions then do not wait for it. They start after
        the first answer (see the module's docstring)."""
        if self.processes > 0 and not self._closed and saved is not None and len(index) >= self.min_passages:
            self._preload = ((str(saved[0]), saved[1], str(store)), index.weighting)

    async def started(self) -> int:
        """Start the workers now if none runs (or is starting) yet, and wait for them; how many run."""
        if self.processes > 0 and not self._closed and not self._workers:
            self._start_soon()
        if self._starting is not None:
            await asyncio.wait({self._starting})
        return sum(w.alive for w in self._workers)

    def _start_soon(self) -> None:
        """Start the missing workers in the background (not more often than RESTART_SECONDS)."""
        if self._closed or self._starting is not None or time.monotonic() - self._last_start < RESTART_SECONDS:
            return
        self._last_start = time.monotonic()
        self._starting = asyncio.create_task(self._start(self.processes - len(self._workers)))

    async def _start(self, count: int) -> None:
        """Start `count` workers; each serves once it has warmed up (the first answers come from here)."""
        try:
            for _ in range(count):
                if self._closed:
                    return
                worker = await asyncio.to_thread(_Worker.spawn, self._wake)  # spawning waits for the child to exec
                if self._closed or not await worker.ready():
                    worker.stop()
                    continue
                worker.listen(asyncio.get_running_loop())
                if self._preload is not None:
                    await self._loaded(worker, *self._preload)
                self._workers.append(worker)
        except Exception:
            log.exception("could not start an answering process; answering in threads")
        finally:
            self._starting = None

    async def close(self) -> None:
        """Stop every worker (questions they hold are answered by their callers)."""
        self._closed = True
        if self._starting is not None:
            self._starting.cancel()
            await asyncio.wait({self._starting})
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()
        self._wake(None)
        await asyncio.to_thread(_join, workers)


def _join(workers: Sequence[_Worker]) -> None:
    """Wait for stopped workers to exit; kill any that does not within a few seconds."""
    for worker in workers:
        worker.process.join(5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()


class _Worker:
    """One answering process and the parent's end of its pipe; replies come back in the order asked."""

    def __init__(self, process: BaseProcess, conn: mpc.Connection, freed: Callable[[int | None], None]) -> None:
        self.process = process
        self.conn = conn
        self._freed = freed  # told how many questions it made room for (None: it died, room for all)
        self.pending: deque[asyncio.Future[tuple[Any, ...] | None]] = deque()
        self.keys: set[Key] = set()  # versions it has loaded
        self.loading: dict[Key, asyncio.Future[bool]] = {}  # versions it is loading
        self.largest_sent = 0  # bytes of the largest request sent to it
        self.alive = True
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def spawn(cls, freed: Callable[[int | None], None]) -> _Worker:
        """Start a worker process (spawned, not forked: the parent has threads and an event loop)."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(child,), name="qa-bot: answering", daemon=True)
        process.start()
        child.close()
        return cls(process, parent, freed)

    async def ready(self) -> bool:
        """Wait (in a thread) for the worker's "ready"; False if it died first."""
        def wait() -> bool:
            try:
                return bool(self.conn.recv() == ("ready",))
            except (EOFError, OSError):
                return False
        return await asyncio.to_thread(wait)

    def listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read replies on the event loop as they come (no thread: nothing in this process takes the GIL)."""
        self._loop = loop
        loop.add_reader(self.conn.fileno(), self._readable)

    def ask(self, request: tuple[Any, ...]) -> asyncio.Future[tuple[Any, ...] | None]:
        """Send a request; the future gets the reply, or None if the worker dies first."""
        assert self._loop is not None
        future: asyncio.Future[tuple[Any, ...] | None] = self._loop.create_future()
        try:
            message = ForkingPickler.dumps(request)  # what `conn.send` would write: its size is kept
            self.largest_sent = max(self.largest_sent, len(message))
            self.conn.send_bytes(message)
        except (OSError, ValueError):
            self._died()
            future.set_result(None)
            return future
        self.pending.append(future)
        return future

    def _readable(self) -> None:
        """Hand each complete reply to the oldest question waiting."""
        replies = 0
        try:
            while self.pending and self.conn.poll():
                reply = self.conn.recv()
                future = self.pending.popleft()
                replies += 1
                if not future.done():
                    future.set_result(reply)
        except (EOFError, OSError):
            self._died()
        else:
            if not self.pending and not replies and self.conn.poll():
                # Readable with nothing asked: the pipe closed (the worker died).
                self._died()
        self._freed(replies)

    def _died(self) -> None:
        """The worker is gone (killed, or its mapped file cut under it): its questions go back to the callers."""
        if not self.alive:
            return
        self.alive = False
        log.warning("an answering process ended (exit code %s); its questions are answered here",
                    self.process.exitcode)
        self._unlisten()
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_result(None)
        self._freed(None)

    def _unlisten(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.conn.fileno())
        self._loop = None

    def stop(self) -> None:
        """Ask the worker to exit (it finishes the question in hand); its waiting callers answer themselves."""
        self._unlisten()
        self.alive = False
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_result(None)
        self.conn.close()


def answer_linked(index: Index, question: str, history: Sequence[str], settings: AnswerSettings,
                  quoted: tuple[str, ...], links: tuple[str | None] | None) -> Answer:
    """The engine's answer, its quotes linked to their source (`links`: (QA_SOURCE_URL,)) when asked: the
    whole answer made off the event loop, in a worker process or a thread."""
    result = answer(index, question, history, settings, quoted)
    if links is not None and result.quotes:
        result = replace(result, quotes=tuple(with_links(q, links[0]) for q in result.quotes))
    return result


def register_reducers() -> None:
    """Pickle the records that cross the pipe as their fields' values, by position: the dataclasses' own
    state pickling (a dict of fields, `fields()` looked up for each object) cost the service ~0.1 ms an
    answer. Done in both processes; idempotent."""
    for cls in (Answer, Quote, Mark, Document, AnswerSettings):
        names = tuple(f.name for f in dataclasses.fields(cls))
        ForkingPickler.register(cls, functools.partial(_reduce, names))


def _reduce(names: tuple[str, ...], obj: object) -> tuple[type, tuple[Any, ...]]:
    """A dataclass as (its class, its fields' values in order): unpickled by calling the class."""
    return type(obj), tuple(getattr(obj, name) for name in names)


# --- the worker process ----------------------------------------------------------------------------------


def serve(conn: mpc.Connection) -> None:
    """A worker's main loop: answer each request from the saved index version it names, until told to stop
    (None) or the service's end of the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle; it stops the workers
    register_reducers()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (answering process): %(message)s")
    kernel.warm_up()
    indexes: OrderedDict[Key, Index] = OrderedDict()
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        try:
            conn.send(_reply(indexes, request))
        except (BrokenPipeError, EOFError):
            return  # the service stopped meanwhile


def _reply(indexes: OrderedDict[Key, Index], request: tuple[Any, ...]) -> tuple[Any, ...]:
    """To ("load", key, weighting): ("ok",), or ("stale",) when the file or the store holds another version now.
    To ("ask", key, question, history, settings, quoted): ("ok", answer); ("need",) when that version is
    not loaded; ("failed",) when the engine raised (the service answers, and raises the error itself)."""
    if request[0] == "load":
        _, key, weighting = request
        found = _load(key, weighting)
        if found is None:
            return ("stale",)
        warm_up(found)  # before it serves: the first questions then wait for no table, model or page
        indexes[key] = found
        indexes.move_to_end(key)
        while len(indexes) > KEEP_INDEXES:
            indexes.popitem(last=False)
        return ("ok",)
    _, key, question, history, settings, quoted, links = request
    index = indexes.get(key)
    if index is None:
        return ("need",)
    indexes.move_to_end(key)
    try:
        return ("ok", answer_linked(index, question, history, settings, quoted, links))
    except Exception:
        return ("failed",)


def _load(key: Key, weighting: Weighting) -> Index | None:
    """The saved index version `key` names, if its file and store still hold that version."""
    try:
        return source.load_version(Path(key[0]), key[1], Path(key[2]), weighting)
    except (OSError, sqlite3.Error) as exc:  # the store cannot be read here: the service answers
        log.warning("could not load the index %s: %s", key[0], exc)
        return None
