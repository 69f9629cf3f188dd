"""Start-up: `qa-bot --help`, one `qa-bot ask` on the seeds and the first answer over 1M passages, for the
code before the lean start (a scratch worktree at BASE) and this tree, in the same run; and the kernel
crossover that decides when numba is worth importing.

    python -m bench.startup [--runs 5] [--big 1000000] [--sizes 1000,3000,...] [--out bench/results/startup.md]

Every timed command is a fresh interpreter (`python -m bot …` with PYTHONPATH set to the tree measured; the
same virtualenv for both), timed from spawn to exit, its peak RSS read from `wait4`. Runs alternate
between the two trees so that load from other processes falls on both alike; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.corpus import questions
from bench.scale import machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BASE = "fcff6cf"  # the last commit before the lean start (issue 13)
QUESTION = "Who is Steve Witkoff?"
SIZES = (1_000, 3_000, 10_000, 30_000, 100_000, 300_000)

# A fresh process: open the service on a built store, ask until one question is answered, report as JSON.
FIRST_ANSWER = """
import asyncio, json, logging, sys, time
from pathlib import Path
started = time.perf_counter()
from bot.service import QAService
imported = time.perf_counter() - started
rebuilt = []
class Catch(logging.Handler):
    def emit(self, record):
        if "building the index" in record.getMessage():
            rebuilt.append(record.getMessage())
logging.getLogger("bot").addHandler(Catch()); logging.getLogger("bot").setLevel(logging.INFO)
async def main():
    t0 = time.perf_counter()
    service = await QAService.open(Path(sys.argv[1]), Path(sys.argv[2]))
    try:
        t1 = time.perf_counter()
        for q in json.loads(sys.argv[3]):
            if (await service.ask(q, via="bench")).answer.answered:
                break
        t2 = time.perf_counter()
        print(json.dumps({"import_s": imported, "open_s": t1 - t0, "answer_s": t2 - t1,
                          "passages": len(service.index), "numba": "numba" in sys.modules,
                          "rebuilt": bool(rebuilt), "bot": __import__("bot").__file__}))
    finally:
        await service.close()
asyncio.run(main())
"""


def timed(tree: Path, argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 1800) -> dict[str, Any]:
    """Run `python argv` with `tree` first on the path (killed after `timeout` s); wall seconds, peak RSS (MB),
    standard output and error."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(tree)}
    env.pop("QA_KERNEL", None)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *argv], cwd=tree, env=env, stdout=out, stderr=err, text=True)
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)  # reaped here, with its own resource usage
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        printed, logged = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} in {tree} failed ({proc.returncode}): {logged[-2000:]}")
    return {"s": wall, "rss_mb": usage.ru_maxrss / 1024, "out": printed, "err": logged}


