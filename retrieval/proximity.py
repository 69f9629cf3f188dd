"""Whether a span says the question's phrases: a feature of the quote ranker.

"How tall is the Velmora lighthouse?" holds the phrase (velmora, lighthouse); a sentence saying "the
Velmora lighthouse is 48 metres tall" holds it too, one that says "Velmora" early and "lighthouse" late
does not. Phrases are pairs of terms next to each other once the analyser has dropped stop words.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def pairs(terms: Sequence[str]) -> frozenset[tuple[str, str]]:
    """The pairs of adjacent terms of an analysed text."""
    return frozenset(zip(terms, terms[1:], strict=False))


def phrase_share(phrases: Collection[tuple[str, str]], terms: Sequence[str]) -> float:
    """Share of the question's phrases (adjacent term pairs) that a span's analysed terms hold adjacent."""
    if not phrases:
        return 0.0
    return len(pairs(terms) & frozenset(phrases)) / len(phrases)
