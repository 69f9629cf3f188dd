"""Extractive summaries: verbatim sentences of a document, a topic or the whole collection.

Sentences are rows over the index's vocabulary (summary_pool.py: unit tf and tf-idf rows, and each
sentence's stems in order), made with the index's own analyser and idf.

    document    the lead sentence, then the sentences nearest the document's centroid,
                  cos(tf(s), mean of the document's tf rows), picked by maximal marginal relevance
                  argmax λ score(s)/best − (1 − λ) max_chosen cos(tfidf(s), tfidf(t)); document order
    collection  the sentences of the documents nearest the collection's centroid that together cover the
                most concepts (content-word bigrams weighed by the number of documents that contain
                them) within the budget: summary_select.py, exact for small pools, else greedy
    topic       the same covering over the sentences (naming the topic) of the passages that best match
                it (index.search), a concept weighing (1 + topic_weight) times more when it holds a
                topic term

Never two sentences with tf-idf cosine ≥ `duplicate` (the other document goes into the chosen one's
`also_in`). A sentence that opens with "He", "However"… (summary_order.py) comes in a topic or
collection summary only right after the sentence it depends on, and in a document summary only after
an earlier sentence of the document (requiring the very sentence before it there cost 2.8 ROUGE-2
points on BBC, and in one document's own order "He" reads as its protagonist). Topic and collection
summaries read in the order of their documents' dates, then of the sentences in their document. A
budget of words takes whole sentences that fit; only a lone sentence longer than the whole budget is
cut, with "…".

Measured on 500 BBC articles (documents) and DUC 2003 task 2 (collections) in bench/summary.py: plain
tf centrality beats tf-idf for one document (idf discounts the very words a story repeats), and concept
coverage beats centrality + MMR on clusters of news articles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .documents import is_heading
from .index import Index
from .model import Summary
from .structure import LIST, NOTE, PROSE
from .summary_order import predecessors
from .summary_output import ELLIPSIS, shown
from .summary_pool import (
    Pool,
    Prepared,
    bigram_width,
    cache,
    central_documents,
    centroid,
    cosines,
    csr,
    make_pool,
    passage_rows,
    reading_places,
    term_ids,
    term_weights,
    unit_direction,
    unit_rows,
)
from .summary_request import (
    DEFAULT_SENTENCES,
    MAX_SENTENCES,
    MAX_TOPIC_CHARS,
    MIN_WORDS_CAP,
    check_length,
    check_topic,
    closest_documents,
    find_document,
    sentence_limit,
)
from .summary_select import Problem, concept_rows, fill, select

__all__ = [
    "DEFAULT_SENTENCES", "ELLIPSIS", "MAX_SENTENCES", "MAX_TOPIC_CHARS", "MIN_WORDS_CAP", "SUMMARY_KINDS",
    "SummarySettings", "check_length", "check_topic", "closest_documents", "find_document", "sentence_limit",
    "sentence_vectors", "summarize_collection", "summarize_document", "summarize_topic",
]



@dataclass(frozen=True, slots=True)
class SummarySettings:
    """Knobs of summarising; the defaults are the best measured (bench/summary.py)."""

    centrality_idf: bool = False  # weigh centrality by idf too (measured worse)
    position_weight: float = 0.0  # document: weight of a prior 1 / (1 + i / position_decay) (measured worse)
    position_decay: float = 3.0
    length_weight: float = 0.0  # document: weight of a prior min(1, words / length_words) (no gain)
    length_words: int = 25
    document_lambda: float = 1.0  # document: MMR λ; 1 ranks by centrality alone (measured best)
    selection: str = "concepts"  # topic and collection: "concepts" (coverage) or "mmr" (centrality + MMR)
    concept_share: float = 0.5  # a concept is in at least this share of the documents (and at least 2)
    exact_up_to: int = 0  # candidate sentences up to which the covering is solved exactly (HiGHS is slow)
    greedy_seeds: int = 5  # greedy coverings that start from each of the best sentences per word
    topic_weight: float = 1.0  # topic: extra weight of a concept that holds a topic term
    dangling: bool = True  # a sentence opening with "He", "However"… needs the one before it
    document_dangling: str = "after-any"  # document: …needs "adjacent" (the one before it) or "after-any" chosen
    mmr_lambda: float = 0.65  # topic ("mmr"): share of relevance against novelty
    collection_lambda: float = 0.4  # collection ("mmr"): novelty counts more, articles retell one event
    duplicate: float = 0.5  # tf-idf cosine at or above which two sentences say the same thing
    min_words: int = 4  # shorter sentences (datelines, bylines, captions) are never picked
    topic_passages: int = 20  # passages whose sentences compete in a topic summary
    topic_relevance: float = 1.0  # topic: weight of the sentence's own match with the topic
    topic_hit: float = 0.5  # topic: weight of its passage's retrieval score
    collection_documents: int = 40  # documents nearest the collection centroid that compete
    lead_weight: float = 0.0  # collection: bonus of a document's lead (0.15 repeated the seeds' leads)
    max_candidates: int = 400  # best-scored sentences that go on to the pairwise redundancy step


def summarize_document(
    index: Index, doc_id: str, sentences: int | None = None, words: int | None = None,
    settings: SummarySettings = SummarySettings(),
) -> Summary:
    """The document's lead sentence and its most central sentences, in document order."""
    check_length(sentences, words, max_sentences=None, min_words=1)
    doc = index.documents[find_document(index, doc_id)]
    pool = _pool(index, index.passages_of(doc.id), settings)
    if not len(pool):
        return Summary("document", doc.title)
    central = _central(pool, settings)
    scores = cosines(central, centroid(central))
    if settings.position_weight:
        scores += settings.position_weight / (1 + np.arange(len(pool)) / settings.position_decay)
    if settings.length_weight:
        scores += settings.length_weight * np.minimum(1, pool.words / settings.length_words)
    chosen, before = _or_relaxed(lambda before: _mmr(
        pool, scores, sentence_limit(sentences, words), words, settings.document_lambda, settings, before, first=0,
        loose=settings.document_dangling == "after-any"), _before(index, pool, settings))
    lead_first = np.where(np.arange(len(pool)) == 0, np.inf, scores)  # when nothing fits, the lead is cut
    return Summary("document", doc.title, shown(index, pool, sorted(chosen), words, lead_first, before))


