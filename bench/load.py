"""Load: many users asking at once through the real `QAService`, with a reindex midway.

    python -m bench.load [--passages 100000] [--questions 1000] [--users 50] [--out bench/results/load.md]

A documents folder of `--passages` passages (bench/corpus.py) is written to a temporary directory and
opened with `QAService.open` on a fresh SQLite store, exactly as the Discord and terminal front-ends
do. Then `--users` simulated users (asyncio tasks, one conversation each) ask `--questions` real SQuAD
questions between them, each waiting for its answer before asking the next. Once half the questions
are answered, one document of the folder is changed and `service.reindex()` runs concurrently. A
ticker task sleeping 10 ms records how late it wakes: the event loop's lag, which every other user
of the loop (the Discord gateway's heartbeat included) also suffers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.corpus import changed_document, file_bytes, make_corpus, questions, write_folder
from bench.scale import machine
from bot.service import QAService

RESULTS = Path(__file__).resolve().parent / "results"
TICK = 0.010


@dataclass
class Timeline:
    """Everything the run records, in perf_counter seconds."""

    answers: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each answered ask
    errors: list[str] = field(default_factory=list)
    ticks: list[tuple[float, float]] = field(default_factory=list)  # (went to sleep, lag)
    reindex: tuple[float, float] | None = None
    load: tuple[float, float] | None = None
    phases: list[tuple[float, str]] = field(default_factory=list)  # (when, reindex progress message)
    gc_pauses: list[tuple[float, float, int]] = field(default_factory=list)  # (start, seconds, generation)
    cpu: float = 0.0  # CPU seconds of the service's process (every thread) while the users asked
    worker_cpu: float = 0.0  # CPU seconds of the answering processes meanwhile
    reindex_cpu: float = 0.0  # CPU seconds of the reindex's own process, in all (0 when it ran in threads)
    processes: int = 0  # answering processes running
    by_workers: int = 0  # answers that came from them
    loadavg: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load average before and after the load

    def watch_gc(self) -> None:
        """Record every garbage-collector pass: a full one holds the GIL, so it stalls the event loop too."""
        started: list[float] = [0.0]

        def callback(phase: str, info: dict[str, int]) -> None:
            now = time.perf_counter()
            if phase == "start":
                started[0] = now
            else:
                self.gc_pauses.append((started[0], now - started[0], info["generation"]))

        gc.callbacks.append(callback)


async def ticker(timeline: Timeline, stop: asyncio.Event) -> None:
    """Sleep 10 ms again and again; record how much later than asked each wake-up comes."""
    clock = time.perf_counter
    while not stop.is_set():
        t0 = clock()
        await asyncio.sleep(TICK)
        timeline.ticks.append((t0, clock() - t0 - TICK))


async def user(
    service: QAService, number: int, asks: Sequence[str], timeline: Timeline, done: list[int],
    halfway: asyncio.Event, half: int,
) -> None:
    """One user: a conversation of its own, each question asked once the previous one is answered."""
    for q in asks:
        t0 = time.perf_counter()
        try:
            await service.ask(q, conversation=f"user-{number}", via="load", user_id=f"user-{number}",
                              channel="load")
        except Exception as exc:  # every failure counts, whatever it is
            timeline.errors.append(f"{type(exc).__name__}: {exc}")
        else:
            timeline.answers.append((t0, time.perf_counter()))
        done[0] += 1
        if done[0] >= half:
            halfway.set()


async def reindex_midway(
    service: QAService, docs: Path, target: Path, new_bytes: bytes, halfway: asyncio.Event, timeline: Timeline,
) -> dict[str, object]:
    """At half the questions: change one file in the folder, then reindex while the users keep asking."""
    await halfway.wait()
    target.write_bytes(new_bytes)
    t0 = time.perf_counter()
    report = await service.reindex(lambda msg: timeline.phases.append((time.perf_counter(), msg)))
    timeline.reindex = (t0, time.perf_counter())
    return {"changed": report.changed, "added": report.added, "removed": report.removed,
            "passages": report.passages, "seconds": report.seconds}


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) a running process has used, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of this process's ended, waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def overlaps(a: float, b: float, window: tuple[float, float] | None) -> bool:
    return window is not None and a < window[1] and b > window[0]


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


async def run(args: argparse.Namespace) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    docs, db = tmp / "docs", tmp / "store" / "qa.db"
    t0 = time.perf_counter()
    corpus = make_corpus(args.passages)
    write_folder(corpus, docs)
    written = time.perf_counter() - t0
    t0 = time.perf_counter()
    service = await QAService.open(db, docs, answer_processes=args.processes,
                                   reindex_process=not args.reindex_in_threads)
    opened = time.perf_counter() - t0
    t0 = time.perf_counter()
    workers = await service.workers.started()
    print(f"{workers} answering processes ready in {time.perf_counter() - t0:.1f}s", flush=True)
    print(f"folder of {len(corpus.documents):,} documents written in {written:.1f}s; "
          f"QAService.open (read, index, store) {opened:.1f}s", flush=True)
    asks = questions(args.questions)
    target = corpus.documents[len(corpus.documents) // 2]
    changed = changed_document(target)
    timeline = Timeline()
    try:
        timeline.watch_gc()
        stop = asyncio.Event()
        tick_task = asyncio.create_task(ticker(timeline, stop))
        await asyncio.sleep(1.0)  # idle ticks first: the timer's own precision
        idle_ticks = len(timeline.ticks)
        halfway = asyncio.Event()
        done = [0]
        load_start = time.perf_counter()
        cpu_start = time.process_time()
        pids = [w.process.pid for w in service.workers._workers if w.process.pid]
        workers_start = sum(process_cpu(p) for p in pids)
        children_start = children_cpu()
        answered_start = service.workers.answered
        before = os.getloadavg()[0]
        reindexer = asyncio.create_task(
            reindex_midway(service, docs, docs / target.id, file_bytes(changed.paragraphs), halfway, timeline)
        )
        await asyncio.gather(*(
            user(service, u, asks[u :: args.users], timeline, done, halfway, args.questions // 2)
            for u in range(args.users)
        ))
        timeline.load = (load_start, time.perf_counter())
        timeline.cpu = time.process_time() - cpu_start
        timeline.worker_cpu = sum(process_cpu(p) for p in pids) - workers_start
        timeline.processes = len(pids)
        timeline.by_workers = service.workers.answered - answered_start
        timeline.loadavg = (before, os.getloadavg()[0])
        reindexed = await reindexer
        timeline.reindex_cpu = children_cpu() - children_start  # its process has ended and been waited for
        stop.set()
        await tick_task
        after = await service.ask("When was the Zorblaxian archive opened?", via="load")
        stats = await service.stats()
    finally:
        await service.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return report(args, timeline, idle_ticks, reindexed, target.id, after.answer, stats.questions, written, opened,
                  len(corpus.documents))


def report(
    args: argparse.Namespace, tl: Timeline, idle_ticks: int, reindexed: dict[str, object], changed_id: str,
    after: object, logged: int, written: float, opened: float, n_docs: int,
) -> str:
    window = tl.reindex
    load = tl.load or (0.0, 0.0)
    lat = [(b - a) * 1000 for a, b in tl.answers]
    lat_steady = [(b - a) * 1000 for a, b in tl.answers if not overlaps(a, b, window)]
    lat_during = [(b - a) * 1000 for a, b in tl.answers if overlaps(a, b, window)]
    idle = [lag * 1000 for _, lag in tl.ticks[:idle_ticks]]
    loaded = tl.ticks[idle_ticks:]
    steady = [lag * 1000 for t, lag in loaded if not overlaps(t, t + TICK + lag, window) and t < load[1]]
    during = [lag * 1000 for t, lag in loaded if overlaps(t, t + TICK + lag, window)]
    during_with_load = [lag * 1000 for t, lag in loaded
                        if overlaps(t, t + TICK + lag, window) and t < load[1]]
    span = load[1] - load[0]
    n = max(len(tl.answers), 1)
    where_reindex = (f"the reindex ran in a process of its own, which used {tl.reindex_cpu:.1f} s of CPU in all"
                     if tl.reindex_cpu > 0 else "the reindex ran in the service's threads, counted in its process")
    quotes = getattr(after, "quotes", ())
    found = bool(quotes) and quotes[0].source == changed_id
    rows = [
        ("answers, all", lat),
        ("answers, steady state", lat_steady),
        ("answers overlapping the reindex", lat_during),
        # the first questions each worker takes: a cold worker (tables, models, pages unloaded) shows here
        ("the first 100 answers asked", [(b - a) * 1000 for a, b in sorted(tl.answers)[:100]]),
    ]
    lag_rows = [
        ("idle (no load), 1 s", idle),
        (f"steady state, {args.users} users asking", steady),
        ("while the reindex runs", during),
        ("while the reindex runs and users are asking", during_with_load),
    ]
    lines = [
        "# Load: concurrent users through QAService, with a reindex midway", "",
        f"Machine: {machine()}.", "",
        f"Run: `python -m bench.load --passages {args.passages} --questions {args.questions} --users {args.users} "
        f"--processes {args.processes}{' --reindex-in-threads' if args.reindex_in_threads else ''}` "
        f"on {time.strftime('%Y-%m-%d %H:%M')}; the machine's load average (1 min) {tl.loadavg[0]:.1f} before the "
        f"load, {tl.loadavg[1]:.1f} after (other processes ran: 2 cores).", "",
        f"Setup: {args.passages:,} passages in {n_docs:,} files written to a temporary folder in {written:.1f} s; "
        f"`QAService.open` on a fresh SQLite store (read the folder, build the index, write the store, save the "
        f"index) {opened:.1f} s.", "",
        f"{args.users} users (asyncio tasks, conversation `user-N` each) asked {args.questions:,} real SQuAD "
        f"questions, each user waiting for its answer before asking the next (no think time). When half were "
        f"answered, `{changed_id}` was rewritten and `service.reindex()` started concurrently. Answers took "
        f"{span:.1f} s in all: **{len(tl.answers) / span:.0f} answers/s**; {tl.by_workers:,} of them came from "
        f"{tl.processes} answering processes (`--processes`, QA_ANSWER_PROCESSES), the rest from the service's "
        f"threads. CPU meanwhile: the service's process {tl.cpu:.2f} s ({tl.cpu / n * 1000:.2f} ms an answer), "
        f"the answering processes {tl.worker_cpu:.2f} s ({tl.worker_cpu / n * 1000:.2f} ms an answer), "
        f"{(tl.cpu + tl.worker_cpu) / n * 1000:.2f} ms an answer in all ({where_reindex}). "
        f"Errors: **{len(tl.errors)}**"
        + (f" ({'; '.join(sorted(set(tl.errors))[:3])})" if tl.errors else "") + ".", "",
        "| answer latency | n | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|",
    ]
    for name, values in rows:
        lines.append(f"| {name} | {len(values)} | {pct(values, 50):.1f} | {pct(values, 99):.1f} | "
                     f"{max(values, default=float('nan')):.1f} |")
    lines += ["", "Event-loop lag: how late a task sleeping 10 ms wakes up.", "",
              "| phase | ticks | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for name, values in lag_rows:
        lines.append(f"| {name} | {len(values)} | {pct(values, 50):.2f} | {pct(values, 99):.2f} | "
                     f"{max(values, default=float('nan')):.2f} |")
    r0, r1 = window if window else (float("nan"), float("nan"))
    if window:
        marks = [(t, m.split(" …")[0]) for t, m in tl.phases]
        marks = [m for i, m in enumerate(marks) if i == 0 or m[1] != marks[i - 1][1]]  # one mark a phase
        marks = [(r0, marks[0][1] if marks else "reindex"), *marks[1:]]
        if len(marks) > 1:  # the last message comes before weighing, the store write and the index save
            marks[-1] = (marks[-1][0], marks[-1][1] + ", then weighing, store write, index save, swap")
        lines += ["", "The reindex's phases (from its progress messages) and the loop lag in each:", "",
                  "| from | phase | s | ticks | p99 lag ms | max lag ms |", "|---:|---|---:|---:|---:|---:|"]
        ends = [t for t, _ in marks[1:]] + [r1]
        for (start, name), end in zip(marks, ends, strict=True):
            lags = [lag * 1000 for t, lag in loaded if start <= t < end]
            lines.append(f"| {start - r0:.2f} s | {name} | {end - start:.2f} | {len(lags)} | {pct(lags, 99):.2f} | "
                         f"{max(lags, default=float('nan')):.2f} |")
    pauses = [(t, d, g) for t, d, g in tl.gc_pauses if t >= load[0]]
    full = [d * 1000 for _, d, g in pauses if g == 2]
    worst_t, worst_lag = max(loaded, key=lambda tick: tick[1]) if loaded else (0.0, 0.0)
    in_gc = any(t < worst_t + TICK + worst_lag and t + d > worst_t for t, d, _ in pauses if d > 0.005)
    lines += [
        "",
        f"Garbage collection after the load started: {len(pauses)} passes, {len(full)} full (generation 2) "
        f"taking up to {max(full, default=0.0):.0f} ms each; a full pass holds the GIL, so the loop stalls with "
        f"it. The longest loop stall ({worst_lag * 1000:.0f} ms) overlapped a GC pass over 5 ms: {in_gc}.",
    ]
    lines += [
        "",
        f"Reindex: changed {list(reindexed['changed'])}, added {list(reindexed['added'])}, removed "
        f"{list(reindexed['removed'])}; {reindexed['passages']:,} passages; {r1 - r0:.2f} s from the call to its "
        f"return (the service's own count: {float(reindexed['seconds']):.2f} s), started {r0 - load[0]:.1f} s "
        f"into the load, {'ended after' if r1 > load[1] else 'ended before'} the last answer "
        f"({abs(load[1] - r1):.1f} s {'after' if r1 > load[1] else 'before'}). "
        f"{len(lat_during)} answers overlapped it.",
        f"After the reindex, a question only the changed document answers was answered from it: {found}. "
        f"Questions in the store's log: {logged:,} (expected {args.questions + 1:,}).", "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="answering processes (QA_ANSWER_PROCESSES; 0: the service's threads)")
    parser.add_argument("--reindex-in-threads", action="store_true",
                        help="reindex in the service's threads, not a process of its own (QA_REINDEX_PROCESS=0)")
    parser.add_argument("--out", default=str(RESULTS / "load.md"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    text = asyncio.run(run(args))
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
