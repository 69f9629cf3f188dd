"""A reindex in a process of its own, at a lower CPU priority, for large collections.

Why: a reindex reads the folder, builds, weighs, writes the store and saves the index, in worker threads
of the serving process; much of that holds the GIL, in C calls of up to 135 ms (bench/load.py), so the
event loop stalled with it, and it took a core's worth of CPU from the answers. In a child process it holds
a GIL of its own, and at `NICE` the answers come first when the cores are busy.

The child is what another process reindexing the same database already is (README, "one truth across
processes"): it opens the store and the saved index (which the parent serves: `Collection` hands a
reindex over only then), reindexes exactly as in-process (the same code: the store in one transaction,
the index saved to a new version and its link renamed over the old one), and reports. The parent then
serves the saved index of the store's new generation. Every guarantee holds as it holds in-process: a
failure leaves the store and the saved index as they were, and the parent serving the old index; a
cancelled reindex kills the child, whose uncommitted transaction is rolled back by SQLite (what it had
committed, the parent serves at its next look, like any other process's reindex).

Protocol: the job (pickled) on the child's stdin; on its stdout one line per progress message
(`P <text>`), then `R <report>` or `E <error>` (pickled, base64). Its logs go to the parent's stderr."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import QAError, StoreError
from .index import Weighting
from .reindex import ReindexReport

log = logging.getLogger(__name__)

NICE = 10  # the child's niceness: under full load it gets about a tenth of what an answering process gets
MIN_PASSAGES = 20_000  # smaller collections reindex in well under a second in-process: no process needed
_LINE_LIMIT = 1 << 28  # the report line lists every document (its `unchanged`): 10,000 ids are ~200 KB


@dataclass(frozen=True, slots=True)
class Job:
    """What the child needs to reindex a collection as its parent would."""

    name: str
    shown: str  # how progress names the folder
    docs: Path  # every path absolute
    db: Path
    index_file: Path
    weighting: Weighting
    allow_empty: bool
    suspect: tuple[str, ...]


async def run(job: Job, progress: Any) -> ReindexReport:
    """Reindex in a child process, relaying its progress messages; its error raised here (the same class
    when it can be, else StoreError). Cancelled, the child is killed and waited for."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "retrieval.reindex_process", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, limit=_LINE_LIMIT,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(pickle.dumps(job))
        await child.stdin.drain()
        child.stdin.close()
        outcome: tuple[str, Any] | None = None
        async for line in child.stdout:
            kind, _, body = line.decode().rstrip("\n").partition(" ")
            if kind == "P" and progress is not None:
                progress(body)
            elif kind in ("R", "E"):
                outcome = (kind, pickle.loads(base64.b64decode(body)))  # noqa: S301 — our own child's bytes
        code = await child.wait()
    except BaseException:
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    if outcome is None:
        raise StoreError(f"The reindex process ended without a report (exit code {code}); nothing was changed.")
    if outcome[0] == "E":
        raise outcome[1]
    report: ReindexReport = outcome[1]
    return report


def _emit(kind: str, body: str) -> None:
    """One protocol line on stdout."""
    sys.stdout.write(f"{kind} {body}\n")
    sys.stdout.flush()


def _encoded(value: object) -> str:
    """A value as one line: pickled, base64."""
    return base64.b64encode(pickle.dumps(value)).decode()


async def _reindex(job: Job) -> ReindexReport:
    """The child's reindex: the collection opened from its store and saved index, reindexed in-process."""
    from .collection import Collection  # here: collection imports this module
    from .store import SQLiteStore

    collection = await Collection.open(job.name, job.docs, job.index_file, lambda: SQLiteStore.open(job.db),
                                       job.weighting, allow_empty=job.allow_empty)
    try:
        collection.shown = job.shown
        collection.mark_suspect(job.suspect)
        return await collection.reindex(lambda msg: _emit("P", msg.replace("\n", " ")))
    finally:
        await collection.close()


def main() -> None:
    """The child: read the job, reindex, report."""
    os.nice(NICE)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (reindex process): %(message)s")
    job: Job = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 — written by our parent
    try:
        report = asyncio.run(_reindex(job))
    except QAError as exc:
        try:
            _emit("E", _encoded(exc))
        except Exception:  # an error that does not pickle: its message, as a store error
            _emit("E", _encoded(StoreError(str(exc))))
        return
    _emit("R", _encoded(report))


if __name__ == "__main__":
    main()
