"""Extractive summaries: verbatim sentences of a document, a topic or the whole collection.

Each sentence is a row of two unit vectors over the index's vocabulary, made with the index's own
analyser (stems, no stop words) and idf, as scikit-learn-compatible CSR rows:

    tf(s)[t]    = 1 + ln count(t, s)                 centrality: which sentences are typical
    tfidf(s)[t] = (1 + ln count(t, s)) * idf(t)      redundancy and topic match

    document    the lead sentence, then the sentences nearest the document's centroid
                  cos(tf(s), mean of the document's tf rows)   (+ optional position and length priors)
                shown in document order
    topic       sentences of the passages that best match the topic (index.search), by
                  w_rel cos(tfidf(s), tfidf(topic)) + w_hit score(passage) / best + cos(tf(s), pool centroid)
    collection  sentences of the documents nearest the collection's centroid, by
                  cos(tf(s), mean of the document centroids) + w_lead [s leads its document]

then picked by maximal marginal relevance,  argmax  λ score(s)/best − (1 − λ) max_chosen cos(tfidf(s), tfidf(t)),
never taking a sentence with tfidf cosine ≥ `duplicate` to one already chosen: when such a sentence is
in another document, that document goes into the chosen sentence's `also_in` instead.

Measured on 500 BBC articles (bench/summary.py): plain tf centrality beats tf-idf (idf discounts the
very words a story repeats), and a position prior beyond the lead only hurts.
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
from .structure import LIST, NOTE, PROSE

MAX_SENTENCES = 15
MIN_WORDS_CAP = 10
MAX_TOPIC_CHARS = 1000
ELLIPSIS = "…"



@dataclass(frozen=True, slots=True)
class SummarySettings:
    """Knobs of summarising; the defaults are the best measured on BBC news (bench/summary.py)."""

    centrality_idf: bool = False  # weigh centrality by idf too (measured worse)
    position_weight: float = 0.0  # document: weight of a prior 1 / (1 + i / position_decay) (measured worse)
    position_decay: float = 3.0
    length_weight: float = 0.0  # document: weight of a prior min(1, words / length_words) (no gain)
    length_words: int = 25
    document_lambda: float = 1.0  # document: MMR λ; 1 ranks by centrality alone (measured best)
    mmr_lambda: float = 0.65  # topic: share of relevance against novelty
    # Collection: novelty counts more, since articles on one event retell it in other words (seeds).
    collection_lambda: float = 0.4
    duplicate: float = 0.5  # tf-idf cosine at or above which two sentences say the same thing
    min_words: int = 4  # shorter sentences (datelines, bylines, captions) are never picked
    topic_passages: int = 20  # passages whose sentences compete in a topic summary
    topic_relevance: float = 1.0  # topic: weight of the sentence's own match with the topic
    topic_hit: float = 0.5  # topic: weight of its passage's retrieval score
    collection_documents: int = 40  # documents nearest the collection centroid that compete
    lead_weight: float = 0.0  # collection: bonus of a document's lead (0.15 repeated the seeds' leads)
    max_candidates: int = 400  # best-scored sentences that go on to the pairwise redundancy step


@dataclass(frozen=True, slots=True)
class _Rows:
    """A passage's sentences: spans, word counts, and the CSR parts of their 1 + ln tf weights."""

    spans: list[tuple[int, int]]
    words: np.ndarray
    sizes: np.ndarray  # distinct known terms per sentence
    ids: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True, slots=True)
class _Pool:
    """Candidate sentences in collection order: passage, span, and unit tf and tf-idf rows."""

    passages: np.ndarray
    spans: list[tuple[int, int]]
    tf: sp.csr_matrix
    tfidf: sp.csr_matrix

    def __len__(self) -> int:
        return len(self.spans)


class _SentenceCache:
    """Sentence rows of one index, made per passage on first use and kept. It holds no reference to
    the index, so the weak-keyed cache below frees it with an index that a reindex swapped out."""

    def __init__(self) -> None:
        self.rows: dict[int, _Rows] = {}
        self.documents: tuple[list[str], sp.csr_matrix] | None = None  # ids and unit tf centroids


