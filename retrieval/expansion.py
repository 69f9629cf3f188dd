"""Related words for a question's terms, beyond its own words: each source needs no network and no model.

- derivations: WordNet's derivationally related forms (respond ~ response), retrieval/lexicon.py;
- synonyms: WordNet synset co-members of frequent words (retrieval/data/synonyms.txt);
- co-occurrence: the terms that share the most passages with a question term in the index itself,
  by local mutual information  c(t,u) * ln(c(t,u) N / (df(t) df(u)))  over a sample of t's passages;
- feedback: the terms of the best passages of a first search (pseudo-relevance feedback), weighed by
  the passages' scores and the terms' idf.

Each weighs less than the question's own words. The first three stand in for the question term they
came from (they count for part of it in coverage); feedback terms only help retrieve.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .index import Index
from .lexicon import known, related

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True)
class Expansion:
    """Which sources of related words are used, and at what retrieval weight (0: off)."""

    synonyms: float = 0.0
    cooccurrence: float = 0.0
    neighbours: int = 3  # co-occurrence terms per question term
    min_together: int = 3  # passages a co-occurring term must share with the question term
    sample: int = 2000  # passages of a question term read for its co-occurrences
    # The sources whose terms count for the term they came from (coverage, a sentence's match); the others
    # only help retrieve.
    stand_in: frozenset[str] = frozenset({"derivations", "synonyms", "cooccurrence", "similar"})
    feedback: float = 0.0
    feedback_passages: int = 5
    feedback_terms: int = 8
    similar: float = 0.0  # terms of like contexts: cosine of latent semantic vectors of the passages' terms
    similar_terms: int = 3
    min_similarity: float = 0.5
    dimensions: int = 100


@lru_cache(maxsize=1)
def synonyms() -> dict[str, tuple[str, ...]]:
    """Analysed term -> the terms of its WordNet synonyms (retrieval/data/synonyms.txt)."""
    table: dict[str, tuple[str, ...]] = {}
    path = DATA / "synonyms.txt"
    if not path.exists():
        return table
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            term, *others = line.split()
            table[term] = tuple(others)
    return table


_NAMES: weakref.WeakKeyDictionary[Index, list[str]] = weakref.WeakKeyDictionary()
_COOCCUR: weakref.WeakKeyDictionary[Index, dict[tuple[str, int, int, int], tuple[str, ...]]] = \
    weakref.WeakKeyDictionary()


def names(index: Index) -> list[str]:
    """Term id -> term, made once per index."""
    found = _NAMES.get(index)
    if found is None:
        found = [""] * len(index.vocabulary)
        for term, tid in index.vocabulary.items():
            found[tid] = term
        _NAMES[index] = found
    return found


def passage_terms(index: Index, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(term ids, the position in `rows` of the passage each came from) of the passages `rows`, from the
    sentence table (a term may repeat within a passage)."""
    table = index.sentence_table
    starts = table.term_ptr[table.first[rows]].astype(np.int64)
    ends = table.term_ptr[table.first[rows + 1]].astype(np.int64)
    sizes = ends - starts
    owner = np.repeat(np.arange(len(rows)), sizes)
    offsets = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(starts, sizes)
    return table.terms[offsets].astype(np.int64), owner


