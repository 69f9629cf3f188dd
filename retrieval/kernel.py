"""Exact top-k scoring of one query over a term-major (CSC) weight matrix.

    score(p) = sum over query terms t of qweights[t] * weights[p, t]

Only the query terms' postings are read. Rows are visited in blocks of `BLOCK` passages: every query
term adds its postings of the block into a per-thread float64 scratch block small enough to stay in
the L1 cache (a scatter over an array of all passages misses the cache on most postings and was 2-3x
slower), then the block's best scores are offered to a size-k heap and the block is zeroed again.
A sparse query (few postings per passage) records the rows it touches and visits only those; a
dense one scans the block in vectorized chunks instead. Each passage's score is the float64 sum of
its terms' products in query-term order, whatever the path, so equal rows give equal scores and ties
go exactly to the lower id.

With numba the kernel is compiled once (cached on disk beside this file) and releases the GIL, so
queries from several threads run in parallel; a numpy implementation with the same contract serves
small indexes, where it is as fast, and any index when numba is missing. numba is imported only when
an index first needs it: importing it and loading the compiled kernel costs a process 1-2.5 s and about
140 MB, which a small index never earns back (crossover measured by `python -m bench.startup`).
`QA_KERNEL=numpy|numba|auto` forces a backend (auto, the default, chooses by the index's size).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Passages from which `auto` scores with numba. Below it numpy's median top-k takes under half a
# millisecond more per question than numba's, not worth numba's import and cache load (1-2.5 s, 140 MB);
# at 100,000 passages 0.8 ms more, at 300,000 15 ms: bench/results/startup.md, "Kernel crossover".
NUMBA_FROM = 50_000
CHOICES = ("auto", "numpy", "numba")

# Passages per block: its 32 KiB of float64 scores stay in the L1 data cache while the postings
# stream past. Measured at 1M passages: 4096 beat 1024-2048 and 8192-65536 by 5-20%.
BLOCK = 4096
# Passages per chunk of a dense block tested at once (vectorized) before any one is looked at;
# 32-256 measured alike.
_CHUNK = 64
# A query is dense, scanned chunk by chunk, from one posting per this many passages: the measured
# crossover at 1M passages (the touched list is faster below about 0.13 postings per passage).
_DENSE_RATIO = 8

# Strategies of the compiled kernel; only tests force one.
AUTO, SPARSE, DENSE = 0, 1, 2
# Status codes of the compiled kernel (exceptions are kept out of the nogil loop).
_OK, _BAD_ROW = 0, 1


def _check(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, terms: np.ndarray, qweights: np.ndarray, n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """The query as int64 terms and float64 weights, after the checks that are cheap per query."""
    terms = np.asarray(terms, dtype=np.int64).reshape(-1)
    qweights = np.asarray(qweights, dtype=np.float64).reshape(-1)
    if terms.shape != qweights.shape:
        raise ValueError(f"{terms.size} terms but {qweights.size} query weights")
    if indices.shape != data.shape:
        raise ValueError("indices and data differ in length")
    if n_rows < 0:
        raise ValueError("n_rows must not be negative")
    # The compiled loop has no bounds checks, so whatever it reads through `terms` is checked here:
    # a handful of reads per query.
    if terms.size:
        if int(terms.min()) < 0 or int(terms.max()) >= indptr.shape[0] - 1:
            raise IndexError("query term outside the matrix's columns")
        if int(indptr[terms].min()) < 0 or int(indptr[terms + 1].max()) > indices.shape[0]:
            raise ValueError("indptr points outside indices/data")
    return terms, qweights


def _empty() -> tuple[np.ndarray, np.ndarray]:
    """No hits."""
    return np.empty(0, np.int64), np.empty(0, np.float64)


def top_k_numpy(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, terms: np.ndarray, qweights: np.ndarray,
    n_rows: int, k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`top_k` in numpy alone (same contract and same scores), used when numba is missing."""
    terms, qweights = _check(indptr, indices, data, terms, qweights, n_rows)
    if k <= 0 or n_rows == 0 or terms.size == 0:
        return _empty()
    spans = [(int(indptr[t]), int(indptr[t + 1])) for t in terms.tolist()]
    rows = np.concatenate([indices[a:b] for a, b in spans])
    if rows.size == 0:
        return _empty()
    if int(rows.min()) < 0 or int(rows.max()) >= n_rows:
        raise ValueError("a posting's row is outside 0..n_rows-1")
    # float64 products summed in order by bincount: the compiled kernel's arithmetic, bit for bit.
    vals = np.concatenate(
        [data[a:b].astype(np.float64) * q for (a, b), q in zip(spans, qweights.tolist(), strict=True)]
    )
    if rows.size * 8 > n_rows:
        dense = np.bincount(rows, weights=vals, minlength=n_rows)
        ids = np.flatnonzero(dense)
        scores = dense[ids]
    else:
        # Few postings: sorting them is cheaper than a dense array of n_rows.
        ids, inverse = np.unique(rows, return_inverse=True)
        scores = np.bincount(inverse, weights=vals)
        nonzero = scores != 0
        ids, scores = ids[nonzero], scores[nonzero]
    ids = ids.astype(np.int64, copy=False)
    if ids.size > k:
        # Everything tied with the k-th best score stays in, so that the tie-break by id is exact.
        kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
        keep = scores >= kth
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