_CACHES: weakref.WeakKeyDictionary[Index, _SentenceCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache(index: Index) -> _SentenceCache:
    """The sentence cache of an index, created on first use."""
    with _CACHES_LOCK:
        found = _CACHES.get(index)
        if found is None:
            found = _CACHES[index] = _SentenceCache()
        return found


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


def check_topic(topic: str) -> str:
    """The topic with its spaces collapsed; QuestionError when empty or too long."""
    text = " ".join(topic.split())
    if not text:
        raise QuestionError("Please name a topic to summarise: it was empty.")
    if len(text) > MAX_TOPIC_CHARS:
        raise QuestionError(f"That topic is {len(text):,} characters long; please keep it under {MAX_TOPIC_CHARS:,}.")
    return text


def find_document(index: Index, name: str) -> str:
    """The id of the indexed document called `name` (its id, its id or title in any case, or the
    start of exactly one id), else UnknownDocumentError with up to three close ids. Only the index is
    consulted, never the disk."""
    if name in index.documents:
        return name
    wanted = " ".join(name.split()).casefold()
    matches = [d.id for d in index.documents.values() if wanted in (d.id.casefold(), d.title.casefold())]
    if not matches and len(wanted) >= 3:  # the start of an id, as with short commit hashes: "004"
        matches = [d.id for d in index.documents.values() if d.id.casefold().startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    raise UnknownDocumentError(name, tuple(sorted(matches)[:3]) or closest_documents(index, wanted))


def closest_documents(index: Index, name: str, n: int = 3, cutoff: float = 0.4) -> tuple[str, ...]:
    """Ids of the documents whose id or title looks most like `name` (difflib, case-insensitive)."""
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(name.casefold()[:200])  # difflib is quadratic: a pasted essay must not stall the bot
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
    doc = index.documents[find_document(index, doc_id)]
    pool = _pool(index, index.passages_of(doc.id), settings)
    if not len(pool):
        return Summary("document", doc.title)
    central = _central(pool, settings)
    scores = _cosines(central, _centroid(central))
    if settings.position_weight:
        scores += settings.position_weight / (1 + np.arange(len(pool)) / settings.position_decay)
    if settings.length_weight:
        lengths = np.asarray([len(_text(index, pool, i).split()) for i in range(len(pool))], np.float64)
        scores += settings.length_weight * np.minimum(1, lengths / settings.length_words)
    chosen = _mmr(index, pool, scores, sentences, words, settings.document_lambda, settings, first=0)
    return Summary("document", doc.title, _capped([_sentence(index, pool, i) for i in sorted(chosen)], words))


def summarize_topic(
    index: Index, topic: str, sentences: int = 5, words: int | None = None,
    settings: SummarySettings = SummarySettings(),
) -> Summary:
    """Sentences of the passages most relevant to `topic`, best first, each fact once."""
    check_length(sentences, words, max_sentences=None, min_words=1)
    subject = " ".join(topic.split())
    query = index.query_vector(subject)
    hits = index.search(query, settings.topic_passages)
    pool = _pool(index, sorted(h.passage for h in hits), settings)
    if not len(pool):
        return Summary("topic", subject)
    relevance = _cosines(pool.tfidf, _unit_direction(index, {t: float(index.idf[t]) for t in query}))
    share = {h.passage: h.score / (hits[0].score or 1.0) for h in hits}
    central = _central(pool, settings)
    scores = (settings.topic_relevance * relevance + _cosines(central, _centroid(central))
              + settings.topic_hit * np.asarray([share[p] for p in pool.passages], np.float64))
    scores[relevance <= 0] = -np.inf  # a sentence that does not name the topic is not about it
    chosen = _mmr(index, pool, scores, sentences, words, settings.mmr_lambda, settings)
    return Summary("topic", subject, _capped(_with_also_in(index, pool, chosen, settings.duplicate), words))


def summarize_collection(
    index: Index, sentences: int = 5, words: int | None = None, settings: SummarySettings = SummarySettings(),
) -> Summary:
    """The collection in a few sentences: leads and central sentences of its central documents, each fact once."""
    check_length(sentences, words, max_sentences=None, min_words=1)
    subject = f"{len(index.documents)} documents"
    doc_ids = _central_documents(index, settings.collection_documents)
    pool = _pool(index, (p for d in doc_ids for p in index.passages_of(d)), settings)
    if not len(pool):
        return Summary("collection", subject)
    owners = np.unique([index.passages[p].doc_id for p in pool.passages], return_inverse=True)[1]
    leads = np.r_[True, owners[1:] != owners[:-1]].astype(np.float64)
    central = _central(pool, settings)
    membership = sp.csr_matrix((np.ones(len(pool)), (owners, np.arange(len(pool)))))
    centroids = _unit_rows(sp.csr_matrix(membership @ central))  # each document one voice, however long
    scores = _cosines(central, _centroid(centroids)) + settings.lead_weight * leads
    chosen = _mmr(index, pool, scores, sentences, words, settings.collection_lambda, settings)
    return Summary("collection", subject, _capped(_with_also_in(index, pool, chosen, settings.duplicate), words))


def sentence_vectors(index: Index, texts: Sequence[str]) -> sp.csr_matrix:
    """Unit tf-idf rows of any texts, as summaries compare sentences for redundancy."""
    parts = [_term_weights(index, t) for t in texts]
    sizes = np.asarray([len(i) for i, _ in parts], np.int64)
    rows = _csr([i for i, _ in parts], [w for _, w in parts], [sizes], len(index.vocabulary))
    rows.data *= index.idf[rows.indices].astype(np.float32)
    return _unit_rows(rows)


def _term_weights(index: Index, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Term ids of a text and their 1 + ln tf; terms unknown to the index are dropped."""
    counts = Counter(t for t in map(index.vocabulary.get, index.analyser(text)) if t is not None)
    weights = [1 + math.log(c) for c in counts.values()]
    return np.fromiter(counts, np.int32, len(counts)), np.asarray(weights, np.float32)


def _csr(ids: Sequence[np.ndarray], weights: Sequence[np.ndarray], sizes: Sequence[np.ndarray],
         width: int) -> sp.csr_matrix:
    """Rows stacked from concatenated parts: term ids, weights, and terms per row."""
    lengths = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    indptr = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    data = np.concatenate(weights) if weights else np.zeros(0, np.float32)
    indices = np.concatenate(ids) if ids else np.zeros(0, np.int32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(lengths), width))


def _passage_rows(index: Index, passage: int) -> _Rows:
    """A passage's sentences and their term weights, split and analysed once per index."""
    cache = _cache(index).rows
    rows = cache.get(passage)
    if rows is None:
        text = index.passages[passage].text
        spans = list(index.sentences(passage))
        parts = [_term_weights(index, text[a:b]) for a, b in spans]
        rows = cache.setdefault(passage, _Rows(
            spans, np.asarray([len(text[a:b].split()) for a, b in spans], np.int64),
            np.asarray([len(i) for i, _ in parts], np.int64),
            np.concatenate([i for i, _ in parts]) if parts else np.zeros(0, np.int32),
            np.concatenate([w for _, w in parts]) if parts else np.zeros(0, np.float32),
        ))
    return rows


SUMMARY_KINDS = (PROSE, LIST, NOTE)  # summaries are prose: never code, table rows or markup


def _pool(index: Index, passages: Iterable[int], settings: SummarySettings) -> _Pool:
    """The sentences of `passages` worth quoting (no headings, headlines or stubs), with their rows."""
    owners: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    for p in passages:
        if _is_headline(index, p) or index.passages[p].kind not in SUMMARY_KINDS:
            continue
        rows = _passage_rows(index, p)
        keep = (rows.words >= settings.min_words) & (rows.sizes > 0)
        if keep.all():
            spans += rows.spans
            ids.append(rows.ids)
            weights.append(rows.weights)
        else:
            spans += [span for span, k in zip(rows.spans, keep, strict=True) if k]
            terms = np.repeat(keep, rows.sizes)
            ids.append(rows.ids[terms])
            weights.append(rows.weights[terms])
        sizes.append(rows.sizes[keep])
        owners.append(np.full(int(keep.sum()), p, np.int64))
    tf = _csr(ids, weights, sizes, len(index.vocabulary))
    tfidf = tf.copy()
    tfidf.data *= index.idf[tfidf.indices].astype(np.float32)
    passage_of = np.concatenate(owners) if owners else np.zeros(0, np.int64)
    return _Pool(passage_of, spans, _unit_rows(tf), _unit_rows(tfidf))


def _is_headline(index: Index, passage: int) -> bool:
    """Whether a passage is a heading, or the document's title standing alone as its first paragraph."""
    p = index.passages[passage]
    title = index.documents[p.doc_id].title
    return is_heading(p.text) or (p.paragraph == 1 and p.text == title and len(p.text.split()) <= 16)


def _central(pool: _Pool, settings: SummarySettings) -> sp.csr_matrix:
    """The rows centrality is measured on."""
    return pool.tfidf if settings.centrality_idf else pool.tf


def _unit_rows(rows: sp.csr_matrix) -> sp.csr_matrix:
    """The rows scaled to unit length (empty rows stay empty)."""
    row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    norms = np.sqrt(np.bincount(row_of, weights=np.square(rows.data, dtype=np.float64), minlength=rows.shape[0]))
    norms[norms == 0] = 1
    data = (rows.data / norms[row_of]).astype(np.float32)
    return sp.csr_matrix((data, rows.indices, rows.indptr), shape=rows.shape)


def _centroid(rows: sp.csr_matrix) -> np.ndarray:
    """The unit-length mean of some rows."""
    mean = np.asarray(rows.sum(axis=0), np.float64).ravel()
    norm = np.linalg.norm(mean)
    return mean / norm if norm else mean


def _unit_direction(index: Index, weights: dict[int, float]) -> np.ndarray:
    """A dense unit vector over the vocabulary with the given term weights."""
    row = np.zeros(len(index.vocabulary))
    for t, w in weights.items():
        row[t] = w
    norm = np.linalg.norm(row)
    return row / norm if norm else row


def _cosines(rows: sp.csr_matrix, direction: np.ndarray) -> np.ndarray:
    """Cosine of each unit row with a unit direction."""
    return np.asarray(rows @ direction, np.float64).ravel()


def _central_documents(index: Index, n: int) -> list[str]:
    """Ids of the `n` documents nearest the collection's centroid (unit tf of each document), in order."""
    cache = _cache(index)
    if cache.documents is None:
        ids = list(dict.fromkeys(p.doc_id for p in index.passages))
        owner = {d: i for i, d in enumerate(ids)}
        rows = np.asarray([owner[p.doc_id] for p in index.passages], np.int64)
        membership = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(len(ids), len(rows)))
        counts = sp.csr_matrix(membership @ index.counts, dtype=np.float32)
        counts.data = 1 + np.log(counts.data)
        cache.documents = ids, _unit_rows(counts)
    ids, vectors = cache.documents
    if len(ids) <= n:
        return ids
    closeness = _cosines(vectors, _centroid(vectors))
    return [ids[i] for i in np.sort(np.argsort(-closeness, kind="stable")[:n])]


def _mmr(
    index: Index, pool: _Pool, scores: np.ndarray, n: int, words: int | None, lam: float, settings: SummarySettings,
    first: int | None = None,
) -> list[int]:
    """Up to `n` rows by maximal marginal relevance (`first` first, when given), stopping once `words`
    words are spent, and never a row with tf-idf cosine ≥ `duplicate` to one already chosen."""
    order = np.argsort(-scores, kind="stable")[: settings.max_candidates]
    order = order[np.isfinite(scores[order])]
    if first is not None:
        order = np.r_[first, order[order != first]]
    if not order.size:
        return []
    sub = pool.tfidf[order]
    sims = np.asarray((sub @ sub.T).toarray(), np.float64)
    relevance = scores[order] / (np.abs(scores[order]).max() or 1.0)
    closest = np.zeros(len(order))
    available = np.ones(len(order), bool)
    picked: list[int] = []
    spent = 0
    while len(picked) < n and available.any():
        gain = lam * relevance - (1 - lam) * closest
        k = 0 if first is not None and not picked else int(np.argmax(np.where(available, gain, -np.inf)))
        picked.append(k)
        available &= sims[k] < settings.duplicate
        available[k] = False
        closest = np.maximum(closest, sims[k])
        spent += len(_text(index, pool, int(order[k])).split())
        if words is not None and spent >= words:
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
    return SummarySentence(_text(index, pool, i), doc.id, doc.title, passage.paragraph, doc.date, also_in)


def _with_also_in(index: Index, pool: _Pool, chosen: Sequence[int], duplicate: float) -> list[SummarySentence]:
    """The chosen rows as sentences, each listing the other documents of the pool that say the same."""
    if not chosen:
        return []
    sims = np.asarray((pool.tfidf[list(chosen)] @ pool.tfidf.T).toarray())
    docs = [index.passages[p].doc_id for p in pool.passages]
    sentences = []
    for row, i in zip(sims, chosen, strict=True):
        others = sorted({docs[j] for j in np.flatnonzero(row >= duplicate)} - {docs[i]})
        sentences.append(_sentence(index, pool, i, tuple(others)))
    return sentences


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
