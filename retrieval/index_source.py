"""Where the index a service serves comes from: the saved index, every checksum verified, when it matches
the store; else built from the store's passages that match their digests, and saved. Functions that
read, build or save run in worker threads (the service calls them through `asyncio.to_thread`); the
async one only waits for them."""

from __future__ import annotations

import asyncio
import glob
import logging
from collections.abc import Awaitable
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import kernel, persist
from .errors import IndexDamagedError, IndexFileError
from .index import Index, Weighting
from .model import Document
from .persist import fingerprint
from .store import Checked, DocumentStore, document_heads

log = logging.getLogger(__name__)


def index_path(db: Path) -> Path:
    """Where the index arrays are kept, beside the database: a link to the version folder in force."""
    return db.with_name(db.name + ".index")


def _remove_previous_release(path: Path) -> None:
    """The previous release's index file (one `.npz` beside the database), its lock and temporary files: it
    is never read (the first start of this release builds the index from the store) and goes once this
    release's index is saved."""
    old = path.with_name(path.name + ".npz")
    found = [old, *old.parent.glob(glob.escape(old.name) + ".*")]
    for stale in found:
        with suppress(OSError):
            stale.unlink()
    if old in found and not old.exists():
        log.info("removed the previous release's index file %s: the index is now the folder %s", old, path)


@dataclass(frozen=True, slots=True)
class Current:
    """The index of the store's documents, what generation of the store it shows, the saved index it maps
    (None when its arrays are in memory), and stored documents found damaged (left out: re-read them)."""

    index: Index
    generation: int
    mapped: persist.FileId | None = None
    suspect: tuple[str, ...] = ()
    warning: str | None = None
    file: persist.FileId | None = None  # the saved index it was loaded from, mapped or not (None: memory only)


@dataclass(frozen=True, slots=True)
class Read:
    """The verified arrays of the saved index (None if it cannot be used, and why), and the identity of the
    file they came from."""

    arrays: dict[str, np.ndarray] | None
    file: persist.FileId | None = None
    error: IndexFileError | None = None


def read_file(path: Path) -> Read:
    """The saved index's arrays, every checksum verified (the costly part of a start, so `open` runs it while
    the database is being opened)."""
    for _attempt in range(3):  # a writer may rename a new file over the index while it is being read
        before = persist.file_id(path)
        try:
            arrays = persist.read(path)
        except IndexFileError as exc:
            return Read(None, before, exc)
        if persist.file_id(path) == before:
            return Read(arrays, before)
    return Read(None, None, IndexFileError("the saved index kept changing while it was read"))


@dataclass(frozen=True, slots=True)
class Loaded:
    """A saved index loaded: the index, the file it maps (None if it maps none) and the file it came from."""

    index: Index
    mapped: persist.FileId | None
    file: persist.FileId | None


def load(path: Path, documents: list[Document], weighting: Weighting, read: Read | None = None) -> Loaded | None:
    """The saved index (of `read`, else read now) when it matches the stored documents and its checksums,
    with the identity of the file it maps and of the one it came from; else None, and the reason logged."""
    read = read or read_file(path)
    try:
        if read.arrays is None:
            raise read.error or IndexFileError("no arrays")
        index = persist.index_of(read.arrays, path, documents, fingerprint(documents), weighting)
    except IndexDamagedError as exc:
        log.warning("%s Building the index from the store instead.", exc)
        return None
    except IndexFileError as exc:
        log.info("building the index from the store: %s", exc)
        return None
    kernel.warm_up(len(index))  # numba imported and its kernel loaded now if this index needs them
    return Loaded(index, read.file if persist.is_mapped(index) else None, read.file)


