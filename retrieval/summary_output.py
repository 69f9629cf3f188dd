"""Chosen rows of a summary's pool as the verbatim sentences a reader sees, with their sources."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .index import Index
from .model import SummarySentence
from .summary_pool import Pool

ELLIPSIS = "…"


def text_of(index: Index, pool: Pool, i: int) -> str:
    """The text of row `i` of the pool."""
    a, b = pool.spans[i]
    return index.passages[pool.passages[i]].text[a:b]


def sentence_of(index: Index, pool: Pool, i: int, also_in: tuple[str, ...] = ()) -> SummarySentence:
    """Row `i` of the pool as a verbatim sentence with its source."""
    passage = index.passages[pool.passages[i]]
    doc = index.documents[passage.doc_id]
    return SummarySentence(text_of(index, pool, i), doc.id, doc.title, passage.paragraph, doc.date, also_in)


def shown(index: Index, pool: Pool, rows: Sequence[int], words: int | None, scores: np.ndarray,
           before: Sequence[int], duplicate: float | None = None) -> tuple[SummarySentence, ...]:
    """The rows as sentences (with the other documents that say the same when `duplicate` is given). When
    no whole sentence fits in `words`, the best one that needs no other is cut to fit, ending in "…"."""
    if not rows and words is not None:
        allowed = np.where((np.asarray(before) == -1) & ~np.isneginf(scores), scores, -np.inf)
        if (allowed > -np.inf).any():
            return (cut(sentence_of(index, pool, int(np.argmax(allowed))), words),)
    if duplicate is None:
        return tuple(sentence_of(index, pool, i) for i in rows)
    return tuple(_with_also_in(index, pool, rows, duplicate))


def _with_also_in(index: Index, pool: Pool, chosen: Sequence[int], duplicate: float) -> list[SummarySentence]:
    """The chosen rows as sentences, each listing the other documents of the pool that say the same."""
    if not chosen:
        return []
    sims = np.asarray((pool.tfidf[list(chosen)] @ pool.tfidf.T).toarray())
    docs = [index.passages[p].doc_id for p in pool.passages]
    sentences = []
    for row, i in zip(sims, chosen, strict=True):
        others = sorted({docs[j] for j in np.flatnonzero(row >= duplicate)} - {docs[i]})
        sentences.append(sentence_of(index, pool, i, tuple(others)))
    return sentences


def cut(sentence: SummarySentence, words: int) -> SummarySentence:
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

