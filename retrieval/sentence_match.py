"""Which of a question's terms each sentence of the candidate passages holds, and the mass they carry:
array work over the index's sentence table (retrieval/sentence_table.py), no text analysis.

A question's terms are the columns; a candidate sentence is a row of a boolean matrix `held`, and
`heading` says which terms the headings above the row's passage hold. `Mass` adds up, term by term
in the question's order, the weight of the terms a row holds, so a row's mass is the very float64 sum
the set-based reckoning gave (adding 0.0 for an absent term changes no sum, and 0.0 + x is x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .sentence_table import SentenceTable


@dataclass(frozen=True, slots=True)
class Mass:
    """The weights that make a row's mass: each counted term's, then each stand-in's (a related form
    counting part of the term it stands for, when that term itself is absent)."""

    own: tuple[tuple[int, float], ...]  # (column, weight), in the question's term order
    related: tuple[tuple[int, tuple[int, ...], float], ...]  # (column, related forms' columns, weight)

    def __call__(self, held: np.ndarray) -> np.ndarray:
        """The mass of each row of a boolean rows-by-columns matrix."""
        columns = [held[:, [j for j, _ in self.own]] * np.array([w for _, w in self.own])]
        for j, others, weight in self.related:
            columns.append(((~held[:, j] & held[:, list(others)].any(axis=1)) * weight)[:, None])
        parts = np.concatenate(columns, axis=1)
        if parts.shape[1] == 0:
            return np.zeros(held.shape[0])
        # Summed strictly left to right (accumulate, not sum's pairwise order): the set-based sum's float64.
        return np.add.accumulate(parts, axis=1)[:, -1]


@dataclass(frozen=True, slots=True)
class Candidates:
    """The sentences of some passages and which question terms they hold."""

    bounds: list[int]  # passage k's rows are bounds[k] .. bounds[k+1]-1
    starts: list[int]  # each row's character span in its passage's text
    ends: list[int]
    held: np.ndarray  # rows by columns: the sentence holds the term
    heading: np.ndarray  # rows by columns: the headings above the row's passage hold the term
    owner: np.ndarray  # each row's passage (its position among the passages asked for)
    headings: np.ndarray  # passages by columns: the headings above the passage hold the term

    def passage_held(self, k: int) -> np.ndarray:
        """Whether the k-th passage (its sentences or its headings) holds each term: the terms it is found by,
        for an analyser without bigrams (a bigram may span two sentences)."""
        return self.held[self.bounds[k] : self.bounds[k + 1]].any(axis=0) | self.headings[k]

    def best_fits(self, fits: np.ndarray) -> np.ndarray:
        """Each passage's largest fit (-inf for a passage without sentences)."""
        top = np.full(len(self.bounds) - 1, -np.inf)
        np.maximum.at(top, self.owner, fits)
        return top

    def best_spans(self, fits: np.ndarray, joined: np.ndarray, wanted: np.ndarray) -> list[tuple[int, float, int, int]]:
        """For each `wanted` passage: (its position, the fit, first row, last row) of its best sentence (the
        first of equals), joined with the previous or else the next one when the pair (`joined[r]`: rows r and
        r + 1) fits better and adds at least half the sentence's own fit (the later neighbour is weighed after
        the earlier, against the best so far)."""
        if not fits.size:
            return []
        top = self.best_fits(fits)
        firsts = np.flatnonzero(fits == top[self.owner])
        firsts = firsts[np.concatenate([[True], self.owner[firsts][1:] != self.owner[firsts][:-1]])]
        bounds = np.asarray(self.bounds)
        ok = wanted[self.owner[firsts]]
        i = firsts[ok]
        k = self.owner[i]
        f = fits[i]
        pad = np.concatenate([[-np.inf], joined, [-np.inf]])  # pad[r + 1] = joined[r]; none past the ends
        before = np.where(i > bounds[k], pad[i], -np.inf)
        after = np.where(i + 1 < bounds[k + 1], pad[i + 1], -np.inf)
        take_before = (before > f) & (before - f >= 0.5 * f)
        so_far = np.where(take_before, before, f)
        take_after = (after > so_far) & (after - f >= 0.5 * f)
        value = np.where(take_after, after, so_far)
        first = np.where(take_after, i, np.where(take_before, i - 1, i))
        last = np.where(take_after, i + 1, i)
        return list(zip(k.tolist(), value.tolist(), first.tolist(), last.tolist(), strict=True))


def _ranges(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions ptr[r] .. ptr[r+1]-1 of each of `rows`, one row after another, and each row's size."""
    first = ptr[rows].astype(np.int64)
    sizes = ptr[rows + 1].astype(np.int64) - first
    return np.repeat(first - (np.cumsum(sizes) - sizes), sizes) + np.arange(int(sizes.sum())), sizes


def _held(ids: np.ndarray, sizes: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Rows by columns: whether the row's term ids (`ids`, `sizes` a row) include each column's term id."""
    out = np.zeros((len(sizes), len(columns)), bool)
    known = np.flatnonzero(columns >= 0)
    if known.size and ids.size:
        order = known[np.argsort(columns[known])]
        sorted_ids = columns[order]
        at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        hit = sorted_ids[at] == ids
        rows = np.repeat(np.arange(len(sizes)), sizes)
        out[rows[hit], order[at[hit]]] = True
    return out


def candidates(table: SentenceTable, passages: Sequence[int], columns: np.ndarray) -> Candidates:
    """The sentences of `passages` (in that order) against the term ids `columns` (-1: a term no passage has)."""
    where = np.asarray(passages, np.int64)
    rows, per_passage = _ranges(table.first, where)
    positions, per_row = _ranges(table.term_ptr, rows)
    held = _held(table.terms[positions], per_row, columns)
    positions, per_heading = _ranges(table.heading_ptr, where)
    heading = _held(table.heading_terms[positions], per_heading, columns)
    bounds = np.concatenate([[0], np.cumsum(per_passage)]).tolist()
    return Candidates(bounds, table.starts[rows].tolist(), table.ends[rows].tolist(), held,
                      np.repeat(heading, per_passage, axis=0), np.repeat(np.arange(len(where)), per_passage), heading)