def load_version(path: Path, file: persist.FileId, db: Path, weighting: Weighting) -> Index | None:
    """The saved index version `file` at `path`, which this machine's service verified, loaded by another of
    its processes: the documents read from the store at `db`, the checksums not computed again (the same
    bytes, through the same page cache); None when the file or the store holds another version now."""
    if persist.file_id(path) != file:
        return None
    documents = document_heads(db)
    try:
        arrays = persist.read(path, verify=False)
        if persist.file_id(path) != file:  # a writer renamed another version in meanwhile
            return None
        index = persist.index_of(arrays, path, documents, fingerprint(documents), weighting)
    except IndexFileError:  # gone, or the store moved on to other documents (a reindex committed)
        return None
    kernel.warm_up(len(index))
    return index


def saved(index: Index, path: Path, documents: list[Document], locked: bool = False) -> Current:
    """Save the index and serve it from the file: its passages are then a table, not a Python object
    each, which the garbage collector's full passes would otherwise scan (holding the GIL). A failed save
    (a full disk) leaves no partial folder and the saved index as it was; the built index is then served
    and the failure logged and returned as a warning (without the server's paths)."""
    if not len(index):
        return Current(index, 0)
    corpus = fingerprint(documents)
    try:
        persist.save(index, path, corpus, locked=locked)
    except OSError as exc:
        log.error("could not save the index to %s: %s", path, exc)
        return Current(index, 0, warning=f"The index could not be saved ({exc.strerror or exc}): it is "
                        "served from memory and will be rebuilt from the database at the next start.")
    _remove_previous_release(path)
    # Titles, dates and hashes are all an index needs of its documents: their text is in the passages.
    loaded = load(path, [replace(d, paragraphs=()) for d in documents], index.weighting)
    if loaded is None:
        return Current(index, 0, warning="The saved index could not be read back: it is served from memory.")
    return Current(loaded.index, 0, loaded.mapped, file=loaded.file)


def saved_from(handed: list[Any], path: Path, locked: bool) -> Current:
    """`_saved` of the [index, documents] in `handed`, emptied first: the built objects are then freed
    here, in the worker thread, once the saved index is loaded."""
    index, documents = handed
    handed.clear()
    return saved(index, path, documents, locked)


def built_from(handed: list[Checked], path: Path, weighting: Weighting) -> Current:
    """The index of the sound stored passages in `handed` (emptied first, so they are freed in this worker
    thread), saved; the caller holds the index's write lock."""
    checked = handed.pop()
    index = Index.build(checked.documents, checked.passages, weighting)
    made = saved(index, path, checked.documents, locked=True)
    return replace(made, generation=checked.generation, suspect=(*checked.damaged, *checked.unverified))


async def current(store: DocumentStore, path: Path, weighting: Weighting,
                   reading: Awaitable[Read] | None = None) -> Current:
    """The index of what the store holds now: the saved file when it matches (checksums included; `reading`:
    the file already being read), else built from the store's passages that match their digests, and
    saved. Reads and builds run in worker threads; the event loop only waits."""
    generation = await store.generation()  # before the documents: a reindex meanwhile makes it look stale
    documents = await store.documents(text=False)
    read = await (reading if reading is not None else asyncio.to_thread(read_file, path))
    loaded = await asyncio.to_thread(load, path, documents, weighting, read)
    if loaded is not None:
        return Current(loaded.index, generation, loaded.mapped, file=loaded.file)
    lock = persist.WriteLock(path)
    await asyncio.to_thread(lock.acquire)  # another process may be saving this very index: wait for it
    try:
        if persist.file_id(path) != read.file:  # written meanwhile: perhaps the very index wanted
            generation = await store.generation()
            documents = await store.documents(text=False)
            loaded = await asyncio.to_thread(load, path, documents, weighting)
            if loaded is not None:
                return Current(loaded.index, generation, loaded.mapped, file=loaded.file)
        checked = await store.checked()
        if checked.damaged:
            log.error("stored passages of %s do not match their digests: left out until they are re-read "
                      "from the documents folder", ", ".join(checked.damaged))
        return await asyncio.to_thread(built_from, [checked], path, weighting)
    finally:
        lock.release()


def drop(handed: list[Any]) -> None:
    """Free what `handed` holds in this (worker) thread: its last references die here."""
    handed.clear()
