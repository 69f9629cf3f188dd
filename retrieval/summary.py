"""Extractive summaries: verbatim sentences of a document, a topic or the whole collection.

Sentences are compared as TF-IDF vectors built with the index's own analyser, vocabulary and idf
(scikit-learn-compatible CSR rows, one column per vocabulary term):

    v(s)[t] = (1 + ln tf(t, s)) * idf(t),  l2-normalised

    document    the lead sentence, then the best by  cos(v(s), c_doc) + w_pos / (1 + i / decay)
                (c_doc the mean of the document's sentence vectors, i the sentence's position),
                shown in document order
    topic       sentences of the passages that best match the topic, by
                  w_rel cos(v(s), v(topic)) + w_hit score(passage) / best + cos(v(s), c_pool)
    collection  sentences of the documents nearest the collection's centroid (the mean of the
                document centroids), by  cos(v(s), c_coll) + w_lead [s leads its document]

and then picked by maximal marginal relevance,  argmax  λ score(s) − (1 − λ) max_chosen cos(s, t),
never taking a sentence with cos ≥ `duplicate` to one already chosen: when such a sentence comes from
another document, that document is listed in the chosen sentence's `also_in` instead.
"""

from __future__ import annotations

import difflib
import math
import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .documents import is_heading
from .errors import QuestionError, UnknownDocumentError
from .index import Index
from .model import Summary, SummarySentence

MAX_SENTENCES = 15
MIN_WORDS_CAP = 10
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class SummarySettings:
    """Knobs of summarising, chosen by measurement on BBC news (bench/summary.py)."""

    position_weight: float = 0.3  # document: weight of the position prior next to centrality
    position_decay: float = 3.0  # document: sentences over which the position prior halves
    length_weight: float = 0.0  # document: weight of the length prior, min(1, words / length_words)
    length_words: int = 25
    mmr_lambda: float = 0.65  # share of relevance against novelty when picking
    duplicate: float = 0.5  # cosine at or above which two sentences say the same thing
    min_words: int = 4  # shorter sentences (datelines, bylines, captions) are never picked
    topic_passages: int = 20  # passages whose sentences compete in a topic summary
    topic_relevance: float = 1.0  # topic: weight of the sentence's own match with the topic
    topic_hit: float = 0.5  # topic: weight of its passage's retrieval score
    collection_documents: int = 40  # documents nearest the collection centroid that compete
    lead_weight: float = 0.15  # collection: bonus of a document's lead sentence
    max_candidates: int = 400  # best-scored sentences that go on to the pairwise redundancy step


@dataclass(frozen=True, slots=True)
class _Pool:
    """Candidate sentences: passage, span, and TF-IDF rows, in collection order."""

    passages: np.ndarray
    spans: list[tuple[int, int]]
    vectors: sp.csr_matrix

    def __len__(self) -> int:
        return len(self.spans)


class _SentenceVectors:
    """Sentence vectors of one index, made per passage on first use and kept. It never holds the index,
    so the weak-keyed cache below lets an index that was swapped out be freed with its vectors."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[list[tuple[int, int]], np.ndarray, np.ndarray, np.ndarray]] = {}
        self.doc_centroids: tuple[list[str], sp.csr_matrix] | None = None

    def pool(self, index: Index, passages: Iterable[int], min_words: int) -> _Pool:
        """The sentences of `passages` (headings and headlines left out), with their vectors."""
        owners: list[int] = []
        spans: list[tuple[int, int]] = []
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        sizes: list[np.ndarray] = []
        for p in passages:
            if _is_headline(index, p):
                continue
            rows = self._rows.get(p) or self._rows.setdefault(p, _passage_rows(index, p))
            text = index.passages[p].text
            keep = [i for i, (a, b) in enumerate(rows[0]) if len(text[a:b].split()) >= min_words]
            if len(keep) < len(rows[0]):
                rows = _select_rows(rows, keep)
            owners += [p] * len(rows[0])
            spans += rows[0]
            indices.append(rows[1])
            data.append(rows[2])
            sizes.append(rows[3])
        indptr = np.concatenate([[0], np.cumsum(np.concatenate(sizes))]) if sizes else np.zeros(1, np.int64)
        matrix = sp.csr_matrix(
            (np.concatenate(data) if data else np.zeros(0, np.float32),
             np.concatenate(indices) if indices else np.zeros(0, np.int32), indptr),
            shape=(len(spans), len(index.vocabulary)),
        )
        return _Pool(np.asarray(owners, np.int64), spans, matrix)


_CACHE: weakref.WeakKeyDictionary[Index, _SentenceVectors] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _vectors(index: Index) -> _SentenceVectors:
    """The sentence-vector cache of an index, created on first use."""
    with _CACHE_LOCK:
        found = _CACHE.get(index)
        if found is None:
            found = _CACHE[index] = _SentenceVectors()
        return found


def sentence_vectors(index: Index, texts: Sequence[str]) -> sp.csr_matrix:
    """Unit TF-IDF rows of any texts, as summaries compare sentences (the index's analyser and idf)."""
    parts = [_vector(index, t) for t in texts]
    indptr = np.concatenate([[0], np.cumsum([len(i) for i, _ in parts])]).astype(np.int64)
    indices = np.asarray([t for i, _ in parts for t in i], np.int32)
    data = np.asarray([w for _, d in parts for w in d], np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(texts), len(index.vocabulary)))


