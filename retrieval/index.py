"""The immutable TF-IDF index: term counts, weights by term, and fast top-k scoring.

Scoring (defaults, chosen by measurement on SQuAD; see README):

    score(q, p) = sum over distinct terms t of q:  w_q(t) * idf(t) * tf'(t, p)
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    tf'(t, p)   = tf (k1 + 1) / (tf + k1 (1 - b + b |p| / avg|p|))   (saturated, length-pivoted)

`tf="log"` with `norm="l2"` and `idf="smooth"` gives scikit-learn's classic sublinear TF-IDF cosine
instead (its idf from scikit-learn's TfidfTransformer). Terms are the analyser's stems, counted by
counting.py; index and query share one vocabulary and one analyser. Scoring reads only the query
terms' postings, through kernel.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

from . import kernel, sentence_table
from .counting import Progress, count_terms, trim_heap
from .model import Document, Hit, Passage
from .passages import PassageTable, doc_rows
from .sentence_table import SentenceTable
from .structure import KINDS, Section
from .text import Analyser

__all__ = ["Index", "Progress", "Weighting", "count_terms"]

T = TypeVar("T")


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


class Index:
    """Passages, their documents, and a term-major weight matrix; never modified once built."""

    def __init__(
        self,
        documents: Sequence[Document],
        passages: Sequence[Passage],
        counts: sp.spmatrix,
        vocabulary: dict[str, int],
        weighting: Weighting = Weighting(),
        weighed: tuple[np.ndarray, np.ndarray] | None = None,
        sentences: SentenceTable | None = None,
    ) -> None:
        self.documents = {d.id: d for d in documents}
        self.passages = passages if isinstance(passages, PassageTable) else tuple(passages)
        self.vocabulary = vocabulary
        self.weighting = weighting
        self.analyser = weighting.analyser()
        # Counts and weights are stored by term (CSC) and share one index array: scoring reads a
        # term's postings, and a million passages then need 12 bytes a posting, not 24.
        self.counts = _by_term(counts, len(vocabulary))
        self.idf, data = weighed if weighed is not None else _weigh(self.counts, weighting)
        self.weights = sp.csc_matrix((data, self.counts.indices, self.counts.indptr), shape=self.counts.shape)
        self.df = np.diff(self.weights.indptr)
        # Unknown words count as rare as a word can be, so a question about them is weakly covered.
        # Only terms some passage has count: a reindex keeps the terms of removed text (df 0) in the
        # vocabulary, and their idf must not make unknown words weigh more than after a full build.
        present = self.idf[self.df > 0]
        self.max_idf = float(present.max()) if present.size else 1.0
        self._doc_passages = doc_rows(self.passages)
        # Every passage's sentences and their terms, made once here (or saved with the index), so that
        # answering and summarising split and analyse no text (retrieval/sentence_table.py).
        self.sentence_table = sentences if sentences is not None else sentence_table.build(
            self.passages, self.analyser, self.vocabulary)
        self._kinds = self.passages.kind if isinstance(self.passages, PassageTable) else np.fromiter(
            (KINDS.index(p.kind) for p in self.passages), np.uint8, len(self.passages))
        self._derived: dict[Callable[[Index], Any], Any] = {}

    @classmethod
    def build(
        cls, documents: Sequence[Document], passages: Sequence[Passage], weighting: Weighting = Weighting(),
        progress: Progress | None = None,
    ) -> Index:
        """Split, tokenize and count every passage (its sentence table made on the way), then weigh."""
        vocabulary: dict[str, int] = {}
        counts, table = sentence_table.counted(passages, weighting.analyser(), vocabulary, progress, len(passages))
        index = cls(documents, passages, counts, vocabulary, weighting, sentences=table)
        trim_heap()  # the weighing's freed temporaries: the bot keeps the index for hours
        return index

    def __len__(self) -> int:
        return len(self.passages)

    def derived(self, make: Callable[[Index], T]) -> T:
        """`make(self)`, computed on first use and kept with the index (which never changes): the tables the
        answer path reads by passage or by term, made once instead of on every question."""
        try:
            return self._derived[make]
        except KeyError:  # two threads may both make it; either result will do, and the first is kept
            return self._derived.setdefault(make, make(self))

    def passages_of(self, doc_id: str) -> list[int]:
        """Positions of a document's passages, in order."""
        return list(self._doc_passages.get(doc_id, ()))

    def sentences(self, passage: int) -> list[tuple[int, int]]:
        """Character spans of a passage's sentences (a code block whole, a list's or a row's lines), from
        the sentence table."""
        return self.sentence_table.spans(passage)

    def kind_of(self, passage: int) -> str:
        """A passage's kind (structure.KINDS), without making the passage."""
        return KINDS[int(self._kinds[passage])]

    def doc_id_of(self, passage: int) -> str:
        """The document id of a passage, without making the passage."""
        if isinstance(self.passages, PassageTable):
            return self.passages.doc_ids[self.passages.doc_of[passage]]
        return self.passages[passage].doc_id

    def text_of(self, passage: int) -> str:
        """The text of a passage, without making the passage."""
        if isinstance(self.passages, PassageTable):
            table = self.passages
            return table.text[table.offsets[passage] : table.offsets[passage + 1]].tobytes().decode()
        return self.passages[passage].text

    def section_of(self, passage: int) -> Section:
        """The section a passage is in, without making the passage."""
        if isinstance(self.passages, PassageTable):
            return self.passages.sections[self.passages.section_of[passage]]
        return self.passages[passage].section

    def holding(self, terms: np.ndarray, passages: Sequence[int]) -> np.ndarray:
        """Whether each passage holds each term id (a -1 never), from the postings: passages by terms, bool."""
        found = np.zeros((len(passages), len(terms)), bool)
        rows = np.asarray(passages, np.int64)
        indptr, indices = self.counts.indptr, self.counts.indices
        for j, t in enumerate(terms.tolist()):
            if t >= 0:
                postings = indices[indptr[t] : indptr[t + 1]]
                at = np.searchsorted(postings, rows)
                found[:, j] = postings[np.minimum(at, len(postings) - 1)] == rows if len(postings) else False
        return found

    def query_vector(self, query: str | Mapping[str, float], weight: float = 1.0) -> dict[int, float]:
        """The query vector of a text (its terms at `weight`) or of analysed terms with their weights: the
        known term ids and their query weights (idf-weighted and unit length for `query="idf"`); unknown
        terms are dropped. Answers, summaries and benchmarks all search with it."""
        weights = [(t, weight) for t in self.analyser(query)] if isinstance(query, str) else query.items()
        vector: dict[int, float] = {}
        for term, w in weights:
            tid = self.vocabulary.get(term)
            if tid is not None and self.df[tid] > 0:
                vector[tid] = w if self.weighting.query == "binary" else vector.get(tid, 0) + w
        if self.weighting.query == "idf" and vector:
            vec = {t: w * float(self.idf[t]) for t, w in vector.items()}
            norm = float(np.sqrt(sum(v * v for v in vec.values())))
            return {t: v / norm for t, v in vec.items()}
        return vector

    def term_idf(self, term: str) -> float:
        """The idf of an analysed term; unknown terms get the largest idf."""
        tid = self.vocabulary.get(term)
        return float(self.idf[tid]) if tid is not None and self.df[tid] > 0 else self.max_idf

    def search(self, vector: dict[int, float], k: int = 10) -> list[Hit]:
        """The `k` best passages for a query vector, best first; ties go to the earlier passage.
        Only the query terms' postings are read (retrieval/kernel.py)."""
        if not vector or k <= 0:
            return []
        w = self.weights
        terms = np.fromiter(vector, np.int64, len(vector))
        weights = np.fromiter(vector.values(), np.float64, len(vector))
        ids, scores = kernel.top_k(w.indptr, w.indices, w.data, terms, weights, len(self.passages), k)
        return [Hit(i, s) for i, s in zip(ids.tolist(), scores.tolist(), strict=True)]

    def brute_force_scores(self, vector: dict[int, float]) -> np.ndarray:
        """Every passage's score by a dense matrix product: the reference the fast path must match."""
        q = np.zeros(len(self.vocabulary))
        for t, wt in vector.items():
            q[t] = wt
        return np.asarray(self.weights.toarray(), np.float64) @ q

    def params(self) -> dict[str, object]:
        """What made this index, for a cache to refuse a mismatch."""
        return {"weighting": asdict(self.weighting), "analyser": self.analyser.params()}


