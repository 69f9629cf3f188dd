"""Many servers, bounded memory: 1,000 servers' small collections beside one large default collection.

Measured in one process, through `QAService` as the bot uses it:
- building: each server's collection made with `add_documents` (3–5 small documents each);
- RSS: the default alone, then every server's collection loaded at once (no budget): the cost of one
  loaded small collection, measured and as `memory_bytes` estimates it;
- cold first answer: a fresh service, then the first question to a server whose collection is not loaded
  (open its database, load its index, answer), against the same question once loaded (warm);
- a budget (QA_MEMORY_MB) that holds only some servers' collections: questions to random servers, so
  most find theirs unloaded; answers' latency, unloads, RSS, and whether each answer came from the
  asking server's own documents.

Documents are sentences of the SQuAD evaluation set recombined by a seeded RNG (bench/corpus.py);
each question is the first sentence of one of the server's documents, so its answer is known.

    python -m bench.collections                       # 1,000 servers, a 100,000-passage default
    python -m bench.collections --servers 50 --default-passages 5000   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import random
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

from bench.corpus import make_corpus, sentences, write_folder
from bench.scale import rss_kb
from bot.service import QAService

RESULTS = Path(__file__).resolve().parent / "results" / "collections.md"
DOCS_PER_SERVER = (3, 5)
PARAGRAPHS_PER_DOC = (2, 4)
SENTENCES_PER_PARAGRAPH = (2, 4)


def server_files(guild: int, pool: Sequence[str]) -> list[tuple[str, bytes]]:
    """The 3–5 small documents of one server, the same for the same id."""
    rng = random.Random(guild)
    files = []
    for number in range(rng.randint(*DOCS_PER_SERVER)):
        paragraphs = [" ".join(rng.choice(pool) for _ in range(rng.randint(*SENTENCES_PER_PARAGRAPH)))
                      for _ in range(rng.randint(*PARAGRAPHS_PER_DOC))]
        files.append((f"note{number}.txt", ("\n\n".join(paragraphs) + "\n").encode()))
    return files


def question_of(guild: int, pool: Sequence[str]) -> tuple[str, str]:
    """A question to a server (the opening sentence of one of its documents) and the document it is from."""
    files = server_files(guild, pool)
    name, data = random.Random(guild * 7919).choice(files)
    first = data.decode().split("\n\n")[0]
    return next(s for s in pool if first.startswith(s)), name


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def timed_ask(service: QAService, question: str, guild: int) -> tuple[float, str | None]:
    """Seconds to answer, and the document quoted first."""
    started = time.perf_counter()
    answer = (await service.ask(question, guild=guild, via="bench")).answer
    return time.perf_counter() - started, answer.quotes[0].source if answer.quotes else None


def peak_kb() -> int:
    """The peak resident set size of this process so far, in KiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


