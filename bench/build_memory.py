"""Build memory by phase: where `Index.build`'s peak resident memory goes, next to bm25s-numba's.

    python -m bench.build_memory [--sizes 200000] [--tracemalloc] [--out bench/results/build_memory.md]

Both methods build over the same corpus (bench/corpus.py) in a fresh subprocess each, measured the same
way: after the corpus is made, garbage is collected and freed heap is handed back to the system
(malloc_trim), so neither build starts with free heap left by the corpus maker; then every phase's peak
RSS over the RSS before the build is taken from the kernel's peak mark, reset at each phase boundary
(/proc/self/clear_refs) and read at the next (ru_maxrss). A thread also samples RSS with psutil every
millisecond, as a check of the peak marks. Phases are the functions each build calls, wrapped here
(the engine is not changed for the measurement). With --tracemalloc, each phase's peak of memory that
Python and numpy hold is shown too (allocator slack and the interpreter's own excluded; the builds run
several times slower). Ours is `Index.build` (tokenizing included); bm25s-numba is `bm25s.tokenize` (its
regex tokenizer, our stop words, PyStemmer's English stemmer) + `BM25.index` with its numba CSC builder,
JIT-compiled before the build, as in bench/scale.py.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from bench.corpus import make_corpus
from bench.scale import bm25s_tokenizer, machine, reset_peak, rss_kb
from retrieval.counting import trim_heap

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("ours", "bm25s-numba")


class Phases:
    """Peak RSS (and, when tracing, peak traced memory) of each phase of one build, in MB over the RSS
    just before it; a phase may be entered several times (its peak is the largest, its time the sum)."""

    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.stack: list[str] = []
        self.rows: dict[str, dict[str, float]] = {}
        self.samples: list[int] = []
        self.running = False

    def __enter__(self) -> Phases:
        gc.collect()
        trim_heap()  # so that no build fills free heap the corpus maker left resident, unseen
        if self.trace:
            tracemalloc.start()
        self.reset = reset_peak()
        self.base_kb = rss_kb()
        self.traced0 = tracemalloc.get_traced_memory()[0] if self.trace else 0
        self.running = True
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        self.started = time.perf_counter()
        self._switch("other")
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()
        self.seconds = time.perf_counter() - self.started
        self.peak_mb = max(r["peak_mb"] for r in self.rows.values())
        self.running = False
        self.sampler.join()
        self.sampled_mb = (max(self.samples, default=0) - self.base_kb * 1024) / 2**20
        gc.collect()
        self.kept_mb = (rss_kb() - self.base_kb) / 1024
        if self.trace:
            tracemalloc.stop()

    def wrap(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        """`fn`, measured as the phase `label` while it runs."""

        @functools.wraps(fn)
        def measured(*args: Any, **kwargs: Any) -> Any:
            self.stack.append(label)
            self._switch(label)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stack.pop()
                self._switch(self.stack[-1] if self.stack else "other")

        return measured

    def _switch(self, label: str) -> None:
        """Close the running phase and start `label`."""
        if self.running and hasattr(self, "label"):
            self._close()
        self.label, self.phase_started = label, time.perf_counter()
        self.entry_mb = (rss_kb() - self.base_kb) / 1024
        if self.reset:
            reset_peak()
        if self.trace:
            tracemalloc.reset_peak()

    def _close(self) -> None:
        """Record the running phase's peaks and time."""
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if self.reset else rss_kb()
        row = self.rows.setdefault(self.label, {"peak_mb": 0.0, "entry_mb": self.entry_mb, "traced_mb": 0.0,
                                                "seconds": 0.0})
        row["peak_mb"] = max(row["peak_mb"], (peak_kb - self.base_kb) / 1024)
        row["seconds"] += time.perf_counter() - self.phase_started
        if self.trace:
            row["traced_mb"] = max(row["traced_mb"], (tracemalloc.get_traced_memory()[1] - self.traced0) / 2**20)

    def _sample(self) -> None:
        process = psutil.Process()
        while self.running:
            self.samples.append(process.memory_info().rss)
            time.sleep(0.001)

    def result(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "peak_mb": self.peak_mb, "sampled_mb": self.sampled_mb,
                "kept_mb": self.kept_mb, "reset": self.reset, "phases": self.rows}


def patch(meter: Phases, targets: Sequence[tuple[Any, str, str]]) -> None:
    """Wrap each (owner, attribute) so that its calls are measured as the given phase."""
    for owner, name, label in targets:
        if hasattr(owner, name):
            setattr(owner, name, meter.wrap(getattr(owner, name), label))