def _vector(index: Index, text: str) -> tuple[list[int], list[float]]:
    """Term ids and unit weights (1 + ln tf) idf of a text; terms unknown to the index are dropped."""
    counts = Counter(t for t in map(index.vocabulary.get, index.analyser(text)) if t is not None)
    weights = [(1 + math.log(c)) * float(index.idf[t]) for t, c in counts.items()]
    norm = math.sqrt(sum(w * w for w in weights)) or 1.0
    return list(counts), [w / norm for w in weights]


def _passage_rows(index: Index, passage: int) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray, np.ndarray]:
    """Spans of a passage's sentences and their vectors as CSR parts (indices, data, nnz per row)."""
    text = index.passages[passage].text
    spans = index.sentences(passage)
    indices: list[int] = []
    data: list[float] = []
    sizes: list[int] = []
    for a, b in spans:
        terms, weights = _vector(index, text[a:b])
        indices += terms
        data += weights
        sizes.append(len(terms))
    return list(spans), np.asarray(indices, np.int32), np.asarray(data, np.float32), np.asarray(sizes, np.int64)


def _select_rows(
    rows: tuple[list[tuple[int, int]], np.ndarray, np.ndarray, np.ndarray], keep: list[int]
) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray, np.ndarray]:
    """Only the sentences at positions `keep` of a passage's rows."""
    spans, indices, data, sizes = rows
    starts = np.concatenate([[0], np.cumsum(sizes)])
    take = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in keep]) if keep else np.zeros(0, np.int64)
    return [spans[i] for i in keep], indices[take], data[take], sizes[keep]


def _is_headline(index: Index, passage: int) -> bool:
    """Whether a passage is a heading, or the document's title standing alone as its first paragraph."""
    p = index.passages[passage]
    if is_heading(p.text):
        return True
    return p.paragraph == 1 and p.part == 1 and p.text == index.documents[p.doc_id].title and len(p.text.split()) <= 16


def check_length(
    sentences: int, words: int | None, max_sentences: int | None = MAX_SENTENCES, min_words: int = MIN_WORDS_CAP
) -> None:
    """QuestionError unless 1 ≤ sentences ≤ max_sentences and words (when given) ≥ min_words; the
    engine itself takes any length, the service holds users to 1–15 sentences and at least 10 words."""
    if sentences < 1 or (max_sentences is not None and sentences > max_sentences):
        limit = f"1 to {max_sentences}" if max_sentences is not None else "at least 1"
        raise QuestionError(f"A summary can have {limit} sentences, not {sentences}.")
    if words is not None and words < min_words:
        raise QuestionError(f"A summary needs room for at least {min_words} words, not {words}.")


def find_document(index: Index, name: str) -> str:
    """The id of the indexed document called `name` (its id or exact title, any case), else
    UnknownDocumentError with up to three close ids. Nothing is ever looked up on disk."""
    if name in index.documents:
        return name
    wanted = " ".join(name.split()).casefold()
    matches = [d.id for d in index.documents.values() if wanted in (d.id.casefold(), d.title.casefold())]
    if len(matches) == 1:
        return matches[0]
    raise UnknownDocumentError(name, tuple(matches[:3]) or closest_documents(index, wanted))


def closest_documents(index: Index, name: str, n: int = 3, cutoff: float = 0.4) -> tuple[str, ...]:
    """Ids of the documents whose id or title looks most like `name` (difflib, case-insensitive)."""
    probe = name.casefold()[:200]  # difflib is quadratic: a pasted essay must not stall the bot
    matcher = difflib.SequenceMatcher(b=probe, autojunk=False)
    ranked: list[tuple[float, str]] = []
    for doc in index.documents.values():
        best = 0.0
        for label in (doc.id.casefold(), doc.title.casefold()[:200]):
            matcher.set_seq1(label)
            if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
                best = max(best, matcher.ratio())
        if best >= cutoff:
            ranked.append((best, doc.id))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return tuple(doc_id for _, doc_id in ranked[:n])


