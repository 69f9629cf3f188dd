"""The index on disk: one uncompressed `.npz` (no pickle) holding counts, weights, vocabulary, the
passages and the parameters and versions that made them.

Integrity: zip records a CRC-32 of every member (each array with its `.npy` header), so the file carries
a checksum of everything it holds, whatever arrays it holds; loading recomputes each (in worker threads)
before anything is served, and refuses a mismatch as it refuses other settings or arrays that do not
fit together. Writers never change the file in place: each writes a temporary file of its own and
renames it over the index, one writer at a time (`WriteLock`); a failed write leaves no temporary file."""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import mmap
import os
import secrets
import struct
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext, suppress
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO, cast

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
_CHUNK = 32 << 20  # bytes a thread reads and checksums at a time while verifying
FORMAT = 5  # counts and weights by term sharing one index array; the passages as a table with each
# passage's kind, section, page and inline marks; each passage's sentences and their terms


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
    """Write `arrays` as an uncompressed `.npz` (each member with the CRC-32 zip records for it) to a
    temporary file of this writer's own, then rename it over `path`: a file a process may have mapped is
    never changed in place, and concurrent writers never share a file. On any failure (a full disk) the
    temporary file is removed and the error raised; `path` is then as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with nullcontext(locked) if locked else WriteLock(path) as held:
        if held:
            _remove_stale_temporaries(path)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "xb") as fh:
                # Uncompressed: load maps or reads each array where it lies in the file.
                np.savez(fh, **cast(dict[str, Any], arrays))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of writers that died mid-save (every writer holds the lock, so none is live)."""
    for stale in [*path.parent.glob(f"{glob.escape(path.name)}.*.tmp"), path.with_name(path.name + ".tmp")]:
        with suppress(OSError):  # not ours to insist on: a save never needs these names
            stale.unlink(missing_ok=True)


class WriteLock:
    """The exclusive lock of one index file (`flock` on a `.lock` file beside it): one writer at a time,
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
    Every member's checksum is verified first; large arrays are then mapped from the file, small ones read."""
    return index_of(read(path), path, documents, corpus, weighting)


