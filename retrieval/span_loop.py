"""The quote ranker's work (retrieval/quote_ranker.py) as compiled loops, for the indexes whose candidates the
compiled loop of retrieval/sentence_match.py made: the candidate spans and their features in one loop, the spans
the answer kind may move, and each passage's best span. The array versions' dozens of numpy calls on arrays of a
few hundred cells cost more in overhead than in work.

Every value is the array version's, bit for bit (tests/test_quote_ranker.py): masses are summed term by term in
the question's order, as `Mass` sums them; shares are the same divisions; the first of equals is the best. The
two logarithms (rank, length) are left to numpy, whose log may round differently from the C library's: the loop
returns what they are taken of. The scores' weighted sum stays numpy's too (BLAS).
"""

from __future__ import annotations

import numpy as np

from . import kernel


def span_features(cells: np.ndarray, ints: np.ndarray, n_passages: int, plan: np.ndarray, weights: np.ndarray,
                  scores: np.ndarray, change_log: np.ndarray, total: float, top: float,
                  columns: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The spans (owner, first, last and characters, one after another in one int64 array) and their features
    (answer-kind, rank and length columns 0) of the candidates whose two arrays the compiled loop of
    retrieval/sentence_match.py made (`cells`, `ints`), with the weights that make masses (`Mass.packed`);
    None without numba. Few arguments: numba unboxes each one at a cost."""
    compiled = kernel.jitted(_loop)
    if compiled is None:
        return None
    return compiled(cells, ints, n_passages, plan, weights, scores, change_log, total, top, columns)


def _loop(found: np.ndarray, found_ints: np.ndarray, n_passages: int, plan: np.ndarray, weights: np.ndarray,
          scores: np.ndarray, change_log: np.ndarray, total: float, top: float,
          columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`span_features` for numba: `quote_ranker.Spans.of` and `quote_ranker.features` in one pass. `columns`
    holds the feature columns own, heading, terms, passage, score, pair, gain, lead, position, best, change_log,
    then how many features there are."""
    n_rows = (found.shape[0] - 2 * n_passages) // 2
    held, heading, found_by = found[:n_rows], found[n_rows : 2 * n_rows], found[2 * n_rows + n_passages :]
    owner, starts, ends = found_ints[:n_rows], found_ints[n_rows : 2 * n_rows], found_ints[2 * n_rows : 3 * n_rows]
    bounds = found_ints[3 * n_rows : 3 * n_rows + n_passages + 1]
    n_own, n_rel, n_required = plan[0], plan[1], plan[2]
    own_cols = plan[3 : 3 + n_own]
    rel_col = plan[3 + n_own : 3 + n_own + n_rel]
    rel_ptr = plan[3 + n_own + n_rel : 4 + n_own + 2 * n_rel]
    required = plan[4 + n_own + 2 * n_rel : 4 + n_own + 2 * n_rel + n_required]
    rel_others = plan[4 + n_own + 2 * n_rel + n_required :]
    own_w, rel_w = weights[:n_own], weights[n_own:]
    n_features = columns[11]
    n_rows, m = held.shape
    n_passages = bounds.shape[0] - 1
    n = n_rows
    for r in range(n_rows - 1):
        n += owner[r] == owner[r + 1]
    ints = np.empty(4 * n, np.int64)  # owner, first, last, characters
    # The rows to weigh, as `quote_ranker.features` stacks them: each span's terms, the terms only its headings
    # hold, each passage's, each row's.
    cells = np.empty((2 * n + n_passages + n_rows, m), np.bool_)
    s = n_rows
    for r in range(n_rows):
        ints[r], ints[n + r], ints[2 * n + r] = owner[r], r, r
        if r + 1 < n_rows and owner[r] == owner[r + 1]:
            ints[s], ints[n + s], ints[2 * n + s] = owner[r], r, r + 1
            s += 1
        cells[2 * n + n_passages + r] = held[r]
    for k in range(n_passages):
        cells[2 * n + k] = found_by[k]
    for s in range(n):
        a, b = ints[n + s], ints[2 * n + s]
        for j in range(m):
            cells[s, j] = held[a, j] or held[b, j]
            cells[n + s, j] = heading[a, j] and not cells[s, j]
    masses = np.empty(cells.shape[0])
    for i in range(cells.shape[0]):  # `Mass`: each counted term's weight, then each stand-in's, left to right
        total_i = 0.0
        for c in range(own_cols.shape[0]):
            total_i += own_w[c] if cells[i, own_cols[c]] else 0.0
        for c in range(rel_col.shape[0]):
            stands = False
            if not cells[i, rel_col[c]]:
                for o in range(rel_ptr[c], rel_ptr[c + 1]):
                    stands = stands or cells[i, rel_others[o]]
            total_i += rel_w[c] if stands else 0.0
        masses[i] = total_i
    single = masses[2 * n + n_passages :]
    best_single = np.full(n_passages, -np.inf)
    for r in range(n_rows):
        best_single[owner[r]] = max(best_single[owner[r]], single[r])
    x = np.zeros((n, n_features))
    for s in range(n):
        k, a, b = ints[s], ints[n + s], ints[2 * n + s]
        got = 0
        for c in range(required.shape[0]):
            got += cells[s, required[c]] or cells[n + s, required[c]]
        either = max(single[a], single[b])
        ints[3 * n + s] = max(ends[b] - starts[a], 1)
        x[s, columns[0]] = masses[s] / total
        x[s, columns[1]] = masses[n + s] / total
        x[s, columns[2]] = got / required.shape[0] if required.shape[0] else 0.0
        x[s, columns[3]] = masses[2 * n + k] / total
        x[s, columns[4]] = scores[k] / top
        x[s, columns[5]] = b > a
        x[s, columns[6]] = (masses[s] - either) / total
        x[s, columns[7]] = a == bounds[k]
        x[s, columns[8]] = (a - bounds[k]) / max(bounds[k + 1] - bounds[k] - 1, 1)
        x[s, columns[9]] = either >= best_single[k]
        x[s, columns[10]] = change_log[k]
    return ints, x


def warm_up() -> None:
    """Compile the loops for the array types the answer path passes (numba loads them from its disk cache after
    the first time): one passage of one sentence, one term."""
    cells, ints = np.zeros((4, 1), np.bool_), np.array([0, 0, 1, 0, 1], np.int64)
    plan = np.array([1, 0, 1, 0, 0, 0], np.int64)
    made = span_features(cells, ints, 1, plan, np.ones(1), np.ones(1), np.zeros(1, np.bool_), 1.0, 1.0,
                         np.arange(12, dtype=np.int64))
    if made is not None:
        z, owner = np.zeros(1), np.zeros(1, np.int64)
        may_move(z, owner, 1, np.float64(0.0), np.float64(1.0))
        best_of_each(z, owner, 1)


def may_move(z: np.ndarray, owner: np.ndarray, n_passages: int, below: float, above: float) -> np.ndarray | None:
    """The spans whose score, moved by between `below` and `above`, could reach the best lowest score of their
    passage (`quote_ranker.Ranker.scores`); None without numba."""
    compiled = kernel.jitted(_may_move)
    return None if compiled is None else compiled(z, owner, n_passages, below, above)


def _may_move(z: np.ndarray, owner: np.ndarray, n_passages: int, below: float, above: float) -> np.ndarray:
    """`may_move` for numba."""
    floor = np.full(n_passages, -np.inf)
    for s in range(z.shape[0]):
        floor[owner[s]] = max(floor[owner[s]], z[s] + below)
    found = np.empty(z.shape[0], np.int64)
    n = 0
    for s in range(z.shape[0]):
        if z[s] + above >= floor[owner[s]]:
            found[n] = s
            n += 1
    return found[:n]


def best_of_each(z: np.ndarray, owner: np.ndarray, n_passages: int) -> np.ndarray | None:
    """`quote_ranker.best_of_each` in one compiled loop; None without numba."""
    compiled = kernel.jitted(_best_of_each)
    return None if compiled is None else compiled(z, owner, n_passages)


def _best_of_each(z: np.ndarray, owner: np.ndarray, n_passages: int) -> np.ndarray:
    """`best_of_each` for numba: the best by passage, then those ranked by insertion (a few dozen)."""
    best = np.full(n_passages, -1, np.int64)
    for s in range(z.shape[0]):
        k = owner[s]
        if best[k] < 0 or z[s] > z[best[k]]:
            best[k] = s
    ranked = np.empty(n_passages, np.int64)
    n = 0
    for k in range(n_passages):
        s = best[k]
        if s < 0 or z[s] == -np.inf:
            continue
        at = n
        while at > 0 and (z[ranked[at - 1]] < z[s] or (z[ranked[at - 1]] == z[s] and ranked[at - 1] > s)):
            ranked[at] = ranked[at - 1]
            at -= 1
        ranked[at] = s
        n += 1
    return ranked[:n]
