"""The index on disk: a folder of `.npy` files (no pickle) holding counts, weights, vocabulary and the
passages, and `index.json` holding the parameters and versions that made them and each array's checksums.

    qa.sqlite3.index                  a symbolic link to the version in force:
    qa.sqlite3.index.versions/<v>/    index.json, counts.npy, weights.npy, text.npy, ...
    qa.sqlite3.index.lock             the writers' lock

Integrity: index.json records the CRC-32 of every array's data, per 32 MiB chunk, and its dtype and shape;
loading recomputes each chunk's (in worker threads) and compares every `.npy` header before anything is
served, and refuses a mismatch as it refuses other settings or arrays that do not fit together.
Writers never change a version in place: each writes a version folder of its own (every file and the
folder fsynced), then points the link at it with one rename, which is atomic; one writer at a time
(`WriteLock`), who then removes the versions no longer in force (a process mapping one keeps its pages:
an unlinked file lives while mapped). A failed write removes its folder and leaves the link as it was.
Why a link: a folder cannot be renamed over a non-empty one (rename(2) fails with ENOTEMPTY), so swapping
folders would take two renames and leave a moment with no index; a link is replaced in one."""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import mmap
import os
import re
import secrets
import shutil
import stat
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext, suppress
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import IndexDamagedError, IndexFileError
from .index import Index, Weighting
from .model import Document
from .passages import MAX_WORDS, PassageTable
from .sentence_table import SentenceTable

# Arrays of at least this many bytes are mapped; smaller ones are read into memory. Every byte is read at
# load anyway (to verify it), so mapping saves no time: it keeps a very large index in the page cache,
# shared between processes, instead of in each process's own memory. A mapped file changed in place
# (truncated, copied over) kills the process that maps it (SIGBUS): README, "Index integrity".
_MAP_FROM = 64 << 20
_CHUNK = 32 << 20  # bytes of an array each recorded CRC-32 covers: what a thread checks at a time
FORMAT = 7  # counts and weights by term sharing one index array; the passages as a table with each
# passage's kind, section, page and inline marks; each passage's sentences, their terms and their flags
CONTAINER = 1  # the folder's layout: index.json and one .npy per array
MANIFEST = "index.json"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # an array's name, which is also its file's


def fingerprint(documents: Sequence[Document]) -> str:
    """A digest of which documents, at which content, an index was built from."""
    digest = hashlib.sha256()
    for d in sorted(documents, key=lambda d: d.id):
        digest.update(f"{d.id}\0{d.content_hash}\n".encode())
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour the arrays depend on."""
    names = ("numpy", "scipy", "scikit-learn", "PyStemmer", "qa-bot")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _params(index_weighting: Weighting, analyser: dict[str, object], corpus: str) -> str:
    """The record that must match for a saved index to be used."""
    return json.dumps(
        {"format": FORMAT, "weighting": asdict(index_weighting), "analyser": analyser, "corpus": corpus,
         "passage_words": MAX_WORDS, "versions": _versions()},
        sort_keys=True,
    )


def save(index: Index, path: Path, corpus: str, *, locked: bool = False) -> None:
    """Write the index's arrays to `path` (see `write_arrays`); `locked`: the caller holds `WriteLock(path)`."""
    write_arrays(path, arrays_of(index, corpus), locked=locked)


def arrays_of(index: Index, corpus: str) -> dict[str, np.ndarray]:
    """Every array a saved index holds, by name (each becomes one member of the archive)."""
    terms = [""] * len(index.vocabulary)
    for term, tid in index.vocabulary.items():
        terms[tid] = term
    passages = index.passages if isinstance(index.passages, PassageTable) else PassageTable.of(index.passages)
    c, w = index.counts, index.weights
    return dict(
        params=np.array(_params(index.weighting, index.analyser.params(), corpus)),
        terms=_blob("\n".join(terms)), indices=c.indices, indptr=c.indptr, counts=c.data, weights=w.data,
        idf=index.idf, **passages.columns(), **index.sentence_table.arrays(),
    )


