"""The top-k scoring kernel against brute force: every implementation, strategy and edge case.

Weights are mostly dyadic (small integers over a power of two), so that every product and sum is
exact in float64 whatever the order: scores then equal the dense product bit for bit and ties
(made on purpose by duplicated rows and columns) must be broken exactly as brute force breaks them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import kernel, sentence_match

ROOT = Path(__file__).resolve().parent.parent
TopK = Callable[..., tuple[np.ndarray, np.ndarray]]

needs_numba = pytest.mark.skipif(not kernel.available(), reason="numba is not installed")


def _compiled(strategy: int) -> TopK:
    """The compiled kernel with its strategy forced."""

    def run(*args: object) -> tuple[np.ndarray, np.ndarray]:
        return kernel._top_k_compiled(*args, strategy=strategy)

    return run


def _forced(choice: str) -> TopK:
    """`top_k` with QA_KERNEL set to `choice` (the test matrices are small: auto would choose numpy)."""

    def run(*args: object) -> tuple[np.ndarray, np.ndarray]:
        with mock.patch.dict(os.environ, {"QA_KERNEL": choice}):
            return kernel.top_k(*args)

    return run


IMPLEMENTATIONS = [
    pytest.param(kernel.top_k_numpy, id="numpy"),
    pytest.param(kernel.top_k, id="top_k"),
    pytest.param(_forced("numba"), id="top_k-numba", marks=needs_numba),
    pytest.param(_compiled(kernel.AUTO), id="compiled-auto", marks=needs_numba),
    pytest.param(_compiled(kernel.SPARSE), id="compiled-sparse", marks=needs_numba),
    pytest.param(_compiled(kernel.DENSE), id="compiled-dense", marks=needs_numba),
]


def brute_force(w: sp.csc_matrix, terms: np.ndarray, qweights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference: dense float64 matrix product, non-zero scores sorted by (-score, id), first k."""
    q = np.zeros(w.shape[1])
    q[np.asarray(terms, np.int64)] = qweights
    scores = np.asarray(w.toarray(), np.float64) @ q
    ids = np.flatnonzero(scores)
    order = np.lexsort((ids, -scores[ids]))[: max(k, 0)]
    return ids[order].astype(np.int64), scores[ids[order]]