async def build(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The default collection and every server's, made as the bot makes them; their build times."""
    pool = sentences()
    docs, db = work / "default", work / "data" / "qa.sqlite3"
    started = time.perf_counter()
    write_folder(make_corpus(args.default_passages), docs)
    service = await QAService.open(db, docs)
    figures: dict[str, Any] = {"default_build_s": time.perf_counter() - started, "default_passages": len(service.index)}
    started = time.perf_counter()
    for guild in range(1, args.servers + 1):
        await service.add_documents(guild, server_files(guild, pool))
    figures["add_s"] = time.perf_counter() - started
    await service.close()
    return figures


async def opened(work: Path, memory_mb: float | None = None) -> QAService:
    """The service over the built folders, the default collection answering once (its pages read in)."""
    service = await QAService.open(work / "data" / "qa.sqlite3", work / "default", memory_mb=memory_mb)
    await service.ask("What is the history of the university?")
    gc.collect()
    return service


async def every_server(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """In a fresh process: RSS with the default alone, then with every server's collection loaded (no
    budget); the first answer of each server (cold) and again (warm)."""
    pool = sentences()
    servers = list(range(1, args.servers + 1))
    questions = {g: question_of(g, pool) for g in servers}
    service = await opened(work)
    figures: dict[str, Any] = {"rss_default_mb": rss_kb() / 1024,
                               "default_estimate_mb": service.collections.default.bytes / 2**20}
    cold: list[float] = []
    right = 0
    for guild in servers:
        seconds, source = await timed_ask(service, questions[guild][0], guild)
        cold.append(seconds)
        right += source == questions[guild][1]
    warm = [(await timed_ask(service, questions[g][0], g))[0] for g in servers[: args.warm]]
    gc.collect()
    loaded = service.collections.loaded[1:]
    figures.update(rss_all_mb=rss_kb() / 1024, loaded_all=len(loaded), threads_all=threading.active_count(),
                   estimate_kb_each=statistics.mean(c.bytes for c in loaded) / 1024, cold=cold, warm=warm,
                   right_cold=right / len(servers))
    figures["measured_kb_each"] = (figures["rss_all_mb"] - figures["rss_default_mb"]) * 1024 / len(loaded)
    await service.close()
    return figures


async def under_budget(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """In a fresh process: a budget that holds about `--fit` servers' collections beside the default, and
    questions to random servers, so that most find theirs unloaded."""
    pool = sentences()
    servers = list(range(1, args.servers + 1))
    questions = {g: question_of(g, pool) for g in servers}
    service = await opened(work)
    collections = service.collections
    each = (await collections.own(servers[0])).bytes  # what one small collection is estimated at
    await collections.unload(servers[0])
    collections.budget_bytes = collections.default.bytes + args.fit * each
    budget_mb = collections.budget_bytes / 2**20
    collections.loads = collections.unloads = 0
    gc.collect()
    rss_before = rss_kb() / 1024
    rng = random.Random(0)
    asked = [rng.choice(servers) for _ in range(args.questions)]
    latencies: list[float] = []
    right = peak_loaded = peak_bytes = 0
    started = time.perf_counter()
    for guild in asked:
        seconds, source = await timed_ask(service, questions[guild][0], guild)
        latencies.append(seconds)
        right += source == questions[guild][1]
        peak_loaded = max(peak_loaded, len(service.collections.loaded) - 1)
        peak_bytes = max(peak_bytes, service.collections.size())
    figures = {
        "budget_mb": budget_mb, "seconds": time.perf_counter() - started, "latencies": latencies,
        "right": right / len(asked), "unloads": service.collections.unloads, "loads": service.collections.loads,
        "peak_loaded": peak_loaded, "peak_estimate_mb": peak_bytes / 2**20, "rss_before_mb": rss_before,
        "rss_mb": rss_kb() / 1024, "peak_rss_mb": peak_kb() / 1024, "threads": threading.active_count(),
    }
    await service.close()
    return figures


def in_child(args: argparse.Namespace, work: Path, phase: str) -> dict[str, Any]:
    """Run one measuring phase in a fresh process (its RSS then owes nothing to building) and read its figures."""
    command = [sys.executable, "-m", "bench.collections", "--phase", phase, "--work", str(work),
               "--servers", str(args.servers), "--questions", str(args.questions), "--fit", str(args.fit),
               "--warm", str(args.warm)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def report(args: argparse.Namespace, f: dict[str, Any]) -> str:
    ms = 1000.0
    cold, warm, b = f["cold"], f["warm"], f["budget"]
    lines = [
        "# Many servers' collections, bounded memory (bench/collections.py)",
        "",
        f"`python -m bench.collections --servers {args.servers} --default-passages {args.default_passages} "
        f"--questions {args.questions} --fit {args.fit}` on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; other processes shared the machine, so times are noisy: compare "
        "the ratios within this run.",
        "",
        f"- Default collection: {f['default_passages']:,} passages, built in {f['default_build_s']:.1f} s; "
        f"its estimate {f['default_estimate_mb']:.1f} MiB.",
        f"- {args.servers:,} servers, 3–5 small documents each, made with `add_documents` in {f['add_s']:.1f} s "
        f"({f['add_s'] / args.servers * ms:.0f} ms a server: folder, database, index file).",
        "",
        "## Memory",
        "",
        "| state | RSS (MiB) |",
        "| --- | ---: |",
        f"| a fresh process: the default collection alone, after one answer | {f['rss_default_mb']:.0f} |",
        f"| and all {f['loaded_all']:,} servers' collections loaded (no budget) | {f['rss_all_mb']:.0f} |",
        f"| a fresh process with a budget of {b['budget_mb']:.1f} MiB: the default alone | {b['rss_before_mb']:.0f} |",
        f"| and after {args.questions:,} questions to random servers (peak) | {b['rss_mb']:.0f} "
        f"({b['peak_rss_mb']:.0f}) |",
        "",
        f"One loaded small collection: {f['measured_kb_each']:.0f} KiB measured (RSS difference / count), "
        f"{f['estimate_kb_each']:.0f} KiB estimated by `memory_bytes` (which the budget counts). Threads with "
        f"all loaded: {f['threads_all']} (aiosqlite runs one per open database); with the budget: {b['threads']}.",
        "",
        "## Time to answer",
        "",
        "| case | p50 (ms) | p95 (ms) | max (ms) |",
        "| --- | ---: | ---: | ---: |",
        f"| first question to a server, its collection cold (load + answer), n={len(cold):,} | "
        f"{pct(cold, 50) * ms:.1f} | {pct(cold, 95) * ms:.1f} | {max(cold) * ms:.1f} |",
        f"| the same question again, loaded (warm), n={len(warm):,} | {pct(warm, 50) * ms:.1f} | "
        f"{pct(warm, 95) * ms:.1f} | {max(warm) * ms:.1f} |",
        f"| random servers under the budget, n={len(b['latencies']):,} | {pct(b['latencies'], 50) * ms:.1f} | "
        f"{pct(b['latencies'], 95) * ms:.1f} | {max(b['latencies']) * ms:.1f} |",
        "",
        f"Cold / warm at the median: {pct(cold, 50) / pct(warm, 50):.1f}×.",
        "",
        "## Under the budget",
        "",
        f"- Budget {b['budget_mb']:.1f} MiB (the default's estimate plus room for about {args.fit} small "
        f"collections): at most {b['peak_loaded']} servers' collections were loaded at once, the loaded "
        f"estimate peaked at {b['peak_estimate_mb']:.1f} MiB.",
        f"- {b['loads']:,} loads and {b['unloads']:,} unloads for {args.questions:,} questions "
        f"({args.questions / b['seconds']:.0f} answers/s).",
        f"- Answers quoting the document the question was taken from (a sentence of one of the asking "
        f"server's documents): {f['right_cold']:.1%} cold, {b['right']:.1%} under the budget.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--default-passages", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=2000, help="questions to random servers under the budget")
    parser.add_argument("--fit", type=int, default=100, help="small collections the budget holds beside the default")
    parser.add_argument("--warm", type=int, default=200, help="servers asked again once loaded")
    parser.add_argument("--work", type=Path, help="working folder, kept (default: a temporary one, removed)")
    parser.add_argument("--reuse", action="store_true", help="measure the folders --work holds, built before")
    parser.add_argument("--phase", choices=("every", "budget"), help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.phase:  # a measuring child: its figures as one JSON line
        phase = every_server if args.phase == "every" else under_budget
        print(json.dumps(asyncio.run(phase(args, args.work))))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-collections-"))
    built = work / "built.json"
    try:
        if not (args.reuse and built.is_file()):
            built.parent.mkdir(parents=True, exist_ok=True)
            built.write_text(json.dumps({**asyncio.run(build(args, work)), "servers": args.servers,
                                         "default_passages": args.default_passages}))
        figures = json.loads(built.read_text())
        args.servers, args.default_passages = figures["servers"], figures["default_passages"]
        figures.update(in_child(args, work, "every"))
        figures["budget"] = in_child(args, work, "budget")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = report(args, figures)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