def summarize_document(
    index: Index, doc_id: str, sentences: int = 5, words: int | None = None,
    settings: SummarySettings = SummarySettings(),
) -> Summary:
    """The document's lead sentence and its most central sentences, in document order."""
    check_length(sentences, words, max_sentences=None, min_words=1)
    doc_id = find_document(index, doc_id)
    pool = _vectors(index).pool(index, index.passages_of(doc_id), settings.min_words)
    doc = index.documents[doc_id]
    if not len(pool):
        return Summary("document", doc.title)
    centrality = _cosines(pool.vectors, _centroid(pool.vectors))
    position = np.arange(len(pool), dtype=np.float64)
    lengths = np.asarray([len(_text(index, pool, i).split()) for i in range(len(pool))], np.float64)
    scores = (centrality + settings.position_weight / (1 + position / settings.position_decay)
              + settings.length_weight * np.minimum(1, lengths / settings.length_words))
    chosen = _mmr(pool.vectors, scores, sentences, settings, first=0, budget=words, pool=pool, index=index)
    chosen.sort()
    return Summary("document", doc.title, _capped([_sentence(index, pool, i) for i in chosen], words))


def summarize_topic(
    index: Index, topic: str, sentences: int = 5, words: int | None = None,
    settings: SummarySettings = SummarySettings(),
) -> Summary:
    """Sentences of the passages most relevant to `topic`, best first, each fact once."""
    check_length(sentences, words, max_sentences=None, min_words=1)
    subject = " ".join(topic.split())
    query = index.query_vector(subject)
    hits = index.search(query, settings.topic_passages)
    if not hits:
        return Summary("topic", subject)
    pool = _vectors(index).pool(index, sorted(h.passage for h in hits), settings.min_words)
    relevance = _cosines(pool.vectors, _query_row(index, query))
    hit_score = {h.passage: h.score / (hits[0].score or 1.0) for h in hits}
    passage_score = np.asarray([hit_score[p] for p in pool.passages], np.float64)
    scores = (settings.topic_relevance * relevance + settings.topic_hit * passage_score
              + _cosines(pool.vectors, _centroid(pool.vectors)))
    scores[relevance <= 0] = -np.inf  # a sentence that does not mention the topic is not about it
    chosen = _mmr(pool.vectors, scores, sentences, settings, budget=words, pool=pool, index=index)
    return Summary("topic", subject, _capped(_with_also_in(index, pool, chosen, settings), words))


def summarize_collection(
    index: Index, sentences: int = 5, words: int | None = None, settings: SummarySettings = SummarySettings(),
) -> Summary:
    """The collection in a few sentences: leads and central sentences of its central documents, each fact once."""
    check_length(sentences, words, max_sentences=None, min_words=1)
    subject = f"{len(index.documents)} documents"
    doc_ids = _central_documents(index, settings.collection_documents)
    table = _vectors(index)
    pool = table.pool(index, (p for d in doc_ids for p in index.passages_of(d)), settings.min_words)
    if not len(pool):
        return Summary("collection", subject)
    owners = [index.passages[p].doc_id for p in pool.passages]
    leads = np.asarray([i == 0 or owners[i] != owners[i - 1] for i in range(len(pool))], np.float64)
    centroid = np.zeros(len(index.vocabulary))
    for d in sorted(set(owners)):  # each document one voice, however long it is
        rows = [i for i, o in enumerate(owners) if o == d]
        centroid += _centroid(pool.vectors[rows])
    scores = _cosines(pool.vectors, centroid / (np.linalg.norm(centroid) or 1.0)) + settings.lead_weight * leads
    chosen = _mmr(pool.vectors, scores, sentences, settings, budget=words, pool=pool, index=index)
    return Summary("collection", subject, _capped(_with_also_in(index, pool, chosen, settings), words))