# ---------------------------------------------------------------------------------------------------
# The compiled kernel (plain Python here; `_load_numba` compiles it when an index first needs it)


def _sift_down(hs: np.ndarray, hr: np.ndarray, size: int, i: int) -> None:
    """Restore the min-heap below slot i; the root is the worst hit kept: lowest score, then highest id."""
    s, r = hs[i], hr[i]
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        d = c + 1
        if d < size and (hs[d] < hs[c] or (hs[d] == hs[c] and hr[d] > hr[c])):
            c = d  # the worse child
        if hs[c] < s or (hs[c] == s and hr[c] > r):
            hs[i], hr[i] = hs[c], hr[c]
            i = c
        else:
            break
    hs[i], hr[i] = s, r


def _sift_up(hs: np.ndarray, hr: np.ndarray, i: int) -> None:
    """Restore the min-heap above slot i."""
    s, r = hs[i], hr[i]
    while i > 0:
        p = (i - 1) // 2
        if s < hs[p] or (s == hs[p] and r > hr[p]):
            hs[i], hr[i] = hs[p], hr[p]
            i = p
        else:
            break
    hs[i], hr[i] = s, r


def _offer(
    hs: np.ndarray, hr: np.ndarray, size: int, m: int, collect_all: bool, s: float, rid: int | np.integer[Any]
) -> int:
    """Keep a hit that cleared the bar; the new number of hits kept."""
    if collect_all:  # no heap: everything is kept and sorted at the end
        hs[size] = s
        hr[size] = rid
        return size + 1
    if size < m:
        hs[size] = s
        hr[size] = rid
        _sift_up(hs, hr, size)
        return size + 1
    hs[0] = s
    hr[0] = rid
    _sift_down(hs, hr, size, 0)
    return size


def _chunk_has(acc: np.ndarray, lo: Any, hi: Any, bar: float) -> bool:
    """Whether acc[lo:hi] holds a non-zero score at or above the bar; branch-free, so it vectorizes."""
    found = False
    for i in range(lo, hi):
        x = acc[i]
        found |= (x >= bar) & (x != 0.0)
    return found


