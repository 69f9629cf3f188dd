"""The immutable TF-IDF index: term counts, weights by term, and fast top-k scoring.

Scoring (defaults, chosen by measurement on SQuAD; see README):

    score(q, p) = sum over distinct terms t of q:  w_q(t) * idf(t) * tf'(t, p)
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    tf'(t, p)   = tf (k1 + 1) / (tf + k1 (1 - b + b |p| / avg|p|))   (saturated, length-pivoted)

`tf="log"` with `norm="l2"` and `idf="smooth"` gives scikit-learn's classic sublinear TF-IDF cosine
instead. Terms are the analyser's stems; document frequencies come from scikit-learn's
TfidfTransformer, so index and query share one vocabulary and one analyser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer

from .model import Document, Hit, Passage
from .text import Analyser, split_sentences


@dataclass(frozen=True, slots=True)
class Weighting:
    """How counts become weights; every field is recorded beside a saved index."""

    tf: str = "bm25"  # "bm25" (saturated), "log" (1 + ln tf) or "raw"
    idf: str = "bm25"  # "bm25" or "smooth" (scikit-learn's ln((1+N)/(1+df)) + 1)
    norm: str = "none"  # "l2" (cosine) or "none"
    query: str = "binary"  # "binary" (each distinct term once) or "idf" (cosine of tf-idf vectors)
    k1: float = 1.2
    b: float = 0.75
    stem: bool = True
    stop_words: bool = True
    bigrams: bool = False

    def analyser(self) -> Analyser:
        """The analyser these settings call for."""
        return Analyser(stem=self.stem, stop_words=self.stop_words, bigrams=self.bigrams)


Progress = Callable[[int, int], None]


def count_terms(
    texts: Iterable[str], analyser: Analyser, vocabulary: dict[str, int], progress: Progress | None = None,
    total: int = 0,
) -> sp.csr_matrix:
    """Term counts of `texts` as CSR rows; new terms are appended to `vocabulary`."""
    indptr = [0]
    indices: list[int] = []
    data: list[int] = []
    for n, text in enumerate(texts, start=1):
        counts: dict[int, int] = {}
        for term in analyser(text):
            tid = vocabulary.setdefault(term, len(vocabulary))
            counts[tid] = counts.get(tid, 0) + 1
        indices.extend(counts)
        data.extend(counts.values())
        indptr.append(len(indices))
        if progress and n % 5000 == 0:
            progress(n, total)
    shape = (len(indptr) - 1, len(vocabulary))
    return sp.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int32), np.asarray(indptr, np.int64)), shape=shape
    )


class Index:
    """Passages, their documents, and a term-major weight matrix; never modified once built."""

    def __init__(
        self,
        documents: Sequence[Document],
        passages: Sequence[Passage],
        counts: sp.csr_matrix,
        vocabulary: dict[str, int],
        weighting: Weighting = Weighting(),
        weighed: tuple[np.ndarray, sp.csc_matrix] | None = None,
    ) -> None:
        self.documents = {d.id: d for d in documents}
        self.passages = tuple(passages)
        self.vocabulary = vocabulary
        self.weighting = weighting
        self.analyser = weighting.analyser()
        n_terms = len(vocabulary)
        self.counts = counts if counts.shape[1] == n_terms else _widen(counts, n_terms)
        self.idf, self.weights = weighed if weighed is not None else _weigh(self.counts, weighting)
        self.df = np.diff(self.weights.indptr)
        # Unknown words count as rare as a word can be, so a question about them is weakly covered.
        # Only terms some passage has count: a reindex keeps the terms of removed text (df 0) in the
        # vocabulary, and their idf must not make unknown words weigh more than after a full build.
        present = self.idf[self.df > 0]
        self.max_idf = float(present.max()) if present.size else 1.0
        self._sentences: dict[int, list[tuple[int, int]]] = {}
        self._doc_passages: dict[str, list[int]] = {}
        for i, p in enumerate(self.passages):
            self._doc_passages.setdefault(p.doc_id, []).append(i)

    @classmethod
    def build(
        cls, documents: Sequence[Document], passages: Sequence[Passage], weighting: Weighting = Weighting(),
        progress: Progress | None = None,
    ) -> Index:
        """Tokenize and count every passage, then weigh."""
        vocabulary: dict[str, int] = {}
        counts = count_terms((p.text for p in passages), weighting.analyser(), vocabulary, progress, len(passages))
        return cls(documents, passages, counts, vocabulary, weighting)

    def __len__(self) -> int:
        return len(self.passages)

    def passages_of(self, doc_id: str) -> list[int]:
        """Positions of a document's passages, in order."""
        return self._doc_passages.get(doc_id, [])

    def sentences(self, passage: int) -> list[tuple[int, int]]:
        """Sentence spans of a passage, split once on first use and kept (splitting is lazy so
        that a million-passage build does not pay for sentences nobody quotes)."""
        spans = self._sentences.get(passage)
        if spans is None:
            spans = self._sentences.setdefault(passage, split_sentences(self.passages[passage].text))
        return spans

    def query_vector(self, text: str, weight: float = 1.0) -> dict[int, float]:
        """Known term ids of `text` and their query weights; unknown terms are dropped."""
        vector: dict[int, float] = {}
        for term in self.analyser(text):
            tid = self.vocabulary.get(term)
            if tid is not None and self.df[tid] > 0:
                vector[tid] = weight if self.weighting.query == "binary" else vector.get(tid, 0) + weight
        if self.weighting.query == "idf" and vector:
            vec = {t: w * float(self.idf[t]) for t, w in vector.items()}
            norm = float(np.sqrt(sum(v * v for v in vec.values())))
            return {t: v / norm for t, v in vec.items()}
        return vector

    def term_idf(self, term: str) -> float:
        """The idf of an analysed term; unknown terms get the largest idf."""
        tid = self.vocabulary.get(term)
        return float(self.idf[tid]) if tid is not None and self.df[tid] > 0 else self.max_idf

    def scores(self, vector: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
        """Passages with a non-zero score and their scores, from the query terms' postings only."""
        if not vector:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        w = self.weights
        cols = list(vector)
        if len(cols) == 1:
            a, b = w.indptr[cols[0]], w.indptr[cols[0] + 1]
            return w.indices[a:b].astype(np.int64), w.data[a:b] * np.float32(vector[cols[0]])
        rows = np.concatenate([w.indices[w.indptr[c] : w.indptr[c + 1]] for c in cols])
        vals = np.concatenate([w.data[w.indptr[c] : w.indptr[c + 1]] * np.float32(vector[c]) for c in cols])
        if rows.size * 8 > len(self.passages):
            dense = np.bincount(rows, weights=vals, minlength=len(self.passages))
            ids = np.flatnonzero(dense)
            return ids, dense[ids]
        ids, inverse = np.unique(rows, return_inverse=True)
        return ids, np.bincount(inverse, weights=vals)

    def search(self, vector: dict[int, float], k: int = 10) -> list[Hit]:
        """The `k` best passages for a query vector, best first; ties go to the earlier passage."""
        ids, scores = self.scores(vector)
        return [Hit(int(i), float(s)) for i, s in zip(*top_k(ids, scores, k), strict=True)]

    def brute_force_scores(self, vector: dict[int, float]) -> np.ndarray:
        """Every passage's score by a dense matrix product: the reference the fast path must match."""
        q = np.zeros(len(self.vocabulary))
        for t, wt in vector.items():
            q[t] = wt
        return np.asarray(self.weights.toarray(), np.float64) @ q

    def params(self) -> dict[str, object]:
        """What made this index, for a cache to refuse a mismatch."""
        return {"weighting": asdict(self.weighting), "analyser": self.analyser.params()}


def top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` highest scores by partial sort, then ordered by score, ties by id."""
    if k <= 0:
        return ids[:0], scores[:0]
    if ids.size > k:
        # Keep everything tied with the k-th score so that the tie-break by id stays exact.
        kth = np.partition(scores, ids.size - k)[ids.size - k]
        keep = scores >= kth
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


def _widen(counts: sp.csr_matrix, n_terms: int) -> sp.csr_matrix:
    """The same counts with room for terms added to the vocabulary since."""
    return sp.csr_matrix((counts.data, counts.indices, counts.indptr), shape=(counts.shape[0], n_terms))


def _weigh(counts: sp.csr_matrix, wt: Weighting) -> tuple[np.ndarray, sp.csc_matrix]:
    """Idf per term and the passage-by-term weight matrix, stored by term (CSC) for scoring."""
    n = counts.shape[0]
    if n == 0 or counts.shape[1] == 0:
        return np.zeros(counts.shape[1]), sp.csc_matrix(counts.shape, dtype=np.float32)
    transformer = TfidfTransformer(norm=None, smooth_idf=True, sublinear_tf=False).fit(counts)
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = transformer.idf_ if wt.idf == "smooth" else np.log1p((n - df + 0.5) / (df + 0.5))
    x = counts.astype(np.float32, copy=True)
    if wt.tf == "log":
        x.data = 1 + np.log(x.data)
    elif wt.tf == "bm25":
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        pivot = 1 - wt.b + wt.b * lengths / max(lengths.mean(), 1e-9)
        per_entry = np.repeat(pivot, np.diff(x.indptr)).astype(np.float32)
        x.data = x.data * (wt.k1 + 1) / (x.data + wt.k1 * per_entry)
    x = x @ sp.diags(idf.astype(np.float32))
    x = sp.csr_matrix(x, dtype=np.float32)
    if wt.norm == "l2":
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        x = sp.csr_matrix(sp.diags((1 / norms).astype(np.float32)) @ x, dtype=np.float32)
    weights = x.tocsc()
    weights.sort_indices()
    return idf, weights