def base_tree(commit: str) -> Path:
    """A scratch worktree of `commit` (made once, reused)."""
    tree = Path(tempfile.gettempdir()) / f"qa-bot-base-{commit}"
    if not (tree / "bot").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                       capture_output=True)
    return tree


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def cli_runs(trees: dict[str, Path], runs: int, work: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """`--help` and one `ask` on the seeds, `runs` times each per tree, alternating; one untimed `ask` per tree
    first (it reads the seeds, builds and saves the index, and compiles numba's cache if that tree uses it)."""
    commands = {
        "help": lambda tree, db: ["-m", "bot", "--help"],
        "ask": lambda tree, db: ["-m", "bot", "ask", "--docs", str(tree / "seeds"), "--db", str(db), QUESTION],
    }
    dbs = {name: work / name / "qa.sqlite3" for name in trees}
    for name, tree in trees.items():
        dbs[name].parent.mkdir(parents=True)
        timed(tree, commands["ask"](tree, dbs[name]))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {n: {c: [] for c in commands} for n in trees}
    for _ in range(runs):
        for command, argv in commands.items():
            for name, tree in trees.items():
                results[name][command].append(timed(tree, argv(tree, dbs[name])))
    return results


def big_store(size: int, db: Path) -> dict[str, Any]:
    """A store of `size` passages (made by this tree's code in a worker; no index saved)."""
    code = ("import asyncio, sys, time; from pathlib import Path\n"
            "from bench.corpus import make_corpus\nfrom retrieval.store import Store\n"
            "corpus = make_corpus(int(sys.argv[1]))\n"
            "async def fill():\n    store = await Store.open(Path(sys.argv[2]))\n"
            "    await store.replace_documents(corpus.documents, corpus.passages, [], [])\n"
            "    await store.close()\nasyncio.run(fill())\n")
    return timed(ROOT, ["-c", code, str(size), str(db)])


def first_answers(trees: dict[str, Path], db: Path, runs: int) -> dict[str, list[dict[str, Any]]]:
    """Fresh processes from spawn to the first answer over the big store, `runs` per tree, alternating, after
    one untimed start per tree that builds and saves its own index from the store. Each tree's index file
    is kept aside while the other builds: this tree removes the previous release's `.npz` once it saves."""
    docs = db.parent / "docs-unused"  # the store is not empty: the folder is not read
    docs.mkdir(exist_ok=True)
    npz, aside = db.with_name(db.name + ".index.npz"), db.with_name("npz-aside")
    argv = ["-c", FIRST_ANSWER, str(db), str(docs), json.dumps(questions(50))]  # questions: this tree's data
    first = {"before": timed(trees["before"], argv)}
    npz.rename(aside)
    first["after"] = timed(trees["after"], argv)
    aside.rename(npz)
    results: dict[str, list[dict[str, Any]]] = {"first-start": [first["before"], first["after"]]}
    for name in trees:
        results[name] = []
    for _ in range(runs):
        for name, tree in trees.items():
            run = timed(tree, argv)
            run |= json.loads(run["out"].strip().splitlines()[-1])
            results[name].append(run)
    return results


def crossover(sizes: Sequence[int], queries: int) -> list[dict[str, Any]]:
    """numpy's and numba's top-k on the same query vectors, per index size (a worker of this tree)."""
    code = """
import json, statistics, sys, time
import numpy as np
from bench.corpus import make_corpus, questions
from retrieval import kernel
from retrieval.answer import AnswerSettings
from retrieval.index import Index, Weighting
kernel.warm_up(10**9)
k = AnswerSettings().candidates
out = []
for size in json.loads(sys.argv[1]):
    corpus = make_corpus(size)
    index = Index.build(corpus.documents, corpus.passages, Weighting())
    w, n = index.weights, len(index.passages)
    vectors = [v for v in (index.query_vector(q) for q in questions(int(sys.argv[2]))) if v]
    args = [(np.fromiter(v, np.int64, len(v)), np.fromiter(v.values(), np.float64, len(v))) for v in vectors]
    times = {"numpy": [], "numba": []}
    for i, (t, q) in enumerate(args):
        for name, fn in (("numpy", kernel.top_k_numpy), ("numba", kernel._top_k_compiled)):
            t0 = time.perf_counter()
            fn(w.indptr, w.indices, w.data, t, q, n, k)
            if i >= 10:
                times[name].append((time.perf_counter() - t0) * 1e3)
    row = {"size": size, "k": k, "queries": len(times["numpy"])}
    for name, ts in times.items():
        ts.sort()
        row[name] = {"p50": statistics.median(ts), "mean": statistics.fmean(ts), "p99": ts[int(len(ts) * 0.99)]}
    out.append(row)
    print(json.dumps(row), file=sys.stderr, flush=True)
print(json.dumps(out))
"""
    run = timed(ROOT, ["-c", code, json.dumps(list(sizes)), str(queries)])
    return list(json.loads(run["out"].strip().splitlines()[-1]))


# Arrays shaped like a 1M-passage index's (1.1 GB), written by a tree's own persist.write_arrays; then
# `persist.read` (every checksum verified; arrays of 64 MiB or more mapped) timed in the same process.
VERIFY = """
import json, sys, time
import numpy as np
from pathlib import Path
from retrieval import persist
path, n = Path(sys.argv[1]), 1_000_000
rng = np.random.default_rng(0)
persist.write_arrays(path, {
    "params": np.array("{}"), "text": rng.integers(0, 256, 600 << 20, dtype=np.uint8),
    "counts": rng.random(40_000_000, dtype=np.float32), "weights": rng.random(40_000_000, dtype=np.float32),
    "indices": rng.integers(0, n, 40_000_000, dtype=np.int32), "offsets": np.arange(n + 1, dtype=np.int64),
    "doc_of": np.zeros(n, np.int32), "part": np.zeros(n, np.int32), "kind": np.zeros(n, np.uint8),
    "idf": rng.random(300_000), "indptr": np.arange(300_001, dtype=np.int32)})
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    persist.read(path)
    times.append(time.perf_counter() - t)
print(json.dumps(times))
"""


def verify_runs(trees: dict[str, Path], runs: int, work: Path) -> dict[str, list[float]]:
    """Seconds of `persist.read` over the same arrays saved by each tree (the .npz before, the folder after),
    `runs` rounds of two reads, alternating between the trees."""
    out: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(runs):
        for name, tree in trees.items():
            target = work / f"verify-{name}" / ("qa.sqlite3.index.npz" if name == "before" else "qa.sqlite3.index")
            shutil.rmtree(target.parent, ignore_errors=True)
            target.parent.mkdir()
            out[name] += json.loads(timed(tree, ["-c", VERIFY, str(target), "2"])["out"])
    shutil.rmtree(work / "verify-before", ignore_errors=True)
    shutil.rmtree(work / "verify-after", ignore_errors=True)
    return out


def verify_lines(times: dict[str, list[float]]) -> list[str]:
    """The verification comparison."""
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    return [f"## Verifying a saved index of 1M passages' size ({len(times['after'])} reads each, medians)", "",
            "The same arrays (1.1 GB: 600 MiB of text, three 40M-entry postings arrays, per-passage columns) saved "
            "by each tree's `persist.write_arrays`, then `persist.read` (every checksum verified, arrays of 64 MiB "
            f"or more mapped): before (zip reader, CRC-32 per member combined from chunks) {b:.2f} s, after "
            f"(np.load, CRC-32 per 32 MiB chunk recorded in index.json) {a:.2f} s: {a / b:.2f}×.", ""]


def numba_cost(runs: int) -> list[dict[str, Any]]:
    """In fresh processes: seconds and RSS to import numba and load the compiled kernel from its cache."""
    code = """
import json, time
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) / 1024
import numpy, scipy.sparse
from retrieval import kernel
r0, t0 = rss(), time.perf_counter()
import numba
t1 = time.perf_counter()
kernel.warm_up(kernel.NUMBA_FROM)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "rss_mb": rss() - r0}))
"""
    timed(ROOT, ["-c", code])  # compiles into numba's cache if this tree's kernel changed
    return [json.loads(timed(ROOT, ["-c", code])["out"]) for _ in range(runs)]


def cli_lines(results: dict[str, dict[str, list[dict[str, Any]]]], runs: int) -> list[str]:
    """The table of `--help` and `ask` on the seeds."""
    lines = [f"## `qa-bot --help` and one `qa-bot ask` on the seeds ({runs} fresh processes each, medians)", "",
             "| command | before: wall | before: peak RSS | after: wall | after: peak RSS | after / before |",
             "|---|---|---|---|---|---|"]
    for command, label in (("help", "`qa-bot --help`"), ("ask", f"`qa-bot ask \"{QUESTION}\"` (index saved)")):
        b, a = results["before"][command], results["after"][command]
        lines.append(f"| {label} | {median_of(b, 's'):.2f} s | {median_of(b, 'rss_mb'):.0f} MB | "
                     f"{median_of(a, 's'):.2f} s | {median_of(a, 'rss_mb'):.0f} MB | "
                     f"{median_of(a, 's') / median_of(b, 's'):.2f}× time, "
                     f"{median_of(a, 'rss_mb') / median_of(b, 'rss_mb'):.2f}× memory |")
    return [*lines, ""]


def big_lines(results: dict[str, list[dict[str, Any]]], size: int, store: dict[str, Any]) -> list[str]:
    """The table of the first answer over the big store."""
    b, a = results["before"], results["after"]
    lines = [f"## First answer over {size:,} passages ({len(a)} fresh processes each, medians)", "",
             f"Store made in {store['s']:.0f} s. First start of each tree (index built from the store and saved, "
             f"untimed in the table): before {results['first-start'][0]['s']:.0f} s, "
             f"after {results['first-start'][1]['s']:.0f} s.", "",
             "| | before | after | after / before |", "|---|---|---|---|"]
    for key, label, unit in (("s", "spawn to exit (one question answered)", "s"), ("import_s", "imports", "s"),
                             ("open_s", "`QAService.open` (index verified and loaded)", "s"),
                             ("answer_s", "first answered question", "s"), ("rss_mb", "peak RSS", "MB")):
        before, after = median_of(b, key), median_of(a, key)
        fmt = ".0f" if unit == "MB" else ".2f"
        lines.append(f"| {label} | {before:{fmt}} {unit} | {after:{fmt}} {unit} | {after / before:.2f}× |")
    lines.append(f"| index rebuilt at start | {any(r['rebuilt'] for r in b)} | {any(r['rebuilt'] for r in a)} | |")
    lines.append(f"| numba imported | {all(r['numba'] for r in b)} | {all(r['numba'] for r in a)} | |")
    return [*lines, ""]


def crossover_lines(rows: list[dict[str, Any]], cost: list[dict[str, Any]], numba_from: int) -> list[str]:
    """The crossover table and numba's fixed cost."""
    k = rows[0]["k"] if rows else 0
    lines = [f"## Kernel crossover: numpy's top-{k} against numba's, same query vectors", "",
             f"{rows[0]['queries'] if rows else 0} SQuAD questions per size, each run by both backends in turn "
             "(numba's kernel already loaded); ms per search (one search per question).", "",
             "| passages | numpy p50 | numpy mean | numpy p99 | numba p50 | numba mean | numba p99 "
             "| numpy − numba (mean) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        np_, nb = r["numpy"], r["numba"]
        lines.append(f"| {r['size']:,} | {np_['p50']:.3f} | {np_['mean']:.3f} | {np_['p99']:.2f} | {nb['p50']:.3f} | "
                     f"{nb['mean']:.3f} | {nb['p99']:.2f} | {np_['mean'] - nb['mean']:.3f} |")
    imp, load = statistics.median(c["import_s"] for c in cost), statistics.median(c["load_s"] for c in cost)
    rss = statistics.median(c["rss_mb"] for c in cost)
    lines += ["", f"numba's fixed cost in a fresh process ({len(cost)} runs, medians): `import numba` {imp:.2f} s, "
              f"loading the compiled kernel from its disk cache {load:.2f} s, +{rss:.0f} MB RSS.", "",
              f"Rule (`retrieval/kernel.py`, `NUMBA_FROM = {numba_from:,}`): with QA_KERNEL=auto (the default) an "
              f"index of {numba_from:,} passages or more is scored with numba, smaller ones with numpy. Below it "
              "numpy's median search takes under half a millisecond more than numba's (one search per "
              "question), which would take thousands of questions to repay numba's start-up and never its "
              "memory; above it numpy's extra time grows with the index (see the table). QA_KERNEL=numpy or "
              "numba forces one.", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command and tree (0: skip)")
    parser.add_argument("--verify", type=int, default=3, help="rounds of verification timing (0: skip)")
    parser.add_argument("--big", type=int, default=1_000_000, help="passages of the big store (0: skip)")
    parser.add_argument("--big-runs", type=int, default=2, help="fresh first-answer processes per tree")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="crossover sizes ('': skip)")
    parser.add_argument("--queries", type=int, default=300, help="crossover questions per size")
    parser.add_argument("--base", default=BASE, help="the commit measured as 'before'")
    parser.add_argument("--out", default=str(RESULTS / "startup.md"))
    args = parser.parse_args(argv)
    from retrieval.kernel import NUMBA_FROM

    date, started = time.strftime("%Y-%m-%d %H:%M"), time.perf_counter()
    trees = {"before": base_tree(args.base), "after": ROOT}
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    sections: list[str] = []
    try:
        if args.runs:
            print("CLI on the seeds …", file=sys.stderr, flush=True)
            sections += cli_lines(cli_runs(trees, args.runs, work), args.runs)
        if args.verify:
            print("verification …", file=sys.stderr, flush=True)
            sections += verify_lines(verify_runs(trees, args.verify, work))
        if args.big:
            print(f"store of {args.big:,} passages …", file=sys.stderr, flush=True)
            db = work / "big" / "qa.sqlite3"
            db.parent.mkdir()
            store = big_store(args.big, db)
            sections += big_lines(first_answers(trees, db, args.big_runs), args.big, store)
        if args.sizes:
            print("kernel crossover …", file=sys.stderr, flush=True)
            rows = crossover([int(s) for s in args.sizes.split(",")], args.queries)
            sections += crossover_lines(rows, numba_cost(3), NUMBA_FROM)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = ["# Start-up: `qa-bot --help`, `qa-bot ask` on the seeds, the first answer over a large store", "",
            f"Machine: {machine()}.", "",
            f"Run: `python -m bench.startup --runs {args.runs} --verify {args.verify} --big {args.big} "
            f"--big-runs {args.big_runs} --sizes {args.sizes or repr('')}` on "
            f"{date}, {(time.perf_counter() - started) / 60:.1f} min in all. Before = commit {args.base} (a scratch "
            "worktree), after = this tree; both with the same virtualenv, each command a fresh `python -m bot` "
            "(or `python -c` for the large store) with PYTHONPATH set to its tree, runs alternating between the "
            "trees. Wall time from spawn to exit; peak RSS from `wait4`. Other helpers shared the machine's two "
            "cores: compare the two columns of one run, not figures across runs.", ""]
    text = "\n".join([*head, *sections])
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