def _central_documents(index: Index, n: int) -> list[str]:
    """Ids of the `n` documents nearest the collection's centroid, in collection order."""
    table = _vectors(index)
    if table.doc_centroids is None:
        ids = list(dict.fromkeys(p.doc_id for p in index.passages))
        owner = {d: i for i, d in enumerate(ids)}
        rows = np.asarray([owner[p.doc_id] for p in index.passages], np.int64)
        membership = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(ids), len(rows)))
        counts = sp.csr_matrix(membership @ index.counts, dtype=np.float64)
        counts.data = (1 + np.log(counts.data)) * index.idf[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        table.doc_centroids = ids, sp.csr_matrix(sp.diags(1 / norms) @ counts)
    ids, vectors = table.doc_centroids
    if len(ids) <= n:
        return ids
    closeness = _cosines(vectors, _centroid(vectors))
    best = np.sort(np.argsort(-closeness, kind="stable")[:n])
    return [ids[i] for i in best]


def _centroid(vectors: sp.csr_matrix) -> np.ndarray:
    """The unit-length mean of a set of rows."""
    mean = np.asarray(vectors.sum(axis=0)).ravel()
    norm = np.linalg.norm(mean)
    return mean / norm if norm else mean


def _cosines(vectors: sp.csr_matrix, direction: np.ndarray) -> np.ndarray:
    """Cosine of each unit row with a unit direction."""
    return np.asarray(vectors @ direction, np.float64).ravel()


def _query_row(index: Index, query: dict[int, float]) -> np.ndarray:
    """The topic as a unit TF-IDF direction."""
    row = np.zeros(len(index.vocabulary))
    for t in query:
        row[t] = index.idf[t]
    norm = np.linalg.norm(row)
    return row / norm if norm else row


def _mmr(
    vectors: sp.csr_matrix, scores: np.ndarray, n: int, settings: SummarySettings, *, first: int | None = None,
    budget: int | None, pool: _Pool, index: Index,
) -> list[int]:
    """Up to `n` rows by maximal marginal relevance (a word budget stops it once spent),
    never one as similar as `duplicate` to a row already chosen."""
    order = np.argsort(-scores, kind="stable")[: settings.max_candidates]
    order = order[np.isfinite(scores[order])]
    if not order.size:
        return []
    sub = vectors[order]
    sims = np.asarray((sub @ sub.T).toarray(), np.float64)
    top = float(scores[order[0]]) or 1.0
    relevance = scores[order] / top
    closest = np.zeros(len(order))
    available = np.ones(len(order), bool)
    picked: list[int] = []
    spent = 0
    while len(picked) < n and available.any():
        if first is not None and not picked and first in order:
            k = int(np.flatnonzero(order == first)[0])
        else:
            gain = settings.mmr_lambda * relevance - (1 - settings.mmr_lambda) * closest
            k = int(np.argmax(np.where(available, gain, -np.inf)))
        picked.append(k)
        available &= sims[k] < settings.duplicate
        available[k] = False
        closest = np.maximum(closest, sims[k])
        if budget is not None:
            a, b = pool.spans[order[k]]
            spent += len(index.passages[pool.passages[order[k]]].text[a:b].split())
            if spent >= budget:
                break
    return [int(order[k]) for k in picked]


def _text(index: Index, pool: _Pool, i: int) -> str:
    """The text of row `i` of the pool."""
    a, b = pool.spans[i]
    return index.passages[pool.passages[i]].text[a:b]


def _sentence(index: Index, pool: _Pool, i: int, also_in: tuple[str, ...] = ()) -> SummarySentence:
    """Row `i` of the pool as a verbatim sentence with its source."""
    passage = index.passages[pool.passages[i]]
    doc = index.documents[passage.doc_id]
    a, b = pool.spans[i]
    return SummarySentence(passage.text[a:b], doc.id, doc.title, passage.paragraph, doc.date, also_in)


def _with_also_in(index: Index, pool: _Pool, chosen: Sequence[int], settings: SummarySettings) -> list[SummarySentence]:
    """The chosen rows as sentences, each listing the other documents of the pool that say the same."""
    if not chosen:
        return []
    sims = np.asarray((pool.vectors[list(chosen)] @ pool.vectors.T).toarray())
    docs = [index.passages[p].doc_id for p in pool.passages]
    result = []
    for row, i in zip(sims, chosen, strict=True):
        same = np.flatnonzero(row >= settings.duplicate)
        others = sorted({docs[j] for j in same} - {docs[i]})
        result.append(_sentence(index, pool, i, tuple(others)))
    return result


def _capped(sentences: list[SummarySentence], words: int | None) -> tuple[SummarySentence, ...]:
    """The sentences within `words` words in all; the one that overflows is cut and ends in "…"."""
    if words is None:
        return tuple(sentences)
    kept: list[SummarySentence] = []
    left = words
    for s in sentences:
        n = len(s.text.split())
        if n <= left:
            kept.append(s)
            left -= n
            continue
        if left >= 4 or not kept:  # a stub of two or three words says nothing: drop it instead
            kept.append(_cut(s, left))
        break
    return tuple(kept)


def _cut(sentence: SummarySentence, words: int) -> SummarySentence:
    """The first `words` words of a sentence, verbatim, followed by "…"."""
    text = sentence.text
    end = 0
    for _ in range(words):
        while end < len(text) and text[end].isspace():
            end += 1
        while end < len(text) and not text[end].isspace():
            end += 1
    cut = text[:end].rstrip(",;:—–-") + ELLIPSIS
    return SummarySentence(cut, sentence.source, sentence.title, sentence.paragraph, sentence.date, sentence.also_in)
