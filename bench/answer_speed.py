"""Engine time of a whole answer (issue 11: under 5 ms at 10,000 passages), not only the search.

    python -m bench.answer_speed [--sizes 10000] [--queries 1000]

Over bench/corpus.py's recombined SQuAD passages, `retrieval.answer.answer` is timed per question
(reading the question, typo correction, related forms, search, sentence choice, the not-found model)
for real SQuAD questions as asked, the same questions with two misspelt words each (two letters
swapped in the two longest words: every word then goes through correction), and as follow-ups of
the previous question. Each question is asked once untimed first (the index keeps no per-passage cache:
sentences and their terms come from the sentence table made at build, so this warms only what any
process warms: the analyser's stem cache, the word tables, the passages' flags an index makes on its first
question, and with numba the compiled kernels of the search and of the sentence match), then timed.
Writes bench/results/answer_speed.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.corpus import make_corpus, questions
from retrieval.answer import answer
from retrieval.index import Index

RESULTS = Path(__file__).resolve().parent / "results"


def misspelt(question: str) -> str:
    """The question with two letters swapped inside its two longest words."""
    words = question.split()
    for i in sorted(range(len(words)), key=lambda j: -len(words[j]))[:2]:
        w = words[i]
        if len(w) >= 5:
            words[i] = w[:2] + w[3] + w[2] + w[4:]
    return " ".join(words)


def timed(ask: Callable[[int], object], n: int) -> dict[str, float]:
    """p50, p99 and mean milliseconds of `ask(i)` for i in range(n), after one warm pass."""
    for i in range(n):
        ask(i)
    times = []
    for i in range(n):
        started = time.perf_counter()
        ask(i)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p99": times[int(0.99 * (len(times) - 1))],
            "mean": statistics.fmean(times)}


def measure(size: int, n: int) -> list[tuple[str, dict[str, float]]]:
    """Each kind of question's timings over an index of `size` passages."""
    corpus = make_corpus(size)
    index = Index.build(corpus.documents, corpus.passages)
    qs = questions(n)
    typos = [misspelt(q) for q in qs]
    corrected = sum(bool(answer(index, q).corrected) for q in typos)
    return [
        ("as asked", timed(lambda i: answer(index, qs[i]), n)),
        (f"two misspelt words ({corrected}/{n} corrected)", timed(lambda i: answer(index, typos[i]), n)),
        ("as a follow-up", timed(lambda i: answer(index, qs[i], (qs[i - 1],)), n)),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print and write the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args(argv)
    lines = ["| passages | questions | p50 ms | p99 ms | mean ms |", "|---:|---|---:|---:|---:|"]
    for size in (int(s) for s in args.sizes.split(",")):
        for label, t in measure(size, args.queries):
            lines.append(f"| {size:,} | {label} | {t['p50']:.2f} | {t['p99']:.2f} | {t['mean']:.2f} |")
            print(lines[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "answer_speed.md").write_text(
        "# Engine time of a whole answer (bench/answer_speed.py)\n\n`python -m bench.answer_speed "
        f"--sizes {args.sizes} --queries {args.queries}`: {args.queries} SQuAD questions over bench/corpus.py's "
        "recombined passages, one warm pass, then each timed.\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