def read(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a saved index, each verified against its checksum; IndexFileError if missing or damaged."""
    try:
        return _verified_arrays(path)
    except FileNotFoundError:
        raise IndexFileError(f"No saved index at {str(path)!r}.") from None
    except OSError as exc:
        raise IndexFileError(f"The saved index {str(path)!r} cannot be read: {exc}.") from exc
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
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


@dataclass(frozen=True, slots=True)
class _Member:
    """One array of the archive: where its data lies and the CRC-32 zip recorded for the whole member."""

    name: str
    header: bytes  # the `.npy` magic and header, covered by the checksum too
    offset: int  # where the array's bytes start in the file
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran: bool
    crc: int

    @property
    def nbytes(self) -> int:
        """Size of the array's data."""
        return int(np.prod(self.shape)) * self.dtype.itemsize


def _members(fh: BinaryIO) -> list[_Member]:
    """The archive's members, from its directory and each member's headers (small reads only)."""
    members = []
    with zipfile.ZipFile(fh) as archive:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{info.filename} is compressed")
            fh.seek(info.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04":
                raise ValueError(f"{info.filename} has no local header")
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            start = info.header_offset + 30 + name_length + extra_length
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            if dtype.hasobject:
                raise ValueError(f"{info.filename} holds objects")
            offset = fh.tell()
            fh.seek(start)
            member = _Member(info.filename.removesuffix(".npy"), fh.read(offset - start), offset, shape, dtype,
                             fortran, info.CRC)
            if len(member.header) + member.nbytes != info.file_size:
                raise ValueError(f"{info.filename} is not the size its header says")
            members.append(member)
    return members


def _verified_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an uncompressed `.npz`, each checked against its CRC-32: small ones read into memory
    (then nothing done to the file later can reach them), large ones memory-mapped where they lie.
    Arrays are checked in chunks by parallel threads (zlib releases the GIL while it computes), and the
    chunks' CRCs combined, so that the largest array does not make all the others wait."""
    with open(path, "rb") as fh:  # one open file throughout: a file renamed over `path` meanwhile is not mixed in
        members = _members(fh)
        size = os.fstat(fh.fileno()).st_size
        if any(m.offset + m.nbytes > size for m in members):
            raise ValueError("the file is truncated")  # checked before mapping: a mapping past the end kills
        raw = {m.name: np.memmap(cast(Any, fh), np.uint8, "c", m.offset, (m.nbytes,)) if m.nbytes >= max(_MAP_FROM, 1)
               else np.empty(m.nbytes, np.uint8) for m in members}
        chunks = [(m, start) for m in members for start in range(0, max(m.nbytes, 1), _CHUNK)]
        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            crcs = list(pool.map(lambda c: _chunk_crc(fh.fileno(), c[0], raw[c[0].name], c[1]), chunks))
    combined = {m.name: zlib.crc32(m.header) for m in members}
    shifts: dict[int, list[int]] = {}
    for (member, start), crc in zip(chunks, crcs, strict=True):
        length = min(_CHUNK, member.nbytes - start)
        combined[member.name] = _crc_concat(combined[member.name], crc, length, shifts)
    arrays: dict[str, np.ndarray] = {}
    for m in members:
        if combined[m.name] != m.crc:
            raise ValueError(f"{m.name} does not match its checksum")
        arrays[m.name] = raw[m.name].view(m.dtype).reshape(m.shape, order="F" if m.fortran else "C")
    return arrays


def _chunk_crc(fd: int, member: _Member, data: np.ndarray, start: int) -> int:
    """CRC-32 of one chunk of a member's data, read into `data` first unless `data` maps the file."""
    end = min(start + _CHUNK, member.nbytes)
    if not isinstance(data, np.memmap):
        done = start
        while done < end:
            got = os.preadv(fd, [data[done:end].data], member.offset + done)
            if got <= 0:
                raise ValueError(f"{member.name} is truncated")
            done += got
    return zlib.crc32(data[start:end].data)


# CRC-32 of a concatenation from the CRCs of its parts (zlib's crc32_combine, which Python does not expose):
# appending n bytes to a message advances its CRC by a linear map over GF(2), a 32x32 bit matrix held as
# its 32 columns; the map for n bytes is the one-zero-bit map raised to the power 8n, by squaring.


def _crc_concat(crc1: int, crc2: int, length2: int, shifts: dict[int, list[int]]) -> int:
    """The CRC-32 of A + B, given crc1 of A, crc2 of B and B's length; `shifts` caches maps by length."""
    if length2 == 0:
        return crc1
    if length2 not in shifts:
        shifts[length2] = _zeros_map(length2)
    return _gf2_apply(shifts[length2], crc1) ^ crc2


def _zeros_map(nbytes: int) -> list[int]:
    """The matrix that advances a CRC-32 register over `nbytes` zero bytes."""
    step = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit (the reflected polynomial)
    for _ in range(3):
        step = _gf2_compose(step, step)  # 2, 4, then 8 bits: one byte
    result = [1 << n for n in range(32)]  # identity
    while nbytes:
        if nbytes & 1:
            result = _gf2_compose(step, result)
        nbytes >>= 1
        if nbytes:
            step = _gf2_compose(step, step)
    return result


def _gf2_apply(matrix: list[int], vector: int) -> int:
    """matrix × vector over GF(2)."""
    out, n = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[n]
        vector >>= 1
        n += 1
    return out


def _gf2_compose(a: list[int], b: list[int]) -> list[int]:
    """The matrix of applying `b`, then `a`."""
    return [_gf2_apply(a, column) for column in b]


FileId = tuple[int, int, int, int]


def file_id(path: Path) -> FileId | None:
    """Device, inode, size and modification time of a file (None if missing): what tells a file
    changed in place (same inode) from one replaced by a rename (another inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


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
