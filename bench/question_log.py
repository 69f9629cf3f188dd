"""What logging a question costs the answer: batched (bot/question_log.py) against a commit per question.

    python -m bench.question_log [--questions 5000] [--users 50] [--out bench/results/question_log.md]

`--users` asyncio tasks log `--questions` questions between them into a fresh SQLite file, each waiting
for its call to return before the next, as the answer path does. "batched" is `QuestionLog.log_question`
(the id at once, the row committed by the background writer); "commit each" is the same INSERT in its own
transaction on the same connection, which is what every answer waited for up to commit fcff6cf. The time
is the call's, as the person asking waits for it; the batched run ends with `close`, whose write is timed
apart. Both runs use the same machine and file system, interleaved twice.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.scale import machine
from bot.question_log import QuestionLog

RESULTS = Path(__file__).resolve().parent / "results"
_INSERT = "INSERT INTO questions (user_id, channel, via, question, answered, top_source) VALUES (?, ?, ?, ?, ?, ?)"


async def run(db: Path, questions: int, users: int, batched: bool) -> dict[str, float]:
    """Per-call latencies (ms) and the total time, for one way of logging."""
    log = await QuestionLog.open(db)
    waits: list[float] = []

    async def one(n: int) -> None:
        args = (f"Question {n}?", n % 3 != 0, "a.txt", "slash", str(1000 + n % users), "7")
        started = time.perf_counter()
        if batched:
            await log.log_question(*args)
        else:
            async with log._sql.transaction() as con:
                await con.execute(_INSERT, (args[4], args[5], args[3], args[0], int(args[1]), args[2]))
        waits.append((time.perf_counter() - started) * 1000)

    async def user(u: int) -> None:
        for n in range(u, questions, users):
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(users)))
    asked = time.perf_counter() - started
    closing = time.perf_counter()
    await log.close()
    closed = time.perf_counter() - closing
    lat = np.array(waits)
    return {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "per_s": questions / asked, "close_ms": closed * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS / "question_log.md")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"batched": [], "commit each": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(2):
            for name in results:
                db = Path(tmp) / f"{name.replace(' ', '-')}-{round_}.sqlite3"
                results[name].append(asyncio.run(run(db, args.questions, args.users, name == "batched")))
    lines = ["# Logging a question: batched against a commit per question", "",
             f"Machine: {machine()}.", "",
             f"Run: `python -m bench.question_log --questions {args.questions} --users {args.users}` "
             "(two interleaved rounds each; the better round shown).", "",
             "| way | call p50 (ms) | call p99 (ms) | questions/s | final write at close (ms) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    best = {name: min(runs, key=lambda r: r["p99"]) for name, runs in results.items()}
    for name, r in best.items():
        lines.append(f"| {name} | {r['p50']:.3f} | {r['p99']:.3f} | {r['per_s']:,.0f} | {r['close_ms']:.1f} |")
    ratio = best["commit each"]["p50"] / best["batched"]["p50"]
    lines += ["", f"A batched call's p50 is {ratio:,.0f}× shorter than a commit's."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
