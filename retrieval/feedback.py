"""Pseudo-relevance feedback: words the best passages share join the question, at a low weight.

People ask in other words than the documents ("turn off the docs page" for "disable docs_url"), but the
passages a question finds first usually hold the documents' own words for its subject. The terms that
several of the first `top` passages share, rarest first, are added to the query at `weight` (the
question's own terms weigh 1), and the search runs again: passages about the question's subject rise
above passages that share one of its words by chance. Only the ranking of candidates changes: a sentence
is still chosen by the question's own words, and whether to answer at all is judged from the plain search
(the not-found model's evidence: with the feedback terms, scores say less about answerability).

Measured on the documentation dev set, SQuAD and the paraphrase set (README, "Answer quality"): top 5,
10 terms, weight 0.1 (docs right first 39 → 41 of 100, top three 49 → 54; SQuAD unchanged or better).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from .index import Index
from .model import Hit


@dataclass(frozen=True, slots=True)
class Feedback:
    """How many passages feed back, how many of their terms are added, and at what weight."""

    top: int = 5
    terms: int = 10
    weight: float = 0.1
    min_passages: int = 2  # a term one passage holds is that passage's, not the subject's


def expansion(index: Index, vector: dict[int, float], hits: list[Hit], feedback: Feedback) -> dict[int, float]:
    """Term ids to add to the query `vector`, with their weight: the rarest terms that at least
    `min_passages` of the first `top` hits hold and the query lacks."""
    shared: Counter[str] = Counter()
    for hit in hits[: feedback.top]:
        shared.update(index.terms(hit.passage).terms)
    vocabulary, idf = index.vocabulary, index.idf
    ranked = sorted(
        (-count * float(idf[tid]), tid)
        for term, count in shared.items()
        if count >= feedback.min_passages and (tid := vocabulary[term]) not in vector
    )
    return {tid: feedback.weight for _, tid in ranked[: feedback.terms]}


class Searched(NamedTuple):
    """A search's passages as the question's own words rank them, and as ranked with the feedback terms."""

    plain: list[Hit]  # the evidence for answering at all (retrieval/calibration.py) is read from these
    ranked: list[Hit]  # the candidates whose sentences compete


def search_with_feedback(
    index: Index, vector: dict[int, float], k: int, feedback: Feedback | None = Feedback()
) -> Searched:
    """The `k` best passages for the query, and the `k` best when searched again with the feedback terms."""
    hits = index.search(vector, k)
    if feedback is None or feedback.weight <= 0 or not hits:
        return Searched(hits, hits)
    extra = expansion(index, vector, hits, feedback)
    return Searched(hits, index.search(vector | extra, k) if extra else hits)
