"""The index on disk: one uncompressed `.npz` (no pickle) holding counts, weights, vocabulary, the
passages and the parameters and versions that made them, written atomically; loading maps the arrays
and refuses any mismatch."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .errors import IndexFileError
from .index import Index, Weighting
from .model import Document
from .passages import MAX_WORDS, PassageTable

_MAP_FROM = 1 << 20  # arrays of at least this many bytes are mapped; smaller ones are read
FORMAT = 4  # 3 + each passage's kind, section, page and inline marks


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


def save(index: Index, path: Path, corpus: str) -> None:
    """Write the index's arrays to `path` atomically (a temporary file renamed over it)."""
    terms = [""] * len(index.vocabulary)
    for term, tid in index.vocabulary.items():
        terms[tid] = term
    passages = index.passages if isinstance(index.passages, PassageTable) else PassageTable.of(index.passages)
    c, w = index.counts, index.weights
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as fh:
        np.savez(  # uncompressed, so that load can map each array from the file instead of reading it
            fh,
            params=np.array(_params(index.weighting, index.analyser.params(), corpus)),
            terms=_blob("\n".join(terms)), indices=c.indices, indptr=c.indptr, counts=c.data, weights=w.data,
            idf=index.idf, **passages.columns(),  # type: ignore[arg-type]  # numpy's stub types allow_pickle only
        )
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(path: Path, documents: Sequence[Document], corpus: str, weighting: Weighting) -> Index:
    """The saved index of exactly these documents; IndexFileError if missing, damaged or made otherwise.
    Arrays are mapped from the file (copy-on-write), so a start reads only the pages questions touch."""
    try:
        data = _mapped(path)
        if str(data["params"]) != _params(weighting, weighting.analyser().params(), corpus):
            raise IndexFileError(f"The saved index {str(path)!r} was made with other settings or data.")
        terms = _text(data["terms"]).split("\n") if data["terms"].size else []
        passages = PassageTable.from_columns(data)
        n, v = len(passages), len(terms)
        counts = sp.csc_matrix((data["counts"], data["indices"], data["indptr"]), shape=(n, v))
        _check(counts, data["weights"], data["idf"], passages, {d.id for d in documents})
    except FileNotFoundError:
        raise IndexFileError(f"No saved index at {str(path)!r}.") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise IndexFileError(f"The saved index {str(path)!r} cannot be read: {exc}.") from exc
    vocabulary = {t: i for i, t in enumerate(terms)}
    return Index(documents, passages, counts, vocabulary, weighting, weighed=(data["idf"], data["weights"]))


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


def _mapped(path: Path) -> dict[str, np.ndarray]:
    """Every array of an uncompressed `.npz`, large ones memory-mapped where they lie in the file."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as fh:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{info.filename} is compressed")
            fh.seek(info.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04":
                raise ValueError(f"{info.filename} has no local header")
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            fh.seek(info.header_offset + 30 + name_length + extra_length)
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            if dtype.hasobject:
                raise ValueError(f"{info.filename} holds objects")
            name = info.filename.removesuffix(".npy")
            size = int(np.prod(shape)) * dtype.itemsize
            if size < max(_MAP_FROM, 1):
                arrays[name] = np.frombuffer(fh.read(size), dtype).reshape(shape, order="F" if fortran else "C")
                if arrays[name].nbytes != size:
                    raise ValueError(f"{info.filename} is truncated")
            else:
                arrays[name] = np.memmap(path, dtype, "c", fh.tell(), shape, "F" if fortran else "C")
    return arrays
