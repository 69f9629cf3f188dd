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
import logging
import os
import platform
import random
import shutil
import statistics
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


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    pool = sentences()
    docs, db = work / "default", work / "data" / "qa.sqlite3"
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    write_folder(make_corpus(args.default_passages), docs)
    service = await QAService.open(db, docs)
    figures["default_build_s"] = time.perf_counter() - started
    figures["default_passages"] = len(service.index)
    servers = list(range(1, args.servers + 1))
    started = time.perf_counter()
    for guild in servers:
        await service.add_documents(guild, server_files(guild, pool))
    figures["add_s"] = time.perf_counter() - started
    await service.close()

    # RSS: the default alone, then every server's collection loaded (no budget).
    gc.collect()
    service = await QAService.open(db, docs)
    questions = {g: question_of(g, pool) for g in servers}
    await timed_ask(service, questions[1][0], 0)  # the default answers once: its pages are in
    gc.collect()
    figures["rss_default_mb"] = rss_kb() / 1024
    cold: list[float] = []
    warm: list[float] = []
    right = 0
    for guild in servers:
        seconds, source = await timed_ask(service, questions[guild][0], guild)
        cold.append(seconds)
        right += source == questions[guild][1]
    for guild in servers[: args.warm]:
        warm.append((await timed_ask(service, questions[guild][0], guild))[0])
    gc.collect()
    figures["rss_all_mb"] = rss_kb() / 1024
    loaded = service.collections.loaded[1:]
    figures["loaded_all"] = len(loaded)
    figures["estimate_kb_each"] = statistics.mean(c.bytes for c in loaded) / 1024 if loaded else 0
    figures["measured_kb_each"] = (figures["rss_all_mb"] - figures["rss_default_mb"]) * 1024 / max(1, len(loaded))
    figures["threads_all"] = threading.active_count()
    figures["cold"], figures["warm"], figures["right_cold"] = cold, warm, right / len(servers)
    figures["default_estimate_mb"] = service.collections.default.bytes / 2**20
    await service.close()

    # A budget that holds about `--fit` servers' collections beside the default: most questions find
    # their server's collection unloaded.
    gc.collect()
    budget_mb = (service.collections.default.bytes + args.fit * figures["estimate_kb_each"] * 1024) / 2**20
    service = await QAService.open(db, docs, memory_mb=budget_mb)
    rng = random.Random(0)
    asked = [rng.choice(servers) for _ in range(args.questions)]
    latencies: list[float] = []
    right = 0
    peak_loaded = peak_bytes = 0
    started = time.perf_counter()
    for guild in asked:
        seconds, source = await timed_ask(service, questions[guild][0], guild)
        latencies.append(seconds)
        right += source == questions[guild][1]
        peak_loaded = max(peak_loaded, len(service.collections.loaded) - 1)
        peak_bytes = max(peak_bytes, service.collections.size())
    figures["budget"] = {
        "budget_mb": budget_mb, "seconds": time.perf_counter() - started, "latencies": latencies,
        "right": right / len(asked), "unloads": service.collections.unloads, "loads": service.collections.loads,
        "peak_loaded": peak_loaded, "peak_estimate_mb": peak_bytes / 2**20, "rss_mb": rss_kb() / 1024,
        "threads": threading.active_count(),
    }
    await service.close()
    return figures


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
        f"| the default collection alone, after one answer | {f['rss_default_mb']:.0f} |",
        f"| and all {f['loaded_all']:,} servers' collections loaded (no budget) | {f['rss_all_mb']:.0f} |",
        f"| with a budget of {b['budget_mb']:.1f} MiB, after {args.questions:,} questions to random servers "
        f"| {b['rss_mb']:.0f} |",
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
        f"- Answers quoting the asking server's own document: {f['right_cold']:.1%} cold, {b['right']:.1%} "
        "under the budget (each question is a sentence of one of that server's documents).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--default-passages", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=2000, help="questions to random servers under the budget")
    parser.add_argument("--fit", type=int, default=100, help="small collections the budget holds beside the default")
    parser.add_argument("--warm", type=int, default=200, help="servers asked again once loaded")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not write {RESULTS.name}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-collections-"))
    try:
        figures = asyncio.run(run(args, work))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = report(args, figures)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