def summarize_topic(
    index: Index, topic: str, sentences: int | None = None, words: int | None = None,
    settings: SummarySettings = SummarySettings(),
) -> Summary:
    """Sentences about `topic` from the passages that match it best, each fact once, in reading order."""
    check_length(sentences, words, max_sentences=None, min_words=1)
    subject = " ".join(topic.split())
    query = index.query_vector(subject)
    hits = index.search(query, settings.topic_passages)
    # The passage before a hit comes too, so that a hit's "He said…" can bring the sentence it needs.
    wanted = {h.passage for h in hits} | {h.passage - 1 for h in hits if _same_document(index, h.passage - 1,
                                                                                          h.passage)}
    pool = _pool(index, sorted(wanted), settings)
    if not len(pool):
        return Summary("topic", subject)
    relevance = cosines(pool.tfidf, unit_direction(index, {t: float(index.idf[t]) for t in query}))
    share = {h.passage: h.score / (hits[0].score or 1.0) for h in hits}
    central = _central(pool, settings)
    scores = (settings.topic_relevance * relevance + cosines(central, centroid(central))
              + settings.topic_hit * np.asarray([share.get(p, 0.0) for p in pool.passages], np.float64))
    named = relevance > 0  # a sentence that does not name the topic is not about it
    limit = sentence_limit(sentences, words)

    def choose(before: list[int]) -> list[int]:
        if settings.selection == "mmr":
            return _mmr(pool, np.where(named, scores, -np.inf), limit, words, settings.mmr_lambda, settings, before)
        problem = _problem(index, pool, scores, settings, before, named, frozenset(query))
        return _cover(problem, limit, words, settings)

    chosen, before = _or_relaxed(choose, _before(index, pool, settings), named)
    rows = _reading_order(index, pool, chosen)
    return Summary("topic", subject, shown(index, pool, rows, words, np.where(named, scores, -np.inf), before,
                                            settings.duplicate))


def summarize_collection(
    index: Index, sentences: int | None = None, words: int | None = None,
    settings: SummarySettings = SummarySettings(),
) -> Summary:
    """The collection in a few sentences that cover what its central documents share, each fact once, in
    the order of the documents' dates."""
    check_length(sentences, words, max_sentences=None, min_words=1)
    subject = f"{len(index.documents)} documents"
    prepared = _collection(index, settings)
    if prepared is None:
        return Summary("collection", subject)
    pool, scores, before, problem = prepared.pool, prepared.scores, prepared.before, prepared.problem
    limit = sentence_limit(sentences, words)
    if problem is None:
        chosen = _mmr(pool, scores, limit, words, settings.collection_lambda, settings, before)
    else:
        chosen = _cover(problem, limit, words, settings)
    if all(b != -1 for b in before):  # every sentence points back ("He said…"): better those than none
        before = [-1] * len(pool)
        chosen = _mmr(pool, scores, limit, words, settings.collection_lambda, settings, before)
    rows = _reading_order(index, pool, chosen)
    return Summary("collection", subject, shown(index, pool, rows, words, scores, before, settings.duplicate))


