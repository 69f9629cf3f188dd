"""Scale: ours next to bm25s (numpy and numba backends) and rank-bm25, same corpus, same run.

    python -m bench.scale [--sizes 10000,100000,1000000] [--queries 1000] [--out bench/results/scale.md]
    python -m bench.scale --startup-only [--sizes 1000000] [--queries 100]   # start-up alone: scale_startup.md

For each size a deterministic corpus is made from real sentences (bench/corpus.py) and every method
is measured in a fresh subprocess of its own (so memory is freed between methods and each build's
peak is its own): index build time, peak memory of the build, query latency p50/p99 for the top 10
(query analysis included) and single-process queries per second. Ours also gets: top-10 equal to
brute force at the smallest size, reindex after one changed document at 100k (or the largest size
below it), and start-up from a real store at the largest size. Targets are printed with PASS/MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import logging
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.corpus import Corpus, changed_document, make_corpus, questions
from retrieval.counting import trim_heap

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
K = 10
RANK_BM25_MAX = 100_000  # rank-bm25 scores every passage in Python per query term: skipped above this
QUERY_BUDGET_S = 90.0  # slow methods stop querying after this long (at least MIN_QUERIES)
MIN_QUERIES = 100
WARMUP = 10
OVERLAP_QUERIES = 200
METHODS = ("ours", "bm25s-numpy", "bm25s-numba", "rank-bm25")
SAVED = Path(tempfile.gettempdir()) / "bench-scale-results.json"  # the last run's raw measurements

log = logging.getLogger("bench.scale")


# ---------------------------------------------------------------------------------------------------
# Measuring


def rss_kb() -> int:
    """Resident set size of this process now, in KiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    import psutil

    return int(psutil.Process().memory_info().rss // 1024)


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (and so ru_maxrss) to the current RSS; False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class BuildMeter:
    """Wall time and memory of one build: peak RSS during it and RSS kept after it, both over the
    RSS just before it (after the corpus was made, garbage collected and freed heap handed back)."""

    def __enter__(self) -> BuildMeter:
        gc.collect()
        # Else a build may or may not fill the free heap the corpus maker left resident, unseen (numpy
        # arrays can, Python objects cannot): our 100k build measured 72-111 MB in four runs without it.
        trim_heap()
        self.reset = reset_peak()
        self.before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.base = rss_kb()
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.cpu_seconds = time.process_time() - self.cpu_started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        gc.collect()
        self.retained_mb = (rss_kb() - self.base) / 1024
        # Without the reset, ru_maxrss may still be the corpus maker's peak: then report no more than that.
        self.peak_mb = (peak - self.base) / 1024 if self.reset or peak > self.before_peak else float("nan")

    def result(self) -> dict[str, Any]:
        return {"build_s": self.seconds, "build_cpu_s": self.cpu_seconds, "peak_mb": self.peak_mb,
                "retained_mb": self.retained_mb, "peak_reset": self.reset}


def time_queries(
    prepare: Callable[[str], Any], run: Callable[[Any], Sequence[int]], qs: Sequence[str],
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Latency of each query (prepare + run, one at a time) after a warm-up; QPS over the timed ones."""
    for q in qs[:WARMUP]:
        run(prepare(q))
    total: list[float] = []
    prep: list[float] = []
    cpu: list[float] = []
    tops: list[list[int]] = []
    clock, cpu_clock = time.perf_counter, time.thread_time
    started = clock()
    for n, q in enumerate(qs):
        c0 = cpu_clock()
        t0 = clock()
        x = prepare(q)
        t1 = clock()
        ids = run(x)
        t2 = clock()
        cpu.append(cpu_clock() - c0)
        total.append(t2 - t0)
        prep.append(t1 - t0)
        if n < OVERLAP_QUERIES:
            tops.append([int(i) for i in ids])
        if budget_s is not None and n + 1 >= MIN_QUERIES and clock() - started > budget_s:
            break
    lat = np.asarray(total) * 1000
    cpu_ms = np.asarray(cpu) * 1000
    return {
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)), "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
        "queries": len(total), "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
        "mean_ms": float(lat.mean()), "qps": len(total) / float(np.sum(total)),
        "prepare_p50_ms": float(np.percentile(np.asarray(prep) * 1000, 50)), "tops": tops,
    }


def top_ids(scores: np.ndarray, k: int = K) -> list[int]:
    """The ids of the `k` best scores of a dense score array, best first, ties by id; zeros dropped."""
    if scores.size > k:
        cand = np.argpartition(-scores, k)[:k]
    else:
        cand = np.arange(scores.size)
    cand = cand[scores[cand] > 0]
    order = np.lexsort((cand, -scores[cand]))
    return cand[order].tolist()


# ---------------------------------------------------------------------------------------------------
# Workers: each runs in its own process and writes one JSON file


def worker_ours(corpus: Corpus, qs: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from retrieval.index import Index

    with BuildMeter() as meter:
        index = Index.build(corpus.documents, corpus.passages)
    res: dict[str, Any] = meter.result() | {"terms": len(index.vocabulary), "nnz": int(index.weights.nnz)}
    res |= time_queries(index.query_vector, lambda v: [h.passage for h in index.search(v, K)], qs)
    res["answer"] = time_answers(index, qs)
    if args.check:
        res["check"] = brute_force_check(index, qs[: args.check])
    if args.profile:
        res["profile"] = profile_queries(index, qs[: args.profile])
    if args.reindex:
        res["reindex"] = reindex_check(corpus, index, qs[: args.reindex])
    if args.store:
        res["store"] = write_store(corpus, index, Path(args.store))
    return res


def time_answers(index: Any, qs: Sequence[str]) -> dict[str, Any]:
    """Latency of the whole answer (`retrieval.answer.answer`: reading the question, typo correction,
    related forms, the search, the choice of quotes, the not-found model), each question asked once."""
    from retrieval.answer import answer

    found = time_queries(lambda q: q, lambda q: [int(bool(answer(index, q).quotes))], qs)
    return {k: v for k, v in found.items() if k != "tops"} | {"answered": sum(t[0] for t in found["tops"])}


def brute_force_check(index: Any, qs: Sequence[str]) -> dict[str, Any]:
    """Our top 10 against the dense reference. `Index.brute_force_scores` densifies the whole matrix
    per call, so it is called for the first two queries only, to check that the batched product used
    for the rest (the same dense float64 matrix times all the query vectors at once) equals it."""

    vectors = [index.query_vector(q) for q in qs]
    started = time.perf_counter()
    dense = np.asarray(index.weights.toarray(), np.float64)
    qmat = np.zeros((len(index.vocabulary), len(qs)))
    for j, v in enumerate(vectors):
        for t, w in v.items():
            qmat[t, j] = w
    batched = dense @ qmat
    del dense
    same_as_method = all(
        np.allclose(index.brute_force_scores(vectors[j]), batched[:, j], rtol=1e-12, atol=1e-12)
        for j in range(min(2, len(qs)))
    )
    identical = ties_only = 0
    max_diff = 0.0
    for j, v in enumerate(vectors):
        hits = index.search(v, K)
        ref = batched[:, j]
        nz = np.flatnonzero(ref)
        order = np.lexsort((nz, -ref[nz]))[:K]  # best first, ties to the lower id
        ref_ids, ref_scores = nz[order], ref[nz][order]
        got_ids = [h.passage for h in hits]
        got_scores = np.array([h.score for h in hits])
        if got_ids == ref_ids.tolist():
            identical += 1
            if len(hits):
                max_diff = max(max_diff, float(np.max(np.abs(got_scores - ref_scores))))
        elif len(got_ids) == len(ref_ids) and np.allclose(ref[got_ids], ref_scores, rtol=1e-6, atol=1e-9):
            ties_only += 1  # a different order or choice among scores equal to float precision
    return {"queries": len(qs), "identical": identical, "ties_only": ties_only, "max_score_diff": max_diff,
            "batched_equals_brute_force_scores": bool(same_as_method), "seconds": time.perf_counter() - started}


def profile_queries(index: Any, qs: Sequence[str]) -> dict[str, Any]:
    """cProfile of our query path for a few queries, top functions by own time."""
    prof = cProfile.Profile()
    prof.enable()
    for q in qs:
        index.search(index.query_vector(q), K)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return {"queries": len(qs), "text": "\n".join(lines[start:])}


def reindex_check(corpus: Corpus, index: Any, qs: Sequence[str]) -> dict[str, Any]:
    """One document changed: `reindex.build(..., previous=index)` against a full `Index.build`."""
    from retrieval import reindex
    from retrieval.index import Index
    from retrieval.passages import all_passages

    docs = list(corpus.documents)
    middle = len(docs) // 2
    docs[middle] = changed_document(docs[middle])
    passages = all_passages(docs)
    gc.collect()
    t0 = time.perf_counter()
    full = Index.build(docs, passages)
    full_s = time.perf_counter() - t0
    gc.collect()
    t0 = time.perf_counter()
    incremental = reindex.build(docs, previous=index)
    reindex_s = time.perf_counter() - t0
    prof = cProfile.Profile()
    prof.enable()
    reindex.build(docs, previous=index)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(12)
    checks = [*qs, "When was the Zorblaxian archive opened?"]
    same = 0
    max_diff = 0.0
    for q in checks:
        a = full.search(full.query_vector(q), K)
        b = incremental.search(incremental.query_vector(q), K)
        if [h.passage for h in a] == [h.passage for h in b]:
            same += 1
            if a:
                max_diff = max(max_diff, max(abs(x.score - y.score) for x, y in zip(a, b, strict=True)))
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return {
        "passages": len(passages), "full_s": full_s, "reindex_s": reindex_s, "queries": len(checks),
        "identical": same, "max_score_diff": max_diff,
        "passages_equal": list(full.passages) == list(incremental.passages),
        "profile": "\n".join(lines[start:]),
    }


def write_store(corpus: Corpus, index: Any, db: Path) -> dict[str, Any]:
    """A real store, as a reindex leaves it: documents and passages in SQLite, the index arrays saved."""
    from bot.service import index_path
    from retrieval import persist
    from retrieval.store import Store

    async def fill() -> None:
        store = await Store.open(db)
        try:
            await store.replace_documents(corpus.documents, corpus.passages, [], [])
        finally:
            await store.close()

    t0 = time.perf_counter()
    asyncio.run(fill())
    t1 = time.perf_counter()
    persist.save(index, index_path(db), persist.fingerprint(corpus.documents))
    t2 = time.perf_counter()
    return {"sqlite_s": t1 - t0, "save_s": t2 - t1, "db_mb": db.stat().st_size / 2**20,
            "npz_mb": sum(f.stat().st_size for f in index_path(db).iterdir()) / 2**20}


def bm25s_tokenizer() -> tuple[Any, list[str]]:
    """PyStemmer's English stemmer and our own stop-word list, for bm25s."""
    import Stemmer

    from retrieval.text import STOP_WORDS

    return Stemmer.Stemmer("english"), sorted(STOP_WORDS)


def worker_bm25s(corpus: Corpus, qs: list[str], backend: str) -> dict[str, Any]:
    import bm25s

    stemmer, stop_words = bm25s_tokenizer()
    texts = [p.text for p in corpus.passages]
    t0 = time.perf_counter()
    model = bm25s.BM25(k1=1.2, b=0.75, method="lucene", backend=backend)
    if backend == "numba":
        # bm25s 0.3.16 never compiles at construction (its NUMBA_DISABLE_JIT test is inverted), so the
        # numba CSC builder is switched on here and JIT-compiled outside the build's timing. The scorer
        # compiles during the warm-up queries: its own `warmup_numba_scorer` reads out of bounds and crashes.
        model.compile(activate_numba=True, warmup=False)
        model.warmup_numba_csc()
    jit_s = time.perf_counter() - t0
    with BuildMeter() as meter:
        tokens = bm25s.tokenize(texts, stopwords=stop_words, stemmer=stemmer, show_progress=False)
        model.index(tokens, show_progress=False)
        del tokens
    res: dict[str, Any] = meter.result() | {"jit_s": jit_s, "terms": len(model.vocab_dict)}
    threads = 1 if backend == "numba" else 0  # numba: its serial kernel; numpy: a plain loop, no pool

    def prepare(q: str) -> list[list[str]]:
        return bm25s.tokenize(q, stopwords=stop_words, stemmer=stemmer, return_ids=False, show_progress=False)

    def run(tokens: list[list[str]]) -> list[int]:
        if not tokens[0]:
            return []  # bm25s's numba path refuses an empty query; ours returns nothing for one too
        found = model.retrieve(tokens, k=K, n_threads=threads, show_progress=False, backend_selection=backend)
        return [int(i) for i, s in zip(found.documents[0], found.scores[0], strict=True) if s > 0]

    budget = QUERY_BUDGET_S if backend == "numpy" else None
    return res | time_queries(prepare, run, qs, budget)


def worker_rank_bm25(corpus: Corpus, qs: list[str]) -> dict[str, Any]:
    from rank_bm25 import BM25Okapi

    from retrieval.index import Weighting

    analyser = Weighting().analyser()
    with BuildMeter() as meter:
        model = BM25Okapi([analyser(p.text) for p in corpus.passages], k1=1.2, b=0.75)
    res = meter.result()
    return res | time_queries(analyser, lambda toks: top_ids(model.get_scores(toks)), qs, QUERY_BUDGET_S)


class LoopStalls:
    """The event loop's longest stall: a task asks to wake every 5 ms and records how late it woke."""

    def __init__(self, every: float = 0.005) -> None:
        self.worst_ms = 0.0
        self._task = asyncio.ensure_future(self._sample(every))

    async def _sample(self, every: float) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(every)
            self.worst_ms = max(self.worst_ms, (time.perf_counter() - t - every) * 1000)

    def stop(self) -> None:
        self._task.cancel()


def worker_startup(db: Path, docs: Path, qs: Sequence[str]) -> dict[str, Any]:
    """A fresh `QAService.open` on a built store, as the bot opens it (QA_ANSWER_PROCESSES as set, else one
    answering process per core), up to the first answered question; then a breakdown."""
    from bot.config import load_settings
    from bot.service import QAService, index_path
    from retrieval import persist
    from retrieval.index import Weighting
    from retrieval.store import Store

    rebuilt: list[str] = []
    processes = load_settings(env_file=None).answer_processes

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "building the index" in record.getMessage():
                rebuilt.append(record.getMessage())

    for name in ("bot", "retrieval"):  # the service and retrieval.index_source, which loads for it
        logging.getLogger(name).addHandler(Catch())
        logging.getLogger(name).setLevel(logging.INFO)

    async def ready() -> dict[str, Any]:
        stalls = LoopStalls()
        t0 = time.perf_counter()
        service = await QAService.open(db, docs, answer_processes=processes)
        t1 = time.perf_counter()
        asked = 0
        for q in qs:  # up to the first question the documents answer
            asked += 1
            if (await service.ask(q, via="bench")).answer.answered:
                break
        t2 = time.perf_counter()
        ready_at = time.time()
        to_first, stalls.worst_ms = stalls.worst_ms, 0.0
        by_workers = service.workers.answered
        running = await service.workers.started()  # the answering processes (if any) up and loaded
        t3 = time.perf_counter()
        n = len(service.index)
        await service.close()
        stalls.stop()
        return {"ready_at": ready_at, "open_s": t1 - t0, "first_answer_s": t2 - t1, "asked": asked,
                "passages": n, "processes": processes, "running": running, "workers_s": t3 - t0,
                "by_workers": by_workers, "stall_to_first_ms": to_first, "stall_after_ms": stalls.worst_ms}

    res = asyncio.run(ready())
    res["rebuilt"] = bool(rebuilt)

    async def breakdown() -> dict[str, Any]:  # the same steps again, warm, each timed
        out: dict[str, Any] = {}
        t = time.perf_counter()
        store = await Store.open(db)
        out["store_open_s"] = time.perf_counter() - t
        t = time.perf_counter()
        documents = await store.documents(text=False)
        out["documents_s"] = time.perf_counter() - t
        await store.close()
        t = time.perf_counter()
        persist.load(index_path(db), documents, persist.fingerprint(documents), Weighting())
        out["load_index_s"] = time.perf_counter() - t
        t = time.perf_counter()
        persist.read(index_path(db))  # every member read (or mapped) and its CRC-32 verified; nothing else
        out["verify_s"] = time.perf_counter() - t
        out["npz_bytes"] = sum(f.stat().st_size for f in index_path(db).iterdir())
        return out

    res["breakdown"] = asyncio.run(breakdown())
    res["breakdown"]["hash_gb_s"] = hash_throughputs()
    return res


def hash_throughputs(size: int = 256 << 20) -> dict[str, float]:
    """GB/s of zlib.crc32 (the checksum a load verifies) and, for comparison, hashlib's blake2b and sha256,
    on one core over the same `size` random bytes (best of three each)."""
    import hashlib
    import zlib

    data = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)
    ways: dict[str, Callable[[Any], object]] = {
        "zlib.crc32": zlib.crc32, "hashlib.blake2b": lambda b: hashlib.blake2b(b).digest(),
        "hashlib.sha256": lambda b: hashlib.sha256(b).digest(),
    }
    out = {}
    for name, digest in ways.items():
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            digest(data)
            best = min(best, time.perf_counter() - t)
        out[name] = size / best / 1e9
    return out


def worker_main(args: argparse.Namespace) -> None:
    """Run one method in this process and write its result as JSON."""
    logging.basicConfig(level=logging.WARNING)
    if args.worker == "startup":
        res = worker_startup(Path(args.store), Path(args.docs), questions(50))
    else:
        t0 = time.perf_counter()
        corpus = make_corpus(args.size)
        corpus_s = time.perf_counter() - t0
        qs = questions(args.queries)
        if args.worker == "ours":
            res = worker_ours(corpus, qs, args)
        elif args.worker in ("bm25s-numpy", "bm25s-numba"):
            res = worker_bm25s(corpus, qs, args.worker.split("-")[1])
        elif args.worker == "rank-bm25":
            res = worker_rank_bm25(corpus, qs)
        else:
            raise SystemExit(f"unknown worker {args.worker}")
        res["corpus_s"] = corpus_s
    Path(args.result).write_text(json.dumps(res), encoding="utf-8")


# ---------------------------------------------------------------------------------------------------
# The parent: runs the workers, prints and writes the tables


def busy_seconds() -> float:
    """CPU-seconds the whole machine has spent busy since boot (all cores, idle and iowait excluded)."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float = 15.0, threshold: float = 0.3) -> float:
    """Wait (up to `max_wait` s) for a second in which other processes keep under `threshold` cores busy:
    other work on this machine (tests run by others) skews timings. Returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < max_wait:
        before = busy_seconds()
        time.sleep(1.0)
        if busy_seconds() - before < threshold:
            break
    return time.perf_counter() - started


# The brute-force check densifies the whole matrix: 10k passages take ~1 GB, 1M would take ~128 GB.
CHECK_MAX = 100_000


def spawn(kind: str, size: int, queries: int, extra: Sequence[str] = (), timeout: float = 1800) -> dict[str, Any]:
    """Run one worker in a fresh interpreter; its JSON result, or {"error": ...}."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result = Path(fh.name)
    cmd = [sys.executable, "-m", "bench.scale", "--worker", kind, "--size", str(size), "--queries", str(queries),
           "--result", str(result), *extra]
    waited = wait_quiet()
    print(f"  [{time.strftime('%H:%M:%S')}] {kind} at {size:,} (waited {waited:.0f}s for a quiet machine) …",
          file=sys.stderr, flush=True)
    busy0 = busy_seconds()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_wall = time.time()
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"}
        res = json.loads(result.read_text(encoding="utf-8"))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    finally:
        result.unlink(missing_ok=True)
    res["wall_s"] = time.perf_counter() - started
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    res["others_cores"] = max(0.0, (busy_seconds() - busy0 - ours) / res["wall_s"])
    if "ready_at" in res:
        res["ready_s"] = res["ready_at"] - started_wall
    print(f"    done in {res['wall_s']:.1f}s", file=sys.stderr, flush=True)
    return res


def machine() -> str:
    """CPU, cores, memory, Python and library versions."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as fh:
        mem_kb = int(fh.readline().split()[1])
    libs = []
    for name in ("numpy", "scipy", "scikit-learn", "PyStemmer", "bm25s", "numba", "rank-bm25", "aiosqlite"):
        try:
            libs.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            libs.append(f"{name} (not installed)")
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        info = threadpool_info()
        blas = "; BLAS: " + ", ".join(f"{i['internal_api']} {i['version']} {i.get('architecture')}" for i in info)
    except ImportError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {mem_kb / 2**20:.1f} GiB RAM; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}; " + ", ".join(libs) + blas)


def fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def overlap(a: list[list[int]], b: list[list[int]]) -> float | None:
    """Mean share of top-10 ids two methods have in common, over the queries both timed."""
    pairs = [(x, y) for x, y in zip(a, b, strict=False) if x or y]
    if not pairs:
        return None
    return float(np.mean([len(set(x) & set(y)) / max(len(x), len(y)) for x, y in pairs]))


def size_table(size: int, runs: dict[str, dict[str, Any]]) -> list[str]:
    ours_run = runs.get("ours", {})
    shape = (f" (ours: {ours_run['terms']:,} terms, {ours_run['nnz']:,} postings; the corpus's vocabulary is "
             "bounded by its ~10k source sentences)") if "terms" in ours_run else ""
    lines = [f"### {size:,} passages{shape}", "",
             "| method | build s | build CPU s | peak MB | kept MB | p50 ms | p99 ms | p50 / p99 CPU ms | QPS "
             "| queries | top-10 overlap with ours | others' load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ours_tops = runs.get("ours", {}).get("tops", [])
    for name in METHODS:
        r = runs.get(name)
        if r is None:
            continue
        if "error" in r or "skipped" in r:
            lines.append(f"| {name} | {r.get('skipped') or 'error: ' + r['error'][:150]} | | | | | | | | | | |")
            continue
        ov = overlap(ours_tops, r.get("tops", [])) if name != "ours" else None
        lines.append(
            f"| {name} | {fmt(r['build_s'])} | {fmt(r['build_cpu_s'])} | {fmt(r['peak_mb'], 0)} | "
            f"{fmt(r['retained_mb'], 0)} | {fmt(r['p50_ms'], 3)} | {fmt(r['p99_ms'], 3)} | "
            f"{fmt(r['cpu_p50_ms'], 3)} / {fmt(r['cpu_p99_ms'], 3)} | {fmt(r['qps'], 0)} | "
            f"{r['queries']} | {fmt(ov, 3) if ov is not None else ''} | {r['others_cores']:.2f} |"
        )
    ours = runs.get("ours")
    if ours and "error" not in ours:
        lines += ["", "Ours as a ratio to each peer (below 1 is better for time and memory, above 1 for QPS):", "",
                  "| peer | build time | build CPU | peak memory | p50 | p99 | p50 CPU | p99 CPU | QPS |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name in METHODS[1:]:
            r = runs.get(name)
            if not r or "error" in r or "skipped" in r:
                continue
            lines.append(
                f"| {name} | {ours['build_s'] / r['build_s']:.2f}× | {ours['build_cpu_s'] / r['build_cpu_s']:.2f}× | "
                f"{ours['peak_mb'] / r['peak_mb']:.2f}× | {ours['p50_ms'] / r['p50_ms']:.3f}× | "
                f"{ours['p99_ms'] / r['p99_ms']:.3f}× | {ours['cpu_p50_ms'] / r['cpu_p50_ms']:.3f}× | "
                f"{ours['cpu_p99_ms'] / r['cpu_p99_ms']:.3f}× | {ours['qps'] / r['qps']:.2f}× |"
            )
        lines += answer_lines(runs)
        lines += ["", "Query analysis share of p50 (ms, analysis only): " + ", ".join(
            f"{n} {runs[n]['prepare_p50_ms']:.3f}" for n in METHODS
            if n in runs and "prepare_p50_ms" in runs[n])]
    lines.append("")
    return lines


def answer_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    """Our whole answer's latency next to our search's and bm25s-numba's search, from the same run."""
    ours, numba = runs["ours"], runs.get("bm25s-numba", {})
    a = ours.get("answer")
    if not a:
        return []
    peer = (f"; bm25s-numba's search p50 {numba['p50_ms']:.3f} ms, p99 {numba['p99_ms']:.3f} ms (the answer is "
            f"{a['p50_ms'] / numba['p50_ms']:.1f}× its p50)") if "p50_ms" in numba else ""
    return ["", f"Whole answer (`retrieval.answer.answer`, each question once, {a['queries']} questions, "
            f"{a['answered']} answered): p50 {a['p50_ms']:.3f} ms, p99 {a['p99_ms']:.3f} ms, CPU p50 "
            f"{a['cpu_p50_ms']:.3f} ms = {a['p50_ms'] / ours['p50_ms']:.1f}× our search's p50 "
            f"({ours['p50_ms']:.3f} ms){peer}."]


def targets(results: dict[int, dict[str, dict[str, Any]]], extras: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Each target: its name, whether it passes, and the figures."""
    out: list[tuple[str, bool, str]] = []
    sizes = sorted(results)
    big, small = sizes[-1], sizes[0]
    note_big = "" if big == 1_000_000 else f" (measured at {big:,}; the target is for 1M)"
    note_small = "" if small == 10_000 else f" (measured at {small:,}; the target is for 10k)"

    def ok(r: dict[str, Any] | None) -> bool:
        return bool(r) and "error" not in r and "skipped" not in r

    rb = results[big]
    o, nb, npy = rb.get("ours"), rb.get("bm25s-numba"), rb.get("bm25s-numpy")
    if ok(o) and ok(nb):
        out.append((f"query p50 ≤ bm25s-numba's{note_big}", o["p50_ms"] <= nb["p50_ms"],
                    f"{o['p50_ms']:.3f} ms vs {nb['p50_ms']:.3f} ms ({o['p50_ms'] / nb['p50_ms']:.2f}×); CPU time "
                    f"{o['cpu_p50_ms']:.3f} vs {nb['cpu_p50_ms']:.3f} ms ({o['cpu_p50_ms'] / nb['cpu_p50_ms']:.2f}×)"))
        out.append((f"query p99 ≤ 1.5× bm25s-numba's{note_big}", o["p99_ms"] <= 1.5 * nb["p99_ms"],
                    f"{o['p99_ms']:.3f} ms vs {nb['p99_ms']:.3f} ms ({o['p99_ms'] / nb['p99_ms']:.2f}×); CPU time "
                    f"{o['cpu_p99_ms']:.3f} vs {nb['cpu_p99_ms']:.3f} ms ({o['cpu_p99_ms'] / nb['cpu_p99_ms']:.2f}×)"))
    if ok(o) and ok(npy):
        speed = npy["p50_ms"] / o["p50_ms"]
        out.append((f"≥ 50× faster than bm25s-numpy (p50){note_big}", speed >= 50,
                    f"{speed:.1f}× (p50 {o['p50_ms']:.3f} vs {npy['p50_ms']:.3f} ms; QPS "
                    f"{o['qps'] / npy['qps']:.1f}×)"))
    rs = results[small]
    o, npy, rk = rs.get("ours"), rs.get("bm25s-numpy"), rs.get("rank-bm25")
    if ok(o) and ok(npy):
        out.append((f"QPS ≥ bm25s-numpy's{note_small}", o["qps"] >= npy["qps"],
                    f"{o['qps']:,.0f} vs {npy['qps']:,.0f} ({o['qps'] / npy['qps']:.2f}×)"))
    if ok(o) and ok(rk):
        out.append((f"QPS ≥ 20× rank-bm25's{note_small}", o["qps"] >= 20 * rk["qps"],
                    f"{o['qps']:,.0f} vs {rk['qps']:,.0f} ({o['qps'] / rk['qps']:.1f}×)"))
    for size in sizes:
        o = results[size].get("ours")
        for peer in ("bm25s-numpy", "bm25s-numba"):
            p = results[size].get(peer)
            if not (ok(o) and ok(p)):
                continue
            r = o["build_s"] / p["build_s"]
            rc = o["build_cpu_s"] / p["build_cpu_s"]
            out.append((f"{size:,}: build time ≤ 0.6× {peer}'s", r <= 0.6,
                        f"{o['build_s']:.2f} s vs {p['build_s']:.2f} s ({r:.2f}×); CPU time {o['build_cpu_s']:.2f} "
                        f"vs {p['build_cpu_s']:.2f} s ({rc:.2f}×)"))
            r = o["peak_mb"] / p["peak_mb"]
            out.append((f"{size:,}: build peak memory ≤ 0.6× {peer}'s", r <= 0.6,
                        f"{o['peak_mb']:,.0f} MB vs {p['peak_mb']:,.0f} MB ({r:.2f}×)"))
    for size in sizes:
        o = results[size].get("ours")
        if ok(o) and o.get("answer"):
            a = o["answer"]
            out.append((f"{size:,}: whole answer p50 ≤ 3× our search's p50", a["p50_ms"] <= 3 * o["p50_ms"],
                        f"{a['p50_ms']:.3f} ms vs {o['p50_ms']:.3f} ms ({a['p50_ms'] / o['p50_ms']:.1f}×); "
                        f"answer p99 {a['p99_ms']:.3f} ms"))
    st = extras.get("startup")
    if st and "error" not in st and ok(results[big].get("ours")):
        full = results[big]["ours"]["build_s"]
        share = st["ready_s"] / full
        out.append((f"start-up with a built store ≤ 10% of a full build{note_big}", share <= 0.10 and not st["rebuilt"],
                    f"ready in {st['ready_s']:.2f} s = {share:.1%} of the {full:.1f} s build"
                    + (" (it REBUILT the index)" if st["rebuilt"] else "")))
    rx = extras.get("reindex")
    if rx:
        share = rx["reindex_s"] / rx["full_s"]
        note = "" if rx["passages"] == 100_000 else f" (measured at {rx['passages']:,}; the target is for 100k)"
        out.append((f"reindex after one change ≤ 25% of a full build, identical{note}",
                    share <= 0.25 and rx["identical"] == rx["queries"] and rx["passages_equal"],
                    f"{rx['reindex_s']:.2f} s vs {rx['full_s']:.2f} s ({share:.1%}); {rx['identical']}/{rx['queries']}"
                    f" queries identical, max score diff {rx['max_score_diff']:.1g}"))
    ck = extras.get("check")
    if ck:
        out.append((f"{small:,}: top-10 equals brute force", ck["identical"] + ck["ties_only"] == ck["queries"],
                    f"{ck['identical']}/{ck['queries']} identical ({ck['ties_only']} differ only among float-equal "
                    f"ties), max score diff {ck['max_score_diff']:.1g}; batched reference equals "
                    f"brute_force_scores: {ck['batched_equals_brute_force_scores']}"))
    return out


def report(results: dict[int, dict[str, dict[str, Any]]], extras: dict[str, Any], queries: int,
           elapsed: float, date: str) -> str:
    lines = ["# Scale: ours next to bm25s and rank-bm25", "",
             f"Machine: {machine()}.", "",
             f"Run: `python -m bench.scale --sizes {','.join(str(s) for s in sorted(results))} --queries {queries}`"
             f" on {date}, {elapsed / 60:.1f} min in all.", "",
             "How: one deterministic corpus per size (SQuAD sentences recombined by a seeded RNG into passages of "
             "3–6 sentences, documents of 8–12 passages; `bench/corpus.py`), each method built and queried in a "
             "fresh subprocess. Build = ours `Index.build` (tokenizing included); bm25s `bm25s.tokenize` "
             "(its own regex tokenizer with our English stop-word list and PyStemmer's English stemmer) + "
             "`BM25.index` (k1 1.2, b 0.75, lucene: the same scoring as ours); rank-bm25 `BM25Okapi` over our "
             "analyser's terms (same stop words and stemmer). bm25s-numba: `compile()` is called explicitly "
             "(bm25s 0.3.16 never compiles at construction: its NUMBA_DISABLE_JIT test is inverted), so its CSC "
             "builder is the numba one, JIT-compiled before the build is timed; its scorer compiles during the "
             "warm-up queries. Memory: peak RSS during the build (ru_maxrss after resetting the peak mark via "
             "/proc/self/clear_refs) minus RSS just before it, taken after the corpus was made, garbage "
             "collected and freed heap handed back (malloc_trim); 'kept' is RSS after the build minus the same. "
             f"Queries: real SQuAD questions, one at a time, after {WARMUP} warm-up queries, top {K}, query "
             "analysis included for every method "
             "(ours `index.search(index.query_vector(q), 10)`; bm25s `bm25s.tokenize` + `retrieve(k=10)` with "
             "n_threads=0 (numpy, plain loop) or 1 (numba, its serial kernel)); QPS = queries / summed latency, "
             f"single process. Slow methods stop after {QUERY_BUDGET_S:.0f} s of querying (at least {MIN_QUERIES}"
             f" queries: see the queries column); rank-bm25 is skipped above {RANK_BM25_MAX:,} passages. "
             f"Top-10 overlap: mean shared ids with ours over the first {OVERLAP_QUERIES} queries. Others' load: "
             "CPU cores other processes kept busy on average while the method ran (this machine is shared; each "
             "method waits for a quiet second first, and build CPU s is less sensitive to the sharing than wall "
             "time).", ""]
    for size in sorted(results):
        lines += size_table(size, results[size])
    lines += ["## Targets", "", "| target | result | figures |", "|---|---|---|"]
    lines += [f"| {name} | {'PASS' if passed else 'MISS'} | {figures} |" for name, passed, figures in
              targets(results, extras)]
    lines.append("")
    lines += startup_lines(extras)
    rx = extras.get("reindex")
    if rx:
        lines += ["## Reindex after one changed document", "",
                  f"{rx['passages']:,} passages; full `Index.build` {rx['full_s']:.2f} s, "
                  f"`reindex.build(previous=index)` {rx['reindex_s']:.2f} s; {rx['identical']}/{rx['queries']} "
                  f"queries with identical top 10 (max score difference {rx['max_score_diff']:.1g}); passages equal: "
                  f"{rx['passages_equal']}. Where the reindex's time goes (cProfile, cumulative):", "", "```",
                  rx["profile"], "```", ""]
    prof = extras.get("profile")
    if prof:
        lines += [f"## Our query path at {sorted(results)[-1]:,} passages (cProfile, {prof['queries']} queries, "
                  "own time)", "", "```", prof["text"], "```", ""]
    return "\n".join(lines)


def startup_lines(extras: dict[str, Any]) -> list[str]:
    """The report's start-up section: the fresh process to its first answer, then each step again, warm."""
    st = extras.get("startup")
    if not st:
        return []
    lines = ["## Start-up from a built store", ""]
    if "error" in st:
        return [*lines, f"error: {st['error']}", ""]
    b = st["breakdown"]
    lines.append(
        f"{st['passages']:,} passages; store {extras['store']['db_mb']:,.0f} MB SQLite + "
        f"{extras['store']['npz_mb']:,.0f} MB index arrays (written in {extras['store']['sqlite_s']:.1f} s"
        f" + {extras['store']['save_s']:.1f} s). Fresh process to first answer: {st['ready_s']:.2f} s "
        f"(interpreter start and imports {st['ready_s'] - st['open_s'] - st['first_answer_s']:.2f} s, "
        f"`QAService.open` {st['open_s']:.2f} s, first "
        f"answered question {st['first_answer_s'] * 1000:.0f} ms ({st['asked']} asked); index loaded, not "
        f"rebuilt: {not st['rebuilt']}). Page cache warm (the files were just written). The same steps "
        f"again, warm: Store.open {b['store_open_s']:.2f} s, documents(text=False) {b['documents_s']:.2f} s, "
        f"persist.load {b['load_index_s']:.2f} s (every array's CRC-32 verified, arrays of 64 MiB or more "
        "then mapped, smaller ones read).")
    if "processes" in st:
        source = "a worker" if st["by_workers"] else "the service's thread"
        lines.append(
            f"\nAnswering processes (QA_ANSWER_PROCESSES): {st['processes']}, {st['running']} running and loaded "
            f"{st['workers_s']:.2f} s after `QAService.open` began; the first answer came from "
            f"{source}. The event loop's longest stall "
            f"(a task waking every 5 ms): {st['stall_to_first_ms']:.0f} ms up to the first answer, "
            f"{st['stall_after_ms']:.0f} ms from then until the answering processes were loaded.")
    again = extras.get("restart")
    if again and "error" not in again:
        lines.append(
            f"\nThe same start again (a restart: numba's disk cache now holds whatever the first start compiled): "
            f"first answer {again['ready_s']:.2f} s after the process started (`QAService.open` "
            f"{again['open_s']:.2f} s, first answered question {again['first_answer_s'] * 1000:.0f} ms).")
    if "verify_s" in b:
        lines.append(
            f"\nThe verification alone (`persist.read`: every member read once and its CRC-32 compared, in "
            f"parallel threads): {b['npz_bytes'] / 1e6:,.0f} MB in {b['verify_s']:.2f} s "
            f"({b['npz_bytes'] / 1e9 / b['verify_s']:.2f} GB/s); `QAService.open` runs it while SQLite opens "
            "and checks the database. One core, 256 MiB in memory: "
            + ", ".join(f"{name} {gbs:.2f} GB/s" for name, gbs in b["hash_gb_s"].items()) + ".")
    return [*lines, ""]


def run_startup(args: argparse.Namespace) -> None:
    """Only what start-up needs at the largest size: our build (and its store), then a fresh start."""
    size = max(int(s) for s in args.sizes.split(","))
    date = time.strftime("%Y-%m-%d %H:%M")
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        db = tmp / "store" / "qa.db"
        ours = spawn("ours", size, args.queries, ["--store", str(db)])
        if "error" in ours:
            raise SystemExit(f"ours failed: {ours['error']}")
        extras: dict[str, Any] = {"store": ours.pop("store")}
        docs = tmp / "docs-unused"  # the store is not empty, so the folder is not read at start
        docs.mkdir()
        extras["startup"] = spawn("startup", size, 1, ["--store", str(db), "--docs", str(docs)])
        extras["restart"] = spawn("startup", size, 1, ["--store", str(db), "--docs", str(docs)])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = {size: {"ours": ours}}
    lines = ["# Start-up from a built store", "", f"Machine: {machine()}.", "",
             f"Run: `python -m bench.scale --startup-only --sizes {size} --queries {args.queries}` on {date}, "
             f"{(time.perf_counter() - started) / 60:.1f} min in all: our build of {size:,} passages (timed as in "
             "the full run) and its store, then a fresh process from start to first answer. Other processes on "
             f"this shared machine kept {ours.get('others_cores', float('nan')):.2f} cores busy on average during "
             f"the build and {extras['startup'].get('others_cores', float('nan')):.2f} during the start.", "",
             "| target | result | figures |", "|---|---|---|"]
    lines += [f"| {name} | {'PASS' if passed else 'MISS'} | {figures} |" for name, passed, figures
              in targets(results, extras) if name.startswith("start-up")]
    text = "\n".join([*lines, "", *startup_lines(extras)])
    print(text)
    out = Path(args.out) if args.out != str(RESULTS / "scale.md") else RESULTS / "scale_startup.md"
    out.write_text(text, encoding="utf-8")


def run(args: argparse.Namespace) -> None:
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.perf_counter()
    date = time.strftime("%Y-%m-%d %H:%M")
    results: dict[int, dict[str, dict[str, Any]]] = {}
    extras: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    reindex_size = max((s for s in sizes if s <= 100_000), default=sizes[0])
    try:
        for size in sizes:
            runs: dict[str, dict[str, Any]] = {}
            extra = []
            if size == sizes[0] and size <= CHECK_MAX:
                extra += ["--check", "100"]
            if size == reindex_size:
                extra += ["--reindex", "300"]
            if size == sizes[-1]:
                db = tmp / "store" / "qa.db"
                extra += ["--store", str(db), "--profile", "30"]
            runs["ours"] = spawn("ours", size, args.queries, extra)
            r = runs["ours"]
            for key in ("check", "reindex", "store", "profile"):
                if key in r:
                    extras[key] = r.pop(key)
            if size == sizes[-1] and "store" in extras:
                docs = tmp / "docs-unused"  # the store is not empty, so the folder is not read at start
                docs.mkdir()
                extras["startup"] = spawn("startup", size, 1, ["--store", str(db), "--docs", str(docs)])
                shutil.rmtree(tmp / "store", ignore_errors=True)
            for name in ("bm25s-numpy", "bm25s-numba"):
                runs[name] = spawn(name, size, args.queries)
            if size <= RANK_BM25_MAX:
                runs["rank-bm25"] = spawn("rank-bm25", size, args.queries)
            else:
                runs["rank-bm25"] = {"skipped": f"skipped (>{RANK_BM25_MAX:,} passages)"}
            results[size] = runs
            print("\n".join(size_table(size, runs)), flush=True)
            SAVED.write_text(json.dumps({"results": results, "extras": extras, "queries": args.queries,
                                         "elapsed": time.perf_counter() - started, "date": date}),
                             encoding="utf-8")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_report(results, extras, args.queries, time.perf_counter() - started, Path(args.out), date)


def write_report(results: dict[int, dict[str, dict[str, Any]]], extras: dict[str, Any], queries: int,
                 elapsed: float, out: Path, date: str) -> None:
    """Print the report and write it to `out`."""
    text = report(results, extras, queries, elapsed, date)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--out", default=str(RESULTS / "scale.md"))
    # Internal: one method in one subprocess.
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--check", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--reindex", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--docs", help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from saved measurements (--saved) instead of measuring")
    parser.add_argument("--saved", default=str(SAVED), help=f"measurements a run saves (default {SAVED})")
    parser.add_argument("--startup-only", action="store_true",
                        help="only our build and the start-up from its store, at the largest size "
                        "(writes bench/results/scale_startup.md)")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
    elif args.startup_only:
        run_startup(args)
    elif args.report_only:
        saved = json.loads(Path(args.saved).read_text(encoding="utf-8"))
        results = {int(size): runs for size, runs in saved["results"].items()}
        write_report(results, saved["extras"], saved["queries"], saved["elapsed"], Path(args.out),
                     saved.get("date", "an earlier run"))
    else:
        run(args)


if __name__ == "__main__":
    main()