def run(impl: TopK, w: sp.csc_matrix, terms: object, qweights: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Call an implementation on a scipy CSC matrix."""
    return impl(w.indptr, w.indices, w.data, terms, qweights, w.shape[0], k)


def assert_exact(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    """Same ids in the same order, same scores bit for bit, and the promised dtypes."""
    assert got[0].dtype == np.int64 and got[1].dtype == np.float64
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def dyadic_csc(
    rng: np.random.Generator, n_rows: int, n_cols: int, density: float, *, dup_rows: int = 0, dup_cols: int = 0,
    indptr_dtype: type = np.int32, negative: bool = False,
) -> sp.csc_matrix:
    """A random sorted CSC of float32 weights in {1/4, ..., 2} (or ±), some rows and columns copied to tie."""
    x = sp.random(n_rows, n_cols, density=density, format="csc", random_state=rng, dtype=np.float64)
    x.data = rng.integers(1, 9, size=x.data.size) / 4.0
    if negative:
        x.data *= rng.choice([-1.0, 1.0], size=x.data.size)
    dense = x.toarray()
    for _ in range(dup_rows if n_rows > 1 else 0):
        a, b = rng.integers(0, n_rows, size=2)
        dense[b] = dense[a]
    for _ in range(dup_cols if n_cols > 1 else 0):
        a, b = rng.integers(0, n_cols, size=2)
        dense[:, b] = dense[:, a]
    w = sp.csc_matrix(dense.astype(np.float32))
    w.sort_indices()
    w.indptr = w.indptr.astype(indptr_dtype)
    w.indices = w.indices.astype(np.int32)
    return w


def dyadic_query(rng: np.random.Generator, n_cols: int, n_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct random terms with weights in {1/2, 1, 3/2, 2}."""
    terms = rng.choice(n_cols, size=min(n_terms, n_cols), replace=False).astype(np.int64)
    return terms, rng.integers(1, 5, size=terms.size) / 2.0


SHAPES = [(1, 1, 1.0), (1, 4, 0.5), (2, 3, 0.7), (7, 4, 0.5), (50, 12, 0.2), (300, 40, 0.05), (300, 8, 0.6)]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("n_rows", "n_cols", "density"), SHAPES)
def test_small_matrices_equal_brute_force(impl: TopK, seed: int, n_rows: int, n_cols: int, density: float) -> None:
    rng = np.random.default_rng(seed)
    w = dyadic_csc(rng, n_rows, n_cols, density, dup_rows=n_rows // 4, dup_cols=n_cols // 4)
    for n_terms in (1, 2, 5, n_cols):
        terms, qweights = dyadic_query(rng, n_cols, n_terms)
        for k in (1, 3, 10, n_rows, n_rows + 5):
            assert_exact(run(impl, w, terms, qweights, k), brute_force(w, terms, qweights, k))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", range(3))
def test_several_blocks_and_gaps_equal_brute_force(impl: TopK, seed: int) -> None:
    """Rows spanning several scratch blocks, dense and sparse columns, and a gap wider than a block."""
    rng = np.random.default_rng(100 + seed)
    n_rows = 2 * kernel.BLOCK + 12_345
    dense_part = dyadic_csc(rng, n_rows, 6, 0.3, dup_rows=200, dup_cols=1)
    sparse_part = dyadic_csc(rng, n_rows, 6, 0.001, dup_rows=50)
    # Column 12 only has rows at the very start and the very end: the blocks between have nothing.
    edge_rows = np.r_[0:40, n_rows - 40 : n_rows]
    edge = sp.csc_matrix((np.full(edge_rows.size, 0.75, np.float32), (edge_rows, np.zeros(edge_rows.size, int))),
                         shape=(n_rows, 1))
    w = sp.hstack([dense_part, sparse_part, edge], format="csc", dtype=np.float32)
    w.sort_indices()
    for terms in ([0, 1, 2], [6, 7], [12], [12, 7], [0, 3, 6, 9, 12], list(range(13))):
        t = np.array(terms, np.int64)
        q = rng.integers(1, 5, size=t.size) / 2.0
        for k in (1, 10, 100):
            assert_exact(run(impl, w, t, q, k), brute_force(w, t, q, k))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_ties_go_to_the_lower_id(impl: TopK) -> None:
    # Rows 3, 1, 7 and 5 score 2; row 0 scores 3; the cut at k=3 falls inside the tie.
    dense = np.zeros((9, 2), np.float32)
    dense[[1, 3, 5, 7], 0] = 2
    dense[0, 0] = 1
    dense[0, 1] = 2
    w = sp.csc_matrix(dense)
    ids, scores = run(impl, w, np.array([0, 1]), np.array([1.0, 1.0]), 3)
    assert ids.tolist() == [0, 1, 3]
    assert scores.tolist() == [3.0, 2.0, 2.0]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", range(3))
def test_random_float_weights_match_brute_force(impl: TopK, seed: int) -> None:
    """Arbitrary float32 weights: scores agree to float64 rounding (1e-9 relative) and so does the order."""
    rng = np.random.default_rng(200 + seed)
    w = sp.random(5000, 30, density=0.1, format="csc", random_state=rng, dtype=np.float32)
    w.sort_indices()
    for _ in range(10):
        terms = rng.choice(30, size=int(rng.integers(1, 8)), replace=False)
        qweights = rng.random(terms.size) * 3
        want_ids, want_scores = brute_force(w, terms, qweights, 25)
        ids, scores = run(impl, w, terms, qweights, 25)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-9, atol=0)
        # Distinct rows practically never score within rounding of each other, and equal float32 entries
        # (one-term queries) give bit-equal products on both sides, so the order is brute force's.
        np.testing.assert_array_equal(ids, want_ids)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_edge_cases(impl: TopK) -> None:
    rng = np.random.default_rng(7)
    w = dyadic_csc(rng, 20, 5, 0.3)
    w = sp.hstack([w, sp.csc_matrix((20, 1), dtype=np.float32)], format="csc")  # column 5 is empty
    t, q = np.array([0, 2]), np.array([1.0, 0.5])
    nothing = (np.empty(0, np.int64), np.empty(0, np.float64))
    assert_exact(run(impl, w, np.array([], np.int64), np.array([]), 10), nothing)  # no terms
    assert_exact(run(impl, w, t, q, 0), nothing)
    assert_exact(run(impl, w, t, q, -3), nothing)
    assert_exact(run(impl, w, [5], [1.0], 10), nothing)  # a term with no postings
    assert_exact(run(impl, w, [0], [0.0], 10), nothing)  # a zero query weight
    assert_exact(run(impl, w, [5, 1], [1.0, 2.0], 10), brute_force(w, [5, 1], np.array([1.0, 2.0]), 10))
    assert_exact(run(impl, w, [1, 0], [2.0, 0.0], 10), brute_force(w, [1, 0], np.array([2.0, 0.0]), 10))
    assert_exact(run(impl, w, t.tolist(), q.tolist(), 10**15), brute_force(w, t, q, 10**15))  # lists; huge k
    assert_exact(run(impl, w, t.astype(np.int32), q, 4), brute_force(w, t, q, 4))
    empty = sp.csc_matrix((0, 3), dtype=np.float32)  # no passages at all
    assert_exact(run(impl, empty, [0, 1], [1.0, 1.0], 5), nothing)
    one = sp.csc_matrix(np.array([[0.0, 1.5, 2.0]], np.float32))  # one passage
    assert_exact(run(impl, one, [0, 2], [1.0, 1.0], 5), (np.array([0]), np.array([2.0])))
    assert_exact(run(impl, one, [0], [1.0], 5), nothing)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_other_array_types(impl: TopK) -> None:
    """int64 indptr and indices, float64 data: the same answers."""
    rng = np.random.default_rng(11)
    w = dyadic_csc(rng, 400, 10, 0.2, dup_rows=40, indptr_dtype=np.int64)
    t, q = dyadic_query(rng, 10, 4)
    want = brute_force(w, t, q, 10)
    assert_exact(run(impl, w, t, q, 10), want)
    wide = sp.csc_matrix((w.data.astype(np.float64), w.indices.astype(np.int64), w.indptr), shape=w.shape)
    assert_exact(run(impl, wide, t, q, 10), want)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", range(3))