def _or_relaxed(choose: Callable[[list[int]], list[int]], before: list[int], eligible: np.ndarray | None = None
                ) -> tuple[list[int], list[int]]:
    """What `choose` picks under the dangling rule (`before`), or without it when every `eligible` row
    points back ("He said…"): such a sentence is better than no summary. Returns the rows and the rule."""
    free = np.asarray(before) == -1
    if free.any() if eligible is None else (free & eligible).any():
        return choose(before), before
    relaxed = [-1] * len(before)
    return choose(relaxed), relaxed


def _collection(index: Index, settings: SummarySettings) -> Prepared | None:
    """The candidates of the index's collection summaries (None when there are none), prepared once per
    index and settings: only the budgets differ from one call to the next."""
    found = cache(index).prepared
    if settings not in found:
        doc_ids = central_documents(index, settings.collection_documents)
        pool = _pool(index, (p for d in doc_ids for p in index.passages_of(d)), settings)
        if not len(pool):
            return None
        owners = _owners(index, pool)
        leads = np.r_[True, owners[1:] != owners[:-1]].astype(np.float64)
        central = _central(pool, settings)
        membership = sp.csr_matrix((np.ones(len(pool)), (owners, np.arange(len(pool)))))
        centroids = unit_rows(sp.csr_matrix(membership @ central))  # each document one voice, however long
        scores = cosines(central, centroid(centroids)) + settings.lead_weight * leads
        before = _before(index, pool, settings)
        problem = None if settings.selection == "mmr" else _problem(index, pool, scores, settings, before)
        found[settings] = Prepared(pool, scores, before, problem)
    return found[settings]


def sentence_vectors(index: Index, texts: Sequence[str]) -> sp.csr_matrix:
    """Unit tf-idf rows of any texts, as summaries compare sentences for redundancy."""
    parts = [term_weights(term_ids(index, t)) for t in texts]
    sizes = np.asarray([len(i) for i, _ in parts], np.int64)
    rows = csr([i for i, _ in parts], [w for _, w in parts], [sizes], len(index.vocabulary))
    rows.data *= index.idf[rows.indices].astype(np.float32)
    return unit_rows(rows)


SUMMARY_KINDS = (PROSE, LIST, NOTE)  # summaries are prose: never code, table rows or markup


def _pool(index: Index, passages: Iterable[int], settings: SummarySettings) -> Pool:
    """The sentences of `passages` worth quoting (no headings, headlines, stubs, or sentences announcing
    what follows them: "Use this parameter:"), with their rows."""
    parts = []
    for p in passages:
        if _is_headline(index, p) or index.passages[p].kind not in SUMMARY_KINDS:
            continue
        rows = passage_rows(index, p)
        parts.append((p, rows, (rows.words >= settings.min_words) & (rows.sizes > 0) & ~rows.announces))
    return make_pool(index, parts)


def _is_headline(index: Index, passage: int) -> bool:
    """Whether a passage is a heading, or the document's title standing alone as its first paragraph."""
    p = index.passages[passage]
    title = index.documents[p.doc_id].title
    return is_heading(p.text) or (p.paragraph == 1 and p.text == title and len(p.text.split()) <= 16)


def _same_document(index: Index, a: int, b: int) -> bool:
    """Whether passages `a` and `b` exist and belong to one document."""
    return 0 <= a < len(index.passages) and index.passages[a].doc_id == index.passages[b].doc_id


def _central(pool: Pool, settings: SummarySettings) -> sp.csr_matrix:
    """The rows centrality is measured on."""
    return pool.tfidf if settings.centrality_idf else pool.tf


def _owners(index: Index, pool: Pool) -> np.ndarray:
    """For each row, a number for its document (rows of one document are contiguous)."""
    return np.unique([index.passages[p].doc_id for p in pool.passages], return_inverse=True)[1]


def _before(index: Index, pool: Pool, settings: SummarySettings) -> list[int]:
    """For each row, the row it depends on (summary_order.predecessors): rows follow each other when they
    are in one document with no passage between them."""
    if not settings.dangling:
        return [-1] * len(pool)
    owners = _owners(index, pool)
    breaks = np.r_[True, (owners[1:] != owners[:-1]) | (np.diff(pool.passages) > 1)]
    return predecessors(np.cumsum(breaks).tolist(), pool.dangling.tolist())