def _by_term(counts: sp.spmatrix, n_terms: int) -> sp.csc_matrix:
    """Counts as a float32 CSC matrix with `n_terms` columns and sorted row indices."""
    csc = sp.csc_matrix(counts, dtype=np.float32)
    if csc.shape[1] < n_terms:  # terms added to the vocabulary since: empty columns at the end
        indptr = np.concatenate([csc.indptr, np.full(n_terms - csc.shape[1], csc.indptr[-1], csc.indptr.dtype)])
        csc = sp.csc_matrix((csc.data, csc.indices, indptr), shape=(csc.shape[0], n_terms))
    if not csc.has_sorted_indices:
        csc.sort_indices()
    return csc


_CHUNK = 1 << 14  # postings weighed per numpy pass: bounds the temporary arrays (~0.3 MB)
_L2_CHUNK = 1 << 22  # postings per pass of the l2 norms' sums: the step earlier versions summed in, so the
# float64 sums of squares (whose rounding depends on it) and the weights stay bit for bit as they were


def _weigh(counts: sp.csc_matrix, wt: Weighting) -> tuple[np.ndarray, np.ndarray]:
    """Idf per term, and the weight of each posting of `counts` (same order as its data)."""
    n, n_terms = counts.shape
    df = np.diff(counts.indptr)
    if n == 0 or n_terms == 0:
        return np.zeros(n_terms), np.zeros(counts.nnz, np.float32)
    if wt.idf == "smooth":
        from sklearn.feature_extraction.text import TfidfTransformer  # imported when used: 1–2 s

        idf = TfidfTransformer(norm=None, smooth_idf=True).fit(counts).idf_
    else:
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
    # Sums of whole counts: exact in float64 whatever the step, which need only keep the passes few.
    lengths = _row_sums(counts.indices, counts.data, n, max(_CHUNK, n))
    pivot = (1 - wt.b + wt.b * lengths / max(lengths.mean(), 1e-9)).astype(np.float32)
    del lengths
    term_idf = idf.astype(np.float32)
    out = np.empty(counts.nnz, np.float32)
    c0 = 0
    while c0 < n_terms:  # column blocks of about _CHUNK postings: no temporary as large as the matrix
        c1 = int(np.searchsorted(counts.indptr, counts.indptr[c0] + _CHUNK, side="right")) - 1
        c1 = min(max(c1, c0 + 1), n_terms)
        a, b = counts.indptr[c0], counts.indptr[c1]
        tf = counts.data[a:b]
        if wt.tf == "log":
            w = 1 + np.log(tf)
        elif wt.tf == "bm25":
            w = tf * np.float32(wt.k1 + 1) / (tf + np.float32(wt.k1) * pivot[counts.indices[a:b]])
        else:
            w = tf.copy()
        w *= np.repeat(term_idf[c0:c1], df[c0:c1])
        out[a:b] = w
        c0 = c1
    if wt.norm == "l2":
        norms = np.sqrt(_row_sums(counts.indices, out, n, _L2_CHUNK, square=True))
        norms[norms == 0] = 1
        inverse = (1 / norms).astype(np.float32)
        for a in range(0, counts.nnz, _CHUNK):
            out[a : a + _CHUNK] *= inverse[counts.indices[a : a + _CHUNK]]
    return idf, out


def _row_sums(rows: np.ndarray, values: np.ndarray, n: int, step: int, square: bool = False) -> np.ndarray:
    """float64 sums of `values` (or of their squares) by row, `step` postings at a time: one bincount
    would copy every row index to int64 at once, and each pass makes an array of all `n` rows."""
    sums = np.zeros(n)
    for a in range(0, rows.size, step):
        part = np.square(values[a : a + step], dtype=np.float64) if square else values[a : a + step]
        sums += np.bincount(rows[a : a + step], weights=part, minlength=n)
    return sums