def test_negative_weights_and_exact_cancellation(impl: TopK, seed: int) -> None:
    """Mixed signs: negative scores are hits too (ranked last) and scores that cancel to 0 are not."""
    rng = np.random.default_rng(300 + seed)
    w = dyadic_csc(rng, 500, 8, 0.3, dup_rows=50, dup_cols=3, negative=True)
    for _ in range(10):
        terms, qweights = dyadic_query(rng, 8, int(rng.integers(1, 8)))
        qweights *= rng.choice([-1.0, 1.0], size=terms.size)
        for k in (5, 500):
            assert_exact(run(impl, w, terms, qweights, k), brute_force(w, terms, qweights, k))
    # Two equal columns weighted +1 and -1 cancel everywhere: no passage scores.
    twin = sp.hstack([w[:, [0]], w[:, [0]]], format="csc")
    assert_exact(run(impl, twin, [0, 1], [1.0, -1.0], 10), (np.empty(0, np.int64), np.empty(0, np.float64)))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_repeated_rows_in_a_column_fill_the_touched_list(impl: TopK) -> None:
    """Row 5 listed 2 * BLOCK + 1 times, +1 and -1 in turn: each return to 0 appends it again, to overflow."""
    n = 2 * kernel.BLOCK + 3
    rows = np.r_[np.full(2 * kernel.BLOCK + 1, 5), 9, 10].astype(np.int32)
    data = np.r_[np.tile([1.0, -1.0], kernel.BLOCK), 1.0, 0.5, 0.25].astype(np.float32)
    w = sp.csc_matrix((data, rows, np.array([0, rows.size], np.int32)), shape=(20, 1))
    assert w.indices.size == n  # scipy kept the repeats
    ids, scores = run(impl, w, [0], [2.0], 10)
    assert ids.tolist() == [5, 9, 10]
    assert scores.tolist() == [2.0, 1.0, 0.5]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_input_is_refused(impl: TopK) -> None:
    w = sp.csc_matrix(np.eye(4, dtype=np.float32))
    with pytest.raises(IndexError):
        run(impl, w, [4], [1.0], 3)
    with pytest.raises(IndexError):
        run(impl, w, [-1], [1.0], 3)
    with pytest.raises(ValueError):
        run(impl, w, [0, 1], [1.0], 3)
    # A posting row past n_rows (the matrix claims 3 passages but column 3 has row 3).
    with pytest.raises(ValueError):
        impl(w.indptr, w.indices, w.data, [2, 3], [1.0, 1.0], 3, 3)
    # The scratch of this thread is clean after the refusal.
    assert_exact(run(impl, w, [0, 2], [1.0, 2.0], 3), brute_force(w, [0, 2], np.array([1.0, 2.0]), 3))


