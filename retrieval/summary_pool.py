"""The sentences summaries choose from, as rows over the index's vocabulary, analysed once per passage
and kept with the index (weakly, so that a reindexed-away index frees them):

    tf(s)[t]    = 1 + ln count(t, s)                 centrality: which sentences are typical
    tfidf(s)[t] = (1 + ln count(t, s)) * idf(t)      redundancy and topic match
    bigrams(s)  = the bigrams of its words' stems, stop words kept, but not a bigram of two stop words
                  ("arrest of", "of Pinochet", not "of the"): the concepts that summaries cover
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .index import Index
from .summary_order import dangles, opening_noun
from .summary_select import Problem
from .text import STOP_WORDS, tokenize


@dataclass(frozen=True, slots=True)
class Rows:
    """A passage's sentences: spans, word counts, bigram keys, and the CSR parts of their 1 + ln tf weights."""

    spans: list[tuple[int, int]]
    words: np.ndarray
    sizes: np.ndarray  # distinct known terms per sentence
    ids: np.ndarray
    weights: np.ndarray
    bigrams: list[np.ndarray]  # per sentence, its bigram keys (bigram_keys), repeats kept
    dangling: np.ndarray  # per sentence: opens with "He", "However"… (summary_order.dangles)
    announces: np.ndarray  # per sentence: ends in ":", announcing a list or code that a summary leaves out


@dataclass(frozen=True, slots=True)
class Pool:
    """Candidate sentences in collection order: passage, span, words, bigram keys, and unit tf and
    tf-idf rows."""

    passages: np.ndarray
    spans: list[tuple[int, int]]
    words: np.ndarray
    bigrams: list[np.ndarray]
    dangling: np.ndarray
    tf: sp.csr_matrix
    tfidf: sp.csr_matrix

    def __len__(self) -> int:
        return len(self.spans)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a collection summary chooses from, whatever its length: the same for every call on one index."""

    pool: Pool
    scores: np.ndarray  # centrality of each row
    before: list[int]  # the row each row depends on (summary_order.predecessors)
    problem: Problem | None  # the covering problem, when selection is by concepts


class SentenceCache:
    """Sentence rows of one index, made per passage on first use and kept. It holds no reference to
    the index, so the weak-keyed cache below frees it with an index that a reindex swapped out."""

    def __init__(self) -> None:
        self.rows: dict[int, Rows] = {}
        self.documents: tuple[list[str], sp.csr_matrix] | None = None  # ids and unit tf centroids
        self.places: dict[str, tuple[str, int]] | None = None  # reading_places
        self.prepared: dict[Hashable, Prepared] = {}  # collection summaries' candidates, by settings


_CACHES: weakref.WeakKeyDictionary[Index, SentenceCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache(index: Index) -> SentenceCache:
    """The sentence cache of an index, created on first use."""
    with _CACHES_LOCK:
        found = _CACHES.get(index)
        if found is None:
            found = _CACHES[index] = SentenceCache()
        return found


def term_ids(index: Index, text: str) -> np.ndarray:
    """The known term ids of a text, in order, repeats kept."""
    found = (index.vocabulary.get(t) for t in index.analyser(text))
    return np.fromiter((t for t in found if t is not None), np.int32)


_STOP_IDS = {w: k for k, w in enumerate(sorted(STOP_WORDS))}


def word_ids(index: Index, text: str) -> np.ndarray:
    """Each word of a text as an id: its stem's term id, len(vocabulary) + k for the k-th stop word (the
    analyser's stop words and whatever else it drops), or -1 for a stem the index does not know."""
    width = len(index.vocabulary)
    ids = []
    for token in tokenize(text):
        stems = index.analyser.terms([token])
        if not stems:
            ids.append(width + _STOP_IDS.get(token, len(_STOP_IDS)))
        else:
            ids.append(index.vocabulary.get(stems[0], -1))
    return np.asarray(ids, np.int64)


def bigram_width(index: Index) -> int:
    """How many word ids there are: a bigram's key is first * width + second."""
    return len(index.vocabulary) + len(_STOP_IDS) + 1


def bigram_keys(words: np.ndarray, vocabulary: int, width: int) -> np.ndarray:
    """Keys of the bigrams of adjacent word ids, without those of two stop words or of an unknown word."""
    first, second = words[:-1], words[1:]
    keep = (first >= 0) & (second >= 0) & ((first < vocabulary) | (second < vocabulary))
    return first[keep] * width + second[keep]


