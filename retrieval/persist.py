"""The index on disk: one `.npz` (no pickle) holding counts, weights, vocabulary and the parameters
and versions that made them, written atomically; loading refuses any mismatch."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .errors import IndexFileError
from .index import Index, Weighting
from .model import Document, Passage

FORMAT = 1


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


def _params(index_weighting: Weighting, analyser: dict[str, object], corpus: str, passages: int) -> str:
    """The record that must match for a saved index to be used."""
    return json.dumps(
        {"format": FORMAT, "weighting": asdict(index_weighting), "analyser": analyser, "corpus": corpus,
         "passages": passages, "versions": _versions()},
        sort_keys=True,
    )


def save(index: Index, path: Path, corpus: str) -> None:
    """Write the index's arrays to `path` atomically (a temporary file renamed over it)."""
    terms = np.empty(len(index.vocabulary), dtype=object)
    for term, tid in index.vocabulary.items():
        terms[tid] = term
    c, w = index.counts, index.weights
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as fh:
        np.savez(
            fh,
            params=np.array(_params(index.weighting, index.analyser.params(), corpus, len(index))),
            terms=terms.astype(str) if len(terms) else np.array([], dtype="<U1"),
            c_data=c.data, c_indices=c.indices, c_indptr=c.indptr,
            w_data=w.data, w_indices=w.indices, w_indptr=w.indptr, idf=index.idf,
        )
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(
    path: Path, documents: Sequence[Document], passages: Sequence[Passage], corpus: str, weighting: Weighting
) -> Index:
    """The saved index for exactly these passages; IndexFileError if missing, damaged or made otherwise."""
    try:
        with np.load(path, allow_pickle=False) as data:
            expected = _params(weighting, weighting.analyser().params(), corpus, len(passages))
            if str(data["params"]) != expected:
                raise IndexFileError(f"The saved index {str(path)!r} was made with other settings or data.")
            terms = data["terms"].tolist()
            n, v = len(passages), len(terms)
            counts = sp.csr_matrix((data["c_data"], data["c_indices"], data["c_indptr"]), shape=(n, v))
            weights = sp.csc_matrix((data["w_data"], data["w_indices"], data["w_indptr"]), shape=(n, v))
            idf = data["idf"]
    except FileNotFoundError:
        raise IndexFileError(f"No saved index at {str(path)!r}.") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise IndexFileError(f"The saved index {str(path)!r} cannot be read: {exc}.") from exc
    vocabulary = {t: i for i, t in enumerate(terms)}
    return Index(documents, passages, counts, vocabulary, weighting, weighed=(idf, weights))