def _kernel(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, terms: np.ndarray, qweights: np.ndarray,
    n_rows: int, k: int, strategy: int, acc: np.ndarray, touched: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Score block by block, keep the best k, reset; `acc` is all zero on entry and on return."""
    # Hot subscripts are unsigned: numba adds a negative-index wraparound to every signed subscript,
    # which measured costlier than the scatter-add itself.
    nq = terms.shape[0]
    block = np.uint64(acc.shape[0])
    rows = np.uint64(n_rows)
    pos = np.empty(nq, np.uint64)  # each term's cursor: its postings are sorted, so it only moves on
    end = np.empty(nq, np.uint64)
    total: Any = 0
    for j in range(nq):
        a = np.uint64(indptr[terms[j]])
        b = np.uint64(indptr[terms[j] + 1])
        if qweights[j] == 0.0 or b < a:  # adds nothing (or a malformed span): never read
            b = a
        pos[j] = a
        end[j] = b
        total += np.int64(b - a)
    dense = strategy == DENSE or (strategy == AUTO and total * _DENSE_RATIO >= n_rows)
    # No more rows can be hit than there are postings: when k covers them all, keep all and sort once.
    collect_all = k >= total
    m = min(k, total, n_rows)
    hs = np.empty(m, np.float64)
    hr = np.empty(m, np.int64)
    size = 0
    # A hit must beat (bar, bar_id), the worst one kept, once k are kept; until then any non-zero does.
    bar = -np.inf
    bar_id = np.int64(0)
    cap = np.uint64(touched.shape[0])
    chunk = np.uint64(_CHUNK)
    done = np.int64(0)  # rows below this are scored, offered and reset
    while True:
        nxt = rows
        for j in range(nq):
            if pos[j] < end[j]:
                r = np.int64(indices[pos[j]])
                # Below `done`: unsorted or negative (a cursor stopped there); past n_rows: out of range.
                # Either would corrupt the scratch, and nothing has been left in it at this point.
                if r < done or r >= n_rows:
                    return np.empty(0, np.int64), np.empty(0, np.float64), _BAD_ROW
                if np.uint64(r) < nxt:
                    nxt = np.uint64(r)
        if nxt == rows:
            break
        # The block starts at the next posting's row, so rows no query term has are skipped whole.
        base = nxt
        span = min(base + block, rows) - base
        if dense:
            for j in range(nq):
                p = pos[j]
                e = end[j]
                q = qweights[j]
                while p < e:
                    # Unsigned: a row before `base` wraps to a huge offset and ends the run like a row
                    # past the block does; the check above then rejects it.
                    off = np.uint64(indices[p]) - base
                    if off >= span:
                        break
                    acc[off] += q * np.float64(data[p])
                    p += np.uint64(1)
                pos[j] = p
            lo = np.uint64(0)
            while lo < span:
                hi = min(lo + chunk, span)
                # Most chunks hold no hit once k are kept: one vector test each, then zeroed in L1.
                if _chunk_has(acc, lo, hi, bar):
                    for slot in range(lo, hi):
                        s = acc[slot]
                        rid = np.int64(base + slot)
                        if s != 0.0 and (s > bar or (s == bar and rid < bar_id)):
                            size = _offer(hs, hr, size, m, collect_all, s, rid)
                            if not collect_all and size == m:
                                bar = hs[0]
                                bar_id = hr[0]
                acc[lo:hi] = 0.0
                lo = hi
        else:
            nt = np.uint64(0)
            overflow = False
            for j in range(nq):
                p = pos[j]
                e = end[j]
                q = qweights[j]
                while p < e:
                    off = np.uint64(indices[p]) - base
                    if off >= span:
                        break
                    a = acc[off]
                    # Append without a branch: whether a row is new is unpredictable, and a mispredict
                    # cost more than the store.
                    touched[nt] = off
                    nt += np.uint64(a == 0.0)
                    acc[off] = a + q * np.float64(data[p])
                    p += np.uint64(1)
                    # Only a row whose score is back at exactly 0 (a zero weight, signs cancelling) is
                    # appended twice; should repeats fill the list, the whole block is visited instead.
                    if nt >= cap:
                        overflow = True
                        nt = np.uint64(0)
                pos[j] = p
            if overflow:
                for i in range(span):
                    touched[i] = i
                nt = span
            for i in range(nt):
                off = np.uint64(touched[i])
                s = acc[off]
                acc[off] = 0.0  # reset on read, which also makes a repeated entry read 0
                rid = np.int64(base + off)
                # The bar lives in registers: nearly every row fails it, so this is the hot test.
                if s != 0.0 and (s > bar or (s == bar and rid < bar_id)):
                    size = _offer(hs, hr, size, m, collect_all, s, rid)
                    if not collect_all and size == m:
                        bar = hs[0]
                        bar_id = hr[0]
        done = np.int64(base + span)

    if collect_all:
        # Ids ascending, then a stable sort by score: ties keep the lower id first.
        by_id = np.argsort(hr[:size])
        ids = hr[:size][by_id]
        scores = hs[:size][by_id]
        order = np.argsort(-scores, kind="mergesort")
        return ids[order], scores[order], _OK
    # Pop the worst into the back, one by one: best first, ties by lower id.
    out_ids = np.empty(size, np.int64)
    out_scores = np.empty(size, np.float64)
    for i in range(size - 1, -1, -1):
        out_ids[i] = hr[0]
        out_scores[i] = hs[0]
        hs[0] = hs[i]
        hr[0] = hr[i]
        _sift_down(hs, hr, i, 0)
    return out_ids, out_scores, _OK


_lock = threading.Lock()  # one thread imports numba and compiles; the others wait for it
_compiled: Any = None  # the compiled kernel, once loaded
_tried = False  # whether numba was looked for (found or not)
_warned: set[str] = set()


def available() -> bool:
    """Whether numba is installed (looked up, not imported)."""
    try:
        return importlib.util.find_spec("numba") is not None
    except ValueError:  # in sys.modules without a spec
        return True


def setting() -> str:
    """QA_KERNEL: numpy, numba or auto (the default; an unknown value counts as auto, with a warning)."""
    value = os.environ.get("QA_KERNEL", "").strip().lower() or "auto"
    if value in CHOICES:
        return value
    _warn_once(f"QA_KERNEL={value!r} is not one of {', '.join(CHOICES)}: using auto")
    return "auto"


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


def wants_numba(n_rows: int) -> bool:
    """Whether an index of n_rows passages is scored with numba (when installed): QA_KERNEL, else its size."""
    choice = setting()
    return choice == "numba" or (choice == "auto" and n_rows >= NUMBA_FROM)


def backend(n_rows: int) -> str:
    """The backend `top_k` uses for an index of n_rows passages, loading numba if that is numba."""
    return "numba" if wants_numba(n_rows) and _numba_kernel() is not None else "numpy"


def _numba_kernel() -> Any:
    """The compiled kernel (numba imported, the kernel compiled or loaded from its disk cache on first
    use), or None when numba is missing."""
    if _tried:
        return _compiled
    with _lock:
        if not _tried:
            _load_numba()
    return _compiled


def _load_numba() -> None:
    """Import numba and make the compiled kernel; without numba, say so once and leave it None."""
    global _compiled, _tried, _sift_down, _sift_up, _offer, _chunk_has
    try:
        import numba
    except ImportError:
        if setting() == "numba":
            _warn_once("QA_KERNEL=numba but numba is not installed: scoring with numpy")
        _tried = True
        return

    def jit(fn: Any) -> Any:
        """`fn` compiled without the GIL (threads run in parallel), cached on disk when a cache is writable."""
        try:
            return numba.njit(nogil=True, cache=True)(fn)
        except RuntimeError:  # numba found no writable cache directory: compile once per process instead
            return numba.njit(nogil=True)(fn)

    # Helpers first: the kernel resolves them as compiled functions (module globals) when it is compiled.
    _sift_down, _sift_up, _offer, _chunk_has = jit(_sift_down), jit(_sift_up), jit(_offer), jit(_chunk_has)
    _compiled = jit(_kernel)
    _tried = True


_made: dict[Any, Any] = {}  # each answer-path loop, once wrapped by `jitted`


def jitted(fn: Any) -> Any:
    """`fn` compiled like the kernel (nogil, cached on disk), for the answer path's loops
    (retrieval/sentence_match.py, retrieval/span_loop.py), wrapped once per process; None when numba is
    missing. Compiled on its first call."""
    if fn not in _made:
        found = _numba_kernel() is not None  # before the lock: the first use takes it to import numba
        with _lock:
            if fn not in _made:
                _made[fn] = _jit(fn) if found else None
    return _made[fn]


def _jit(fn: Any) -> Any:
    """`fn` wrapped by numba: nogil, cached on disk when a cache is writable."""
    import numba

    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # no writable cache directory
        return numba.njit(nogil=True)(fn)


# Each thread owns its scratch (block scores and touched list), so concurrent queries share no buffer.
_local = threading.local()


def _scratch() -> tuple[np.ndarray, np.ndarray]:
    """This thread's all-zero block of scores and its touched list."""
    acc: np.ndarray | None = getattr(_local, "acc", None)
    if acc is None:
        acc = np.zeros(BLOCK, np.float64)
        _local.acc = acc
        _local.touched = np.empty(BLOCK + 1, np.uint32)  # every row of a block, and one repeat
    return acc, _local.touched


def _top_k_compiled(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, terms: np.ndarray, qweights: np.ndarray,
    n_rows: int, k: int, strategy: int = AUTO,
) -> tuple[np.ndarray, np.ndarray]:
    """`top_k` through the compiled kernel, with its strategy forced or left to the query's density."""
    compiled = _numba_kernel()
    if compiled is None:
        raise RuntimeError("numba is not installed")
    terms, qweights = _check(indptr, indices, data, terms, qweights, n_rows)
    if k <= 0 or n_rows == 0 or terms.size == 0:
        return _empty()
    k = min(int(k), n_rows)  # no more hits than passages; also keeps a huge k within int64
    acc, touched = _scratch()
    try:
        ids, scores, status = compiled(*frozen(indptr, indices, data), terms, qweights, n_rows, k, strategy, acc,
                                       touched)
    except BaseException:
        _local.acc = None  # the scratch may be dirty now: this thread starts afresh next time
        raise
    if status == _BAD_ROW:
        raise ValueError("a posting's row is outside 0..n_rows-1 or out of order within its column")
    return ids, scores


# The contract: `indptr`/`indices`/`data` are a CSC matrix of n_rows passages by terms, rows sorted
# within each column (as scipy's `sort_indices` leaves them); `terms` are distinct column ids (assumed:
# a repeated term counts once per occurrence) and `qweights` their query weights; weights are finite.
# A term outside the matrix raises IndexError, a posting row outside 0..n_rows-1 or out of order
# ValueError. Safe to call from several threads at once.
def top_k(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, terms: np.ndarray, qweights: np.ndarray,
    n_rows: int, k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best passages (int64 ids, float64 scores): best first, ties to the lower id, zeros left out."""
    if wants_numba(n_rows) and _numba_kernel() is not None:
        return _top_k_compiled(indptr, indices, data, terms, qweights, n_rows, k)
    return top_k_numpy(indptr, indices, data, terms, qweights, n_rows, k)


def frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Read-only views of the arrays. Numba compiles a version per writability of each argument, and a
    saved index maps its large arrays read-only but reads its small ones: the compiled loops are always
    given read-only views, so one version (compiled at warm-up) serves built and saved indexes alike."""
    views = tuple(a.view() for a in arrays)
    for view in views:
        view.flags.writeable = False
    return views


def warm_up(n_rows: int | None = None) -> None:
    """Load the backend an index of n_rows passages is scored with, so that its first question does not
    wait: numba imported and the kernel compiled (or loaded from the disk cache) for the index's array
    types. Without n_rows, only when QA_KERNEL=numba forces it."""
    if not wants_numba(-1 if n_rows is None else n_rows) or _numba_kernel() is None:
        return
    terms = np.array([0, 1], np.int64)
    qweights = np.array([1.0, 0.5])
    indices = np.array([0, 1, 1], np.int32)
    data = np.array([1.0, 2.0, 3.0], np.float32)  # the index's weights are float32
    for indptr_type in (np.int32, np.int64):  # scipy picks either, by the matrix's size
        indptr = np.array([0, 2, 3], indptr_type)
        for k in (1, 5):  # the heap and the keep-everything branches
            _top_k_compiled(indptr, indices, data, terms, qweights, 2, k)
    from . import sentence_match, span_loop  # imported here: they import this module

    sentence_match.warm_up()  # the answer path's compiled loops
    span_loop.warm_up()