def cooccurring(index: Index, term: str, settings: Expansion) -> tuple[str, ...]:
    """The terms sharing most passages with `term`, by local mutual information (module docstring)."""
    key = (term, settings.neighbours, settings.min_together, settings.sample)
    cache = _COOCCUR.setdefault(index, {})
    if key in cache:
        return cache[key]
    tid = index.vocabulary.get(term)
    found: tuple[str, ...] = ()
    if tid is not None and index.df[tid] >= settings.min_together:
        c = index.counts
        rows = c.indices[c.indptr[tid]:c.indptr[tid + 1]].astype(np.int64)
        if len(rows) > settings.sample:  # evenly spread: passages are in document order
            rows = rows[np.linspace(0, len(rows) - 1, settings.sample).astype(np.int64)]
        ids, owner = passage_terms(index, rows)
        pairs = np.unique(ids * len(rows) + owner)  # each term once a passage
        together = np.bincount(pairs // len(rows), minlength=len(index.vocabulary)).astype(np.float64)
        together[tid] = 0
        df = index.df.astype(np.float64)
        n = len(index.passages) * len(rows) / max(int(index.df[tid]), 1)  # the sample's share of the corpus
        with np.errstate(divide="ignore", invalid="ignore"):
            lmi = together * np.log(together * n / (len(rows) * np.maximum(df, 1)))
        lmi[(together < settings.min_together) | ~np.isfinite(lmi)] = 0
        best = np.argsort(-lmi, kind="stable")[: settings.neighbours]
        found = tuple(names(index)[i] for i in best.tolist() if lmi[i] > 0)
    cache[key] = found
    return found


_LATENT: weakref.WeakKeyDictionary[Index, dict[int, tuple[np.ndarray, np.ndarray]]] = weakref.WeakKeyDictionary()


def latent(index: Index, dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    """(term ids kept, their unit latent vectors): a truncated SVD of the passages-by-terms matrix of
    log counts times idf, over terms of at least three passages."""
    cache = _LATENT.setdefault(index, {})
    if dimensions not in cache:
        from scipy.sparse.linalg import svds

        kept = np.flatnonzero(index.df >= 3)
        x = index.counts[:, kept].astype(np.float32)
        x.data = np.log1p(x.data)
        x = x.multiply(index.idf[kept].astype(np.float32)[None, :]).tocsc()
        k = min(dimensions, min(x.shape) - 1)
        if k < 2:
            cache[dimensions] = (kept[:0], np.zeros((0, 1), np.float32))
        else:
            _, sv, vt = svds(x, k=k, random_state=0)
            vectors = (vt.T * sv).astype(np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
            cache[dimensions] = (kept, vectors)
    return cache[dimensions]


def similar(index: Index, term: str, settings: Expansion) -> tuple[str, ...]:
    """The terms whose latent vectors are nearest `term`'s (cosine at least `min_similarity`)."""
    kept, vectors = latent(index, settings.dimensions)
    tid = index.vocabulary.get(term)
    if tid is None or not len(kept):
        return ()
    at = int(np.searchsorted(kept, tid))
    if at >= len(kept) or kept[at] != tid:
        return ()
    cos = vectors @ vectors[at]
    cos[at] = -1
    best = np.argsort(-cos)[: settings.similar_terms]
    vocab = names(index)
    return tuple(vocab[kept[i]] for i in best.tolist() if cos[i] >= settings.min_similarity)


def feedback(index: Index, terms: Mapping[str, float], settings: Expansion) -> dict[str, float]:
    """Terms of the best passages for `terms` that the query lacks -> their weight (at most the feedback
    weight), by the passages' scores and the terms' idf."""
    hits = index.search(index.query_vector(terms), settings.feedback_passages)
    if not hits:
        return {}
    rows = np.array([h.passage for h in hits], np.int64)
    ids, owner = passage_terms(index, rows)
    pairs = np.unique(ids * len(rows) + owner)
    scores = np.array([h.score for h in hits]) / (hits[0].score or 1.0)
    weight = np.bincount(pairs // len(rows), weights=scores[pairs % len(rows)], minlength=len(index.vocabulary))
    weight *= index.idf
    weight[index.df < 2] = 0  # a term of one passage finds nothing new
    for t in terms:
        if (tid := index.vocabulary.get(t)) is not None:
            weight[tid] = 0
    best = np.argsort(-weight, kind="stable")[: settings.feedback_terms]
    top = float(weight[best[0]]) if len(best) else 0.0
    vocab = names(index)
    return {vocab[i]: settings.feedback * float(weight[i]) / top for i in best.tolist() if weight[i] > 0 and top}


def expand(index: Index, required: Sequence[str], terms: Mapping[str, float], related_weight: float,
           settings: Expansion) -> tuple[dict[str, tuple[str, ...]], dict[str, float]]:
    """(required term -> the related terms that stand in for it, every added term -> its retrieval weight)."""
    links: dict[str, tuple[str, ...]] = {}
    added: dict[str, float] = {}

    def add(t: str, others: Sequence[str], weight: float, source: str = "synonyms") -> None:
        others = [r for r in others if r != t]
        if weight <= 0 or not others:
            return
        if source in settings.stand_in:
            links[t] = tuple(dict.fromkeys((*links.get(t, ()), *others)))
        for r in others:
            if r not in terms:
                added[r] = max(added.get(r, 0.0), weight)

    for t in required:
        if related_weight > 0:
            add(t, related(index, t), related_weight, "derivations")
        if settings.synonyms > 0:
            add(t, [s for s in synonyms().get(t, ()) if known(index, s)], settings.synonyms)
        if settings.cooccurrence > 0:
            add(t, cooccurring(index, t, settings), settings.cooccurrence, "cooccurrence")
        if settings.similar > 0:
            add(t, similar(index, t, settings), settings.similar, "similar")
    if settings.feedback > 0:
        for r, w in feedback(index, {**terms, **added}, settings).items():
            added.setdefault(r, w)
    return links, added