def term_weights(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct term ids and their 1 + ln tf."""
    counts = Counter(ids.tolist())
    weights = [1 + math.log(c) for c in counts.values()]
    return np.fromiter(counts, np.int32, len(counts)), np.asarray(weights, np.float32)


def passage_rows(index: Index, passage: int) -> Rows:
    """A passage's sentences and their terms, split and analysed once per index."""
    rows_of = cache(index).rows
    rows = rows_of.get(passage)
    if rows is None:
        text = index.passages[passage].text
        spans = list(index.sentences(passage))
        vocabulary, width = len(index.vocabulary), bigram_width(index)
        words = [word_ids(index, text[a:b]) for a, b in spans]
        parts = [term_weights(w[(w >= 0) & (w < vocabulary)].astype(np.int32)) for w in words]
        rows = rows_of.setdefault(passage, Rows(
            spans, np.asarray([len(text[a:b].split()) for a, b in spans], np.int64),
            np.asarray([len(i) for i, _ in parts], np.int64),
            np.concatenate([i for i, _ in parts]) if parts else np.zeros(0, np.int32),
            np.concatenate([w for _, w in parts]) if parts else np.zeros(0, np.float32),
            [bigram_keys(w, vocabulary, width) for w in words],
            np.asarray([_dangles_here(index, passage, text[a:b]) for a, b in spans], bool),
            np.asarray([text[a:b].endswith(":") for a, b in spans], bool),
        ))
    return rows


def _dangles_here(index: Index, passage: int, sentence: str) -> bool:
    """Whether a sentence of a passage dangles (summary_order.dangles), unless it opens with "This X"
    where the headings above it or the document's title name X."""
    if not dangles(sentence):
        return False
    noun = opening_noun(sentence)
    if noun is None:
        return True
    p = index.passages[passage]
    named = index.analyser(" ".join((*p.section.path, index.documents[p.doc_id].title)))
    return not set(index.analyser(noun)) & set(named)


def make_pool(index: Index, parts: Sequence[tuple[int, Rows, np.ndarray]]) -> Pool:
    """A pool of the kept sentences of some passages: (passage, its rows, which of them to keep)."""
    owners, spans, words, bigrams, dangling, ids, weights, sizes = [], [], [], [], [], [], [], []
    for passage, rows, keep in parts:
        if keep.all():
            spans += rows.spans
            bigrams += rows.bigrams
            ids.append(rows.ids)
            weights.append(rows.weights)
        else:
            spans += [span for span, k in zip(rows.spans, keep, strict=True) if k]
            bigrams += [b for b, k in zip(rows.bigrams, keep, strict=True) if k]
            kept_terms = np.repeat(keep, rows.sizes)
            ids.append(rows.ids[kept_terms])
            weights.append(rows.weights[kept_terms])
        words.append(rows.words[keep])
        dangling.append(rows.dangling[keep])
        sizes.append(rows.sizes[keep])
        owners.append(np.full(int(keep.sum()), passage, np.int64))
    tf = csr(ids, weights, sizes, len(index.vocabulary))
    tfidf = tf.copy()
    tfidf.data *= index.idf[tfidf.indices].astype(np.float32)
    return Pool(_joined(owners, np.int64), spans, _joined(words, np.int64), bigrams, _joined(dangling, bool),
                unit_rows(tf), unit_rows(tfidf))


def _joined(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    """The arrays end to end (an empty array of `dtype` for none)."""
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype)


def csr(ids: Sequence[np.ndarray], weights: Sequence[np.ndarray], sizes: Sequence[np.ndarray],
        width: int) -> sp.csr_matrix:
    """Rows stacked from concatenated parts: term ids, weights, and terms per row."""
    lengths = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    indptr = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    data = np.concatenate(weights) if weights else np.zeros(0, np.float32)
    indices = np.concatenate(ids) if ids else np.zeros(0, np.int32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(lengths), width))


def unit_rows(rows: sp.csr_matrix) -> sp.csr_matrix:
    """The rows scaled to unit length (empty rows stay empty)."""
    row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    norms = np.sqrt(np.bincount(row_of, weights=np.square(rows.data, dtype=np.float64), minlength=rows.shape[0]))
    norms[norms == 0] = 1
    data = (rows.data / norms[row_of]).astype(np.float32)
    return sp.csr_matrix((data, rows.indices, rows.indptr), shape=rows.shape)


def centroid(rows: sp.csr_matrix) -> np.ndarray:
    """The unit-length mean of some rows."""
    mean = np.asarray(rows.sum(axis=0), np.float64).ravel()
    norm = np.linalg.norm(mean)
    return mean / norm if norm else mean


def unit_direction(index: Index, weights: dict[int, float]) -> np.ndarray:
    """A dense unit vector over the vocabulary with the given term weights."""
    row = np.zeros(len(index.vocabulary))
    for t, w in weights.items():
        row[t] = w
    norm = np.linalg.norm(row)
    return row / norm if norm else row


def cosines(rows: sp.csr_matrix, direction: np.ndarray) -> np.ndarray:
    """Cosine of each unit row with a unit direction."""
    return np.asarray(rows @ direction, np.float64).ravel()


def reading_places(index: Index) -> dict[str, tuple[str, int]]:
    """Where each document stands when a summary is read: its date, or else the date of the nearest dated
    document before it in the collection (an undated article keeps its place among its neighbours), then
    its position in the collection."""
    found = cache(index)
    if found.places is None:
        places: dict[str, tuple[str, int]] = {}
        date = ""
        for position, doc in enumerate(index.documents.values()):
            date = doc.date or date
            places[doc.id] = (date, position)
        found.places = places
    return found.places


def central_documents(index: Index, n: int) -> list[str]:
    """Ids of the `n` documents nearest the collection's centroid (unit tf of each document), in order."""
    found = cache(index)
    if found.documents is None:
        ids = list(dict.fromkeys(p.doc_id for p in index.passages))
        owner = {d: i for i, d in enumerate(ids)}
        rows = np.asarray([owner[p.doc_id] for p in index.passages], np.int64)
        membership = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(ids), len(rows)))
        counts = sp.csr_matrix(membership @ index.counts, dtype=np.float32)
        counts.data = 1 + np.log(counts.data)
        found.documents = ids, unit_rows(counts)
    ids, vectors = found.documents
    if len(ids) <= n:
        return ids
    closeness = cosines(vectors, centroid(vectors))
    return [ids[i] for i in np.sort(np.argsort(-closeness, kind="stable")[:n])]