def _mmr(pool: Pool, scores: np.ndarray, n: int, words: int | None, lam: float, settings: SummarySettings,
         before: Sequence[int], first: int | None = None, loose: bool = False) -> list[int]:
    """Up to `n` rows by maximal marginal relevance (`first` first, when allowed), each fitting in what is
    left of `words`, never one that dangles without the row before it, and never a row with tf-idf
    cosine ≥ `duplicate` to one already chosen."""
    order = np.argsort(-scores, kind="stable")[: settings.max_candidates]
    order = order[np.isfinite(scores[order])]
    first = first if first is not None and before[first] == -1 else None
    if first is not None:
        order = np.r_[first, order[order != first]]
    depends = np.asarray(before, np.int64)[order]
    if not order.size:
        return []
    sub = pool.tfidf[order]
    sims = np.asarray((sub @ sub.T).toarray(), np.float64)
    relevance = scores[order] / (np.abs(scores[order]).max() or 1.0)
    lengths = pool.words[order]
    closest = np.zeros(len(order))
    available = (depends != -2) | loose
    chosen = np.zeros(len(pool), bool)
    earliest = len(pool)
    picked: list[int] = []
    left = words
    while len(picked) < n:
        ready = available & ((depends == -1) | chosen[np.maximum(depends, 0)] | (loose & (order > earliest)))
        if left is not None:
            ready &= lengths <= left
        if not ready.any():
            break
        gain = lam * relevance - (1 - lam) * closest
        k = 0 if first is not None and not picked and ready[0] else int(np.argmax(np.where(ready, gain, -np.inf)))
        picked.append(k)
        chosen[order[k]] = True
        earliest = min(earliest, int(order[k]))
        available &= sims[k] < settings.duplicate
        available[k] = False
        closest = np.maximum(closest, sims[k])
        left = None if left is None else left - int(lengths[k])
    return [int(order[k]) for k in picked]


def _problem(index: Index, pool: Pool, scores: np.ndarray, settings: SummarySettings, before: list[int],
             named: np.ndarray | None = None, topic: frozenset[int] = frozenset()) -> Problem:
    """The covering problem of a pool (summary_select.py): `named` rows alone are eligible (with the rows
    they depend on), and concepts holding a `topic` term weigh more."""
    eligible = np.ones(len(pool), bool) if named is None else named.copy()
    support = np.zeros(len(pool), bool)
    for row in np.flatnonzero(eligible).tolist():
        r = before[row]
        while r >= 0 and not eligible[r]:
            support[r] = True
            r = before[r]
    owners = _owners(index, pool)
    units = owners if owners.max() >= 2 else np.unique(pool.passages, return_inverse=True)[1]
    count = int(units.max()) + 1
    min_df = 1 if count < 3 else max(2, math.ceil(settings.concept_share * count))
    concepts, weights, found = concept_rows(pool.bigrams, units, min_df)
    width = bigram_width(index)
    if topic:
        holds = np.isin(found // width, list(topic)) | np.isin(found % width, list(topic))
        weights = weights * (1 + settings.topic_weight * holds)
    finite = np.where(np.isfinite(scores), scores, 0.0)
    tie = (finite - finite.min()) / ((finite.max() - finite.min()) or 1.0)
    gain = np.asarray(concepts @ weights).ravel() + tie
    candidates = np.zeros(len(pool), bool)
    candidates[np.argsort(-np.where(eligible, gain, -np.inf), kind="stable")[: settings.max_candidates]] = True
    eligible = (eligible & candidates) | support
    conflicts = _conflicts(pool, np.flatnonzero(eligible), settings.duplicate)
    return Problem(concepts, weights, pool.words, before, conflicts, tie, eligible, support)


def _cover(problem: Problem, n: int, words: int | None, settings: SummarySettings) -> list[int]:
    """The rows that cover the most concept weight within the budgets, then the best that still fit."""
    return fill(problem, select(problem, words, n, settings.exact_up_to, settings.greedy_seeds), words, n)


def _conflicts(pool: Pool, rows: np.ndarray, duplicate: float) -> np.ndarray:
    """Pairs of `rows` whose tf-idf cosine is at least `duplicate`."""
    if rows.size < 2:
        return np.zeros((0, 2), np.int64)
    sub = pool.tfidf[rows]
    sims = sp.triu(sub @ sub.T, k=1, format="coo")
    close = sims.data >= duplicate
    return np.stack([rows[sims.row[close]], rows[sims.col[close]]], axis=1).astype(np.int64)


def _reading_order(index: Index, pool: Pool, rows: Sequence[int]) -> list[int]:
    """Rows by their documents' dates (summary_pool.reading_places), then in document order."""
    places = reading_places(index)
    return sorted(rows, key=lambda row: (places[index.passages[int(pool.passages[row])].doc_id], row))
