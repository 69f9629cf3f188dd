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

from . import kernel
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

    def packed(self, required: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The weights in two arrays, for a compiled loop (retrieval/span_loop.py), with the columns coverage is
        judged on: [counted terms, stand-ins, required columns; the counted columns; the stand-ins' columns;
        where each one's related forms start (and the last one's end) in the forms' columns; the required
        columns; the forms' columns] and [the counted terms' weights, the stand-ins' weights]."""
        ptr = [0]
        for _, others, _ in self.related:
            ptr.append(ptr[-1] + len(others))
        ints = [len(self.own), len(self.related), len(required), *(j for j, _ in self.own),
                *(j for j, _, _ in self.related), *ptr, *required]
        ints += [c for _, others, _ in self.related for c in others]
        weights = [w for _, w in self.own] + [w for _, _, w in self.related]
        return np.array(ints, np.int64), np.array(weights, np.float64)


@dataclass(slots=True)  # not frozen: a frozen init sets each of its many fields through object.__setattr__
class Candidates:
    """The sentences of some passages and which question terms they hold."""

    bounds: list[int]  # passage k's rows are bounds[k] .. bounds[k+1]-1
    starts: list[int]  # each row's character span in its passage's text
    ends: list[int]
    held: np.ndarray  # rows by columns: the sentence holds the term
    heading: np.ndarray  # rows by columns: the headings above the row's passage hold the term
    owner: np.ndarray  # each row's passage (its position among the passages asked for)
    headings: np.ndarray  # passages by columns: the headings above the passage hold the term
    # The first row of each passage that has rows, and those passages (None when all have): the segments
    # of a reduction by passage.
    firsts: np.ndarray
    filled: np.ndarray | None
    found_by: np.ndarray  # passages by columns: `passage_held` of each
    flags: np.ndarray  # each row's sentence flags (retrieval/sentence_flags.py)
    # The compiled loop's two arrays (`_match`), when it made the rest: the next compiled loop (retrieval/span_loop.py)
    # takes them as they are.
    arrays: tuple[np.ndarray, np.ndarray] | None = None

    def passage_held(self, k: int) -> np.ndarray:
        """Whether the k-th passage (its sentences or its headings) holds each term: the terms it is found by,
        for an analyser without bigrams (a bigram may span two sentences)."""
        return self.found_by[k]


def _spread(first: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """first[i] .. first[i]+sizes[i]-1 for each i, one range after another (int64)."""
    ends = sizes.cumsum()
    return (first - ends + sizes).repeat(sizes) + np.arange(ends[-1] if ends.size else 0)


def _held(ids: np.ndarray, rows: np.ndarray, n_rows: int, columns: np.ndarray) -> np.ndarray:
    """Rows by columns: whether row `rows[i]` holds term `ids[i]`, for each column's term id (-1: none)."""
    out = np.zeros((n_rows, len(columns)), bool)
    known = (columns >= 0).nonzero()[0]
    if known.size and ids.size:
        order = known[columns[known].argsort()]
        sorted_ids = columns[order]
        at = sorted_ids.searchsorted(ids)
        np.minimum(at, sorted_ids.size - 1, out=at)
        hit = (sorted_ids[at] == ids).nonzero()[0]
        out[rows[hit], order[at[hit]]] = True
    return out


def candidates(table: SentenceTable, passages: Sequence[int], columns: np.ndarray) -> Candidates:
    """The sentences of `passages` (in that order) against the term ids `columns` (-1: a term no passage has)."""
    where = np.asarray(passages, np.int64)
    if kernel.wants_numba(len(table)) and (compiled := kernel.jitted(_match)) is not None:
        # Two arrays back, cut here: numba boxes each array it returns at a cost.
        cells, ints, n_filled = compiled(*kernel.frozen(table.first, table.term_ptr, table.terms, table.heading_ptr,
                                                        table.heading_terms, table.starts, table.ends), where,
                                         np.asarray(columns, np.int64))
        n = where.size
        r = (len(cells) - 2 * n) // 2
        bounds, filled = ints[3 * r : 3 * r + n + 1], ints[3 * r + n + 1 : 3 * r + n + 1 + n_filled]
        every = n_filled == n
        starts, ends = ints[r : 2 * r], ints[2 * r : 3 * r]
        flags = table.flags[ints[3 * r + 2 * n + 1 : 4 * r + 2 * n + 1]]
        return Candidates(bounds.tolist(), starts.tolist(), ends.tolist(), cells[:r], cells[r : 2 * r], ints[:r],
                          cells[2 * r : 2 * r + n], bounds[:-1] if every else bounds[filled],
                          None if every else filled, cells[2 * r + n :], flags, (cells, ints))
    n = where.size
    lo = table.first[where].astype(np.int64)
    per_passage = table.first[where + 1] - lo
    rows = _spread(lo, per_passage)
    n_rows = rows.size
    # A passage's sentences are consecutive rows, so their terms are one run of the table: one range a passage.
    term_lo = table.term_ptr[rows].astype(np.int64)
    per_row = table.term_ptr[rows + 1] - term_lo
    run_lo = table.term_ptr[lo].astype(np.int64)
    head_lo = table.heading_ptr[where].astype(np.int64)
    per_heading = table.heading_ptr[where + 1] - head_lo
    # Sentences and headings in one matrix: a passage's headings are row n_rows + its position.
    ids = np.concatenate([table.terms[_spread(run_lo, table.term_ptr[lo + per_passage] - run_lo)],
                          table.heading_terms[_spread(head_lo, per_heading)]])
    owners = np.concatenate([np.arange(n_rows).repeat(per_row), np.arange(n_rows, n_rows + n).repeat(per_heading)])
    both = _held(ids, owners, n_rows + n, columns)
    held, headings = both[:n_rows], both[n_rows:]
    owner = np.arange(n).repeat(per_passage)
    bounds = np.zeros(n + 1, np.int64)
    per_passage.cumsum(out=bounds[1:])
    filled = None if per_passage.all() else per_passage.nonzero()[0]
    firsts = bounds[:-1] if filled is None else bounds[filled]
    found_by = headings.copy()
    if n_rows:
        found_by[slice(None) if filled is None else filled] |= np.logical_or.reduceat(held, firsts, axis=0)
    return Candidates(bounds.tolist(), table.starts[rows].tolist(), table.ends[rows].tolist(), held,
                      headings[owner], owner, headings, firsts, filled, found_by, table.flags[rows])


def _match(first: np.ndarray, term_ptr: np.ndarray, terms: np.ndarray, heading_ptr: np.ndarray,
           heading_terms: np.ndarray, starts: np.ndarray, ends: np.ndarray, where: np.ndarray,
           columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """`candidates` as one loop, for numba: held and heading (by row), then headings and found_by (by passage),
    one after another in one boolean array; owner, starts, ends (by row), bounds, the positions of the passages
    that have rows (room for all) and each row's row of the table, in one int64 array; and how many passages have
    rows. The table is trusted
    (`SentenceTable.fits`)."""
    n = where.shape[0]
    m = columns.shape[0]
    order = np.argsort(columns)  # the query's term ids ascending, each with its column
    ids = columns[order]
    n_rows = 0
    for k in range(n):
        n_rows += first[where[k] + 1] - first[where[k]]
    cells = np.zeros((2 * n_rows + 2 * n, m), np.bool_)
    held = cells[:n_rows]
    heading = cells[n_rows : 2 * n_rows]
    headings = cells[2 * n_rows : 2 * n_rows + n]
    found_by = cells[2 * n_rows + n :]
    ints = np.empty(4 * n_rows + 2 * n + 1, np.int64)
    owner = ints[:n_rows]
    row_starts = ints[n_rows : 2 * n_rows]
    row_ends = ints[2 * n_rows : 3 * n_rows]
    bounds = ints[3 * n_rows : 3 * n_rows + n + 1]
    filled = ints[3 * n_rows + n + 1 : 3 * n_rows + 2 * n + 1]
    table_rows = ints[3 * n_rows + 2 * n + 1 :]
    n_filled = 0
    r = 0
    for k in range(n):
        p = where[k]
        for x in range(heading_ptr[p], heading_ptr[p + 1]):
            t = np.int64(heading_terms[x])
            for j in range(m):
                if ids[j] >= t:
                    if ids[j] == t:
                        headings[k, order[j]] = True
                    break
        bounds[k] = r
        if first[p + 1] > first[p]:
            filled[n_filled] = k
            n_filled += 1
        for s in range(first[p], first[p + 1]):
            owner[r] = k
            table_rows[r] = s
            row_starts[r] = starts[s]
            row_ends[r] = ends[s]
            heading[r] = headings[k]
            for x in range(term_ptr[s], term_ptr[s + 1]):
                t = np.int64(terms[x])
                for j in range(m):  # a question has a few terms: a scan beats a search
                    if ids[j] >= t:
                        if ids[j] == t:
                            held[r, order[j]] = True
                        break
            found_by[k] |= held[r]
            r += 1
        found_by[k] |= headings[k]
    bounds[n] = r
    return cells, ints, n_filled


def warm_up() -> None:
    """Compile `_match` for the array types of common tables (int32 offsets; 16- and 32-bit term ids), so that
    the first question does not wait (numba loads it from its disk cache after the first time)."""
    compiled = kernel.jitted(_match)
    if compiled is None:
        return
    offsets, spans, one = np.array([0, 1], np.int32), np.array([0], np.int32), np.array([0], np.int64)
    for id_type in (np.uint16, np.int32):
        ids = np.array([0], id_type)
        compiled(*kernel.frozen(offsets, offsets, ids, offsets, ids, spans, spans), one, np.array([0, -1], np.int64))