def worker_ours(size: int, trace: bool) -> dict[str, Any]:
    from retrieval import counting, index, sentence_table

    corpus = make_corpus(size)
    meter = Phases(trace)
    patch(meter, [
        (sentence_table, "counted", "split passages into sentences (and the rest)"),
        (sentence_table, "terms_by_row", "analyse: terms of each sentence"),
        (counting, "_block", "count: batch counts"),
        (sentence_table._Builder, "table", "sentence table: join batches"),
        (counting, "_stack_by_term", "count: stack batches by term"), (index, "_by_term", "by term"),
        (index, "_weigh", "weigh"), (index, "doc_rows", "document rows"),
    ])
    with meter:
        built = index.Index.build(corpus.documents, corpus.passages)
    return meter.result() | {"terms": len(built.vocabulary), "postings": int(built.weights.nnz)}


def worker_bm25s(size: int, trace: bool) -> dict[str, Any]:
    import bm25s

    corpus = make_corpus(size)
    stemmer, stop_words = bm25s_tokenizer()
    texts = [p.text for p in corpus.passages]
    model = bm25s.BM25(k1=1.2, b=0.75, method="lucene", backend="numba")
    model.compile(activate_numba=True, warmup=False)
    model.warmup_numba_csc()
    meter = Phases(trace)
    patch(meter, [
        (bm25s, "tokenize", "tokenize"), (bm25s, "_calculate_doc_freqs", "document frequencies"),
        (bm25s, "_build_scores_and_indices_for_matrix", "scores (COO)"), (model, "_np_csc", "CSC (numba)"),
    ])
    with meter:
        model.index(bm25s.tokenize(texts, stopwords=stop_words, stemmer=stemmer, show_progress=False),
                    show_progress=False)
    return meter.result() | {"terms": len(model.vocab_dict), "postings": int(model.scores["data"].size)}


def spawn(method: str, size: int, trace: bool) -> dict[str, Any]:
    """Run one method's build in a fresh interpreter; its result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    cmd = [sys.executable, "-m", "bench.build_memory", "--worker", method, "--sizes", str(size), "--result",
           str(out), *(["--tracemalloc"] if trace else [])]
    print(f"  [{time.strftime('%H:%M:%S')}] {method} at {size:,} …", file=sys.stderr, flush=True)
    try:
        subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parent.parent)
        return dict(json.loads(out.read_text(encoding="utf-8")))
    finally:
        out.unlink(missing_ok=True)


def table(size: int, runs: dict[str, dict[str, Any]], trace: bool) -> list[str]:
    """One size's phases and totals, as markdown."""
    lines = [f"### {size:,} passages", ""]
    for name, r in runs.items():
        lines.append(f"- {name}: peak **{r['peak_mb']:,.1f} MB** (RSS sampled every ms: {r['sampled_mb']:,.1f}), kept "
                     f"{r['kept_mb']:,.1f} MB, {r['seconds']:.2f} s; {r['postings']:,} postings, {r['terms']:,} terms")
    if "ours" in runs and "bm25s-numba" in runs:
        ratio = runs["ours"]["peak_mb"] / runs["bm25s-numba"]["peak_mb"]
        lines.append(f"- ours / bm25s-numba peak: **{ratio:.2f}×**")
    lines += ["",
             "| method | phase | s | RSS at start MB | peak RSS MB |" + (" peak traced MB |" if trace else ""),
             "|---|---|---:|---:|---:|" + ("---:|" if trace else "")]
    for name, run in runs.items():
        for label, row in run["phases"].items():
            traced = f" {row['traced_mb']:,.1f} |" if trace else ""
            lines.append(f"| {name} | {label} | {row['seconds']:.2f} | {row['entry_mb']:,.1f} | "
                         f"{row['peak_mb']:,.1f} |{traced}")
    return [*lines, ""]


def run(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.strftime("%Y-%m-%d %H:%M")
    lines = ["# Build memory by phase: ours next to bm25s-numba", "", f"Machine: {machine()}.", "",
             f"Run: `python -m bench.build_memory --sizes {args.sizes}{' --tracemalloc' if args.tracemalloc else ''}`"
             f" on {started}.", "", "How: " + " ".join((__doc__ or "").split("\n\n", 2)[2].split()), ""]
    for size in sizes:
        runs = {m: spawn(m, size, args.tracemalloc) for m in args.methods.split(",")}
        block = table(size, runs, args.tracemalloc)
        print("\n".join(block), flush=True)
        lines += block
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="200000")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python and numpy allocations")
    parser.add_argument("--methods", default=",".join(METHODS), help="a subset of " + ",".join(METHODS))
    parser.add_argument("--out", default=str(RESULTS / "build_memory.md"))
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker = worker_ours if args.worker == "ours" else worker_bm25s
        result = worker(int(args.sizes), args.tracemalloc)
        Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    else:
        run(args)


if __name__ == "__main__":
    main()