@needs_numba
def test_compiled_refuses_rows_out_of_order_across_blocks() -> None:
    n = kernel.BLOCK * 3
    indices = np.array([n - 1, 2], np.int32)  # descending: the second row lies in a block already done
    data = np.array([1.0, 1.0], np.float32)
    with pytest.raises(ValueError, match="out of order"):
        kernel._top_k_compiled(np.array([0, 2], np.int32), indices, data, [0], [1.0], n, 5)
    # The refusal left this thread's scratch clean.
    ids, _scores = kernel._top_k_compiled(np.array([0, 1], np.int32), indices[1:], data[:1], [0], [1.0], n, 5)
    assert ids.tolist() == [2]


def test_concurrent_calls_from_threads_equal_brute_force() -> None:
    """Eight threads at once on one matrix, each with its own queries, all answers exact."""
    rng = np.random.default_rng(42)
    w = dyadic_csc(rng, 60_000, 40, 0.05, dup_rows=300, dup_cols=5)
    queries = [dyadic_query(rng, 40, int(rng.integers(1, 12))) for _ in range(320)]
    want = [brute_force(w, t, q, 10) for t, q in queries]
    start = threading.Barrier(8)

    def worker(first: int) -> list[tuple[np.ndarray, np.ndarray]]:
        start.wait()
        return [run(kernel.top_k, w, *queries[i], 10) for i in range(first, len(queries), 8)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    for first, got in enumerate(results):
        for i, answer in zip(range(first, len(queries), 8), got, strict=True):
            assert_exact(answer, want[i])


@settings(max_examples=150, deadline=None)
@given(
    n_rows=st.integers(0, 60), n_cols=st.integers(1, 6), density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1), k=st.integers(-1, 70), n_terms=st.integers(0, 6),
)
def test_property_every_implementation_equals_brute_force(
    n_rows: int, n_cols: int, density: float, seed: int, k: int, n_terms: int
) -> None:
    rng = np.random.default_rng(seed)
    w = dyadic_csc(rng, n_rows, n_cols, density, dup_rows=n_rows // 3, dup_cols=1, negative=seed % 3 == 0)
    terms, qweights = dyadic_query(rng, n_cols, n_terms)
    want = brute_force(w, terms, qweights, k)
    impls: list[TopK] = [kernel.top_k_numpy, kernel.top_k]
    if kernel.available():
        impls += [_compiled(kernel.SPARSE), _compiled(kernel.DENSE)]
    for impl in impls:
        assert_exact(run(impl, w, terms, qweights, k), want)


@needs_numba
def test_warm_up_compiles_the_index_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_KERNEL", "numba")
    kernel.warm_up()
    indptr_types = {(sig[0].dtype.name, sig[0].mutable) for sig in kernel._compiled.signatures}
    # the loops are given read-only views (a saved index maps its large arrays read-only and reads its small
    # ones): one version each, compiled here, or the first question about a saved index compiles for seconds
    assert {("int32", False), ("int64", False)} <= indptr_types
    table = kernel.jitted(sentence_match._match)
    assert {(sig[0].mutable, sig[2].dtype.name) for sig in table.signatures} >= {(False, "uint16"), (False, "int32")}
    known = (set(kernel._compiled.signatures), set(table.signatures))
    # a built index's arrays, a mapped one's, and a saved one's mixed (large arrays mapped, small ones read):
    # nothing new to compile
    for fixed in ((False, False), (True, True), (True, False)):
        indptr, indices, data = (np.array(a) for a in ([0, 2, 3], [0, 1, 1], [1.0, 2.0, 3.0]))
        indices, data = indices.astype(np.int32), data.astype(np.float32)
        indptr.flags.writeable, indices.flags.writeable, data.flags.writeable = not fixed[0], not fixed[1], True
        kernel.top_k(indptr, indices, data, np.array([0, 1]), np.array([1.0, 1.0]), 2, 1)
        offsets, ids = np.array([0, 1], np.int32), np.array([0], np.uint16)
        offsets.flags.writeable, ids.flags.writeable = not fixed[0], not fixed[1]
        st = sentence_match.SentenceTable(offsets, np.array([0], np.int32), np.array([5], np.int32), offsets, ids,
                                          offsets, ids, np.zeros(1, np.uint8))
        sentence_match.candidates(st, [0], np.array([0]))
    assert (set(kernel._compiled.signatures), set(table.signatures)) == known


# In a fresh interpreter: score a matrix of `rows` passages (one posting), print the answer and whether
# numba was imported.
SCORE = (
    "import sys; import numpy as np\n"
    "from retrieval import kernel\n"
    "rows = int(sys.argv[1]); kernel.warm_up(rows)\n"
    "ids, scores = kernel.top_k(np.array([0, 1, 1]), np.array([rows - 1], np.int32), np.array([2.0], np.float32),\n"
    "    [0, 1], [3.0, 0.5], rows, 5)\n"
    "print(ids.tolist(), scores.tolist(), kernel.backend(rows), sys.modules.get('numba') is not None)\n"
)


def _score(rows: int, choice: str | None, hide_numba: bool = False) -> tuple[str, str]:
    """Run SCORE with QA_KERNEL=`choice` (unset: None); its output line and standard error."""
    env = {k: v for k, v in os.environ.items() if k != "QA_KERNEL"} | {"PYTHONPATH": str(ROOT)}
    if choice is not None:
        env["QA_KERNEL"] = choice
    code = ("import sys; sys.modules['numba'] = None\n" if hide_numba else "") + SCORE  # import numba fails
    out = subprocess.run([sys.executable, "-c", code, str(rows)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip(), out.stderr


@pytest.mark.parametrize(("rows", "choice", "expected"), [
    (10, None, "numpy False"),  # auto, a small index: numba is never imported
    (kernel.NUMBA_FROM, None, "numba True"),  # auto, a large one
    (kernel.NUMBA_FROM, "numpy", "numpy False"),
    (10, "NUMBA", "numba True"),
    (10, "fast", "numpy False"),  # an unknown choice counts as auto (and is warned about)
])
def test_numba_is_imported_only_for_a_large_index_or_when_asked(rows: int, choice: str | None,
                                                               expected: str) -> None:
    if "numba" in expected and not kernel.available():
        pytest.skip("numba is not installed")
    line, err = _score(rows, choice)
    assert line == f"[{rows - 1}] [6.0] {expected}"
    assert ("is not one of auto, numpy, numba" in err) == (choice == "fast"), err


def test_without_numba_the_numpy_fallback_is_used() -> None:
    """In a fresh interpreter where numba cannot be imported, top_k is the numpy implementation, even when
    QA_KERNEL asks for numba (a warning says so)."""
    line, err = _score(kernel.NUMBA_FROM, "numba", hide_numba=True)
    assert line == f"[{kernel.NUMBA_FROM - 1}] [6.0] numpy False"
    assert "QA_KERNEL=numba but numba is not installed: scoring with numpy" in err


HEAVY = ("numba", "llvmlite", "sklearn", "bs4", "lxml", "pypdf", "docutils", "markdown_it", "yaml", "discord")


def test_help_and_a_question_on_the_seeds_import_nothing_they_do_not_use(tmp_path: Path) -> None:
    """`qa-bot --help` imports neither numpy nor the engine; `qa-bot ask` over the seeds (plain text, a
    small index) imports no numba, scikit-learn, document readers for other formats, or discord.py."""
    code = (
        "import sys, contextlib\n"
        "from bot.cli import main\n"
        "with contextlib.suppress(SystemExit):\n"
        "    status = None\n"
        "    status = main(sys.argv[1:])\n"
        "print(status, sorted(set(sys.modules) & set(sys.argv[0].split(','))))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "QA_KERNEL"} | {"PYTHONPATH": str(ROOT)}
    seeds = ("--docs", str(ROOT / "seeds"), "--db", str(tmp_path / "qa.sqlite3"))
    for argv, names in [(["--help"], ("numpy", "scipy", "bot.service", "retrieval.index")),
                        (["ask", *seeds, "Who is Steve Witkoff?"], HEAVY),  # first: the folder is read
                        (["ask", *seeds, "Who is Steve Witkoff?"], HEAVY)]:  # then: loaded from the store
        out = subprocess.run([sys.executable, "-c", code.replace("sys.argv[0]", repr(",".join(names))), *argv],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        *printed, imported = out.stdout.strip().split("\n")
        assert imported in ("0 []", "None []"), (argv, out.stdout, out.stderr)  # None: --help exits
        assert argv == ["--help"] or "Witkoff" in printed[0]