def write_arrays(path: Path, arrays: dict[str, np.ndarray], *, locked: bool = False) -> None:
    """Save `arrays` as a new version folder (`params` into index.json, the others one `.npy` each, every
    array's checksums recorded), then point the link `path` at it with one rename: a file a process may have
    mapped is never changed in place, and concurrent writers never share a folder. On any failure (a full
    disk) the new folder is removed and the error raised; `path` then still shows the version it showed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with nullcontext(locked) if locked else WriteLock(path) as held:
        if held:
            _remove_stale(path)
        versions = _versions_folder(path)
        versions.mkdir(exist_ok=True)
        folder = versions / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
        link = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            folder.mkdir()
            _write_folder(folder, arrays)
            _fsync_folder(versions)
            os.symlink(os.path.relpath(folder, path.parent), link)
            if path.is_dir() and not path.is_symlink():  # a folder put there by hand: a link cannot replace it
                shutil.rmtree(path)
            os.replace(link, path)
        except BaseException:
            link.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _fsync_folder(path.parent)
        if held:
            _remove_stale(path)  # the version just replaced


def _write_folder(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Each array as `<name>.npy` and index.json, every file fsynced, then the folder itself."""
    manifest: dict[str, Any] = {"container": CONTAINER, "chunk_bytes": _CHUNK, "arrays": {}}
    for name, array in arrays.items():
        if name == "params":
            manifest["params"] = json.loads(str(array))  # readable in index.json; `read` gives the same text back
            continue
        if not _NAME.fullmatch(name) or array.dtype.hasobject:
            raise ValueError(f"cannot save array {name!r} ({array.dtype})")
        array = np.ascontiguousarray(array)
        data = _bytes_of(array)
        with open(folder / f"{name}.npy", "xb") as fh:
            # numpy's own header, then the bytes by a plain write: a full disk then raises OSError(ENOSPC)
            # with its reason, where np.save's tofile says only how many bytes it wrote.
            np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        crcs = [zlib.crc32(data[i:i + _CHUNK]) for i in range(0, max(len(data), 1), _CHUNK)]
        manifest["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape), "crc32": crcs}
    with open(folder / MANIFEST, "x", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_folder(folder)


def _bytes_of(array: np.ndarray) -> memoryview:
    """The data of a C-contiguous array as bytes, without a copy."""
    return array.reshape(-1).view(np.uint8).data


def _fsync_folder(folder: Path) -> None:
    """Make a folder's entries (files created, renamed) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _versions_folder(path: Path) -> Path:
    """The folder holding the versions of the index whose link is `path`."""
    return path.with_name(path.name + ".versions")


def _remove_stale(path: Path) -> None:
    """Versions not in force and links of writers that died mid-save (every writer holds the lock, so none
    is live); a process still mapping a removed version keeps its pages."""
    current = os.path.realpath(path)
    with suppress(OSError):
        for entry in os.scandir(_versions_folder(path)):
            if os.path.realpath(entry.path) != current:
                shutil.rmtree(entry.path, ignore_errors=True)
    for stale in path.parent.glob(f"{glob.escape(path.name)}.*.tmp"):
        with suppress(OSError):  # not ours to insist on: a save never needs these names
            stale.unlink(missing_ok=True)


class WriteLock:
    """The exclusive lock of one saved index (`flock` on a `.lock` file beside it): one writer at a time,
    across processes. `acquire` blocks, so call it in a worker thread; released on close or exit.
    Writers are safe without it (each has its own temporary file, and a rename is atomic): it saves
    them from doing the same work at once, so a lock file that cannot be created is no error."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Wait for the lock and take it; False if the lock file cannot be opened (a read-only folder)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (safe to call when not held)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


def load(path: Path, documents: Sequence[Document], corpus: str, weighting: Weighting) -> Index:
    """The saved index of exactly these documents; IndexFileError if missing, damaged or made otherwise.
    Every array's checksums are verified first; large arrays are mapped from their files, small ones read."""
    return index_of(read(path), path, documents, corpus, weighting)


def read(path: Path, verify: bool = True) -> dict[str, np.ndarray]:
    """The arrays of a saved index, each verified against its checksums (`verify=False`: a version that this
    machine's service verified already, read by another of its processes); IndexFileError if missing or
    damaged."""
    try:
        for _attempt in range(3):
            folder = Path(os.path.realpath(path))  # resolved once: every file comes from one version
            try:
                return _verified_arrays(folder, verify)
            except FileNotFoundError:
                if os.path.realpath(path) == str(folder):
                    raise
                # A writer put a newer version in force and removed this one meanwhile: read that one.
        raise IndexFileError(f"The saved index {str(path)!r} kept changing while it was read.")
    except FileNotFoundError:
        raise IndexFileError(f"No saved index at {str(path)!r}.") from None
    except OSError as exc:
        raise IndexFileError(f"The saved index {str(path)!r} cannot be read: {exc}.") from exc
    except (ValueError, KeyError, TypeError, AttributeError, EOFError, UnicodeDecodeError) as exc:
        raise IndexDamagedError(f"The saved index {str(path)!r} is damaged: {exc}.") from exc


def index_of(data: dict[str, np.ndarray], path: Path, documents: Sequence[Document], corpus: str,
             weighting: Weighting) -> Index:
    """The index the verified arrays of `read(path)` hold, if made from exactly these documents and settings."""
    try:
        if str(data["params"]) != _params(weighting, weighting.analyser().params(), corpus):
            raise IndexFileError(f"The saved index {str(path)!r} was made with other settings or data.")
        terms = _text(data["terms"]).split("\n") if data["terms"].size else []
        passages = PassageTable.from_columns(data)
        n, v = len(passages), len(terms)
        counts = sp.csc_matrix((data["counts"], data["indices"], data["indptr"]), shape=(n, v))
        _check(counts, data["weights"], data["idf"], passages, {d.id for d in documents})
        sentences = SentenceTable.from_arrays(data)
        if not sentences.fits(n, v):
            raise ValueError("its sentence table does not fit its passages and terms")
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise IndexFileError(f"The saved index {str(path)!r} cannot be read: {exc}.") from exc
    vocabulary = {t: i for i, t in enumerate(terms)}
    return Index(documents, passages, counts, vocabulary, weighting, weighed=(data["idf"], data["weights"]),
                 sentences=sentences)


def _check(counts: sp.csc_matrix, weights: np.ndarray, idf: np.ndarray, passages: PassageTable,
           documents: set[str]) -> None:
    """Refuse arrays that do not fit together: the scoring kernel trusts every index it reads."""
    n, v = counts.shape
    ok = (
        weights.shape == counts.data.shape and idf.shape == (v,) and counts.indptr.shape == (v + 1,)
        and counts.indptr[0] == 0 and counts.indptr[-1] == counts.nnz and bool(np.all(np.diff(counts.indptr) >= 0))
        and (counts.nnz == 0 or 0 <= int(counts.indices.min()) <= int(counts.indices.max()) < n)
        and passages.fits(documents)
    )
    if not ok:
        raise ValueError("its arrays do not fit together or name other documents")


def _blob(text: str) -> np.ndarray:
    """A string as an array of its UTF-8 bytes (no pickled objects, no fixed-width padding)."""
    return np.frombuffer(text.encode(), np.uint8)


def _text(blob: np.ndarray) -> str:
    """The string `_blob` stored."""
    return blob.tobytes().decode()


def _verified_arrays(folder: Path, verify: bool = True) -> dict[str, np.ndarray]:
    """Every array of a version folder, each `.npy` header checked against index.json and its data against
    the recorded CRC-32s (if `verify`): small arrays read into memory (then nothing done to the files later
    can reach them), large ones mapped read-only. Files are read and chunks checked by parallel threads (zlib
    and file reads release the GIL), so that the largest array does not make all the others wait."""
    manifest = json.loads((folder / MANIFEST).read_bytes())
    if manifest["container"] != CONTAINER:
        raise ValueError(f"its layout is {manifest['container']!r}, not {CONTAINER}")
    entries: dict[str, Any] = manifest["arrays"]
    if not all(isinstance(name, str) and _NAME.fullmatch(name) for name in entries):
        raise ValueError("an array has a name no saved index gives")
    chunk = int(manifest["chunk_bytes"])
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        arrays = dict(zip(entries, pool.map(lambda name: _array(folder, name, entries[name], chunk), entries),
                          strict=True))
        checks = [(name, i) for name, entry in entries.items() for i in range(len(entry["crc32"]) if verify else 0)]
        crcs = list(pool.map(lambda c: zlib.crc32(_bytes_of(arrays[c[0]])[c[1] * chunk:(c[1] + 1) * chunk]), checks))
    for (name, i), crc in zip(checks, crcs, strict=True):
        if crc != entries[name]["crc32"][i]:
            raise ValueError(f"{name} does not match its checksum")
    if "params" in manifest:
        arrays["params"] = np.array(json.dumps(manifest["params"], sort_keys=True))
    return arrays


# numpy reads a .npy header with `ast.literal_eval`, which CPython 3.11 does not make safe across threads
# (a loading thread failed with "SystemError: AST constructor recursion depth mismatch" in one test run of
# ten): the loading threads take turns for `np.load`; the checksums, the costly part, stay parallel.
_NPY_HEADERS = threading.Lock()


def _array(folder: Path, name: str, entry: dict[str, Any], chunk: int) -> np.ndarray:
    """One array of a version folder, read or mapped, with the dtype and shape index.json records."""
    dtype, shape = np.dtype(entry["dtype"]), tuple(int(n) for n in entry["shape"])
    if dtype.hasobject:
        raise ValueError(f"{name} holds objects")
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if chunk <= 0 or len(entry["crc32"]) != max(-(-nbytes // chunk), 1):  # every byte covered
        raise ValueError(f"{name} has the wrong number of checksums")
    big = nbytes >= max(_MAP_FROM, 1)
    # A mapping past the end of a truncated file is refused here (mmap checks the size), never read.
    with _NPY_HEADERS:
        array = np.load(folder / f"{name}.npy", mmap_mode="r" if big else None, allow_pickle=False)
    if array.dtype != dtype or array.shape != shape or not array.flags.c_contiguous:
        raise ValueError(f"{name} is not the array index.json describes")
    return array


FileId = tuple[int, int, int, int]


def file_id(path: Path) -> FileId | None:
    """Device, inode, size and modification time of a file (None if missing): what tells a file
    changed in place (same inode) from one replaced by a rename (another inode). For a saved index (a
    link to a version folder): the folder's device and inode, and its files' total size and a digest of
    their inodes, sizes and times, so that a file of the version in force changed in place shows too."""
    try:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
        files = sorted((e.name, e.stat()) for e in os.scandir(path))
    except OSError:
        return None
    digest = hashlib.blake2b(digest_size=8)
    for name, f in files:
        digest.update(f"{name}\0{f.st_ino}\0{f.st_size}\0{f.st_mtime_ns}\n".encode())
    return st.st_dev, st.st_ino, sum(f.st_size for _, f in files), int.from_bytes(digest.digest(), "little")


def is_mapped(index: Index) -> bool:
    """Whether any of the index's arrays is memory-mapped from a file."""
    arrays: list[np.ndarray] = [index.weights.data, index.weights.indices, index.counts.data, index.idf]
    if isinstance(index.passages, PassageTable):
        arrays += [index.passages.text, index.passages.offsets, index.passages.doc_of]
    for array in arrays:
        base: object = array
        while isinstance(base, np.ndarray):
            if isinstance(base, np.memmap):
                return True
            base = base.base
        if isinstance(base, mmap.mmap):
            return True
    return False
