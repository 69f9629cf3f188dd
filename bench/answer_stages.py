"""Where a whole answer's time goes, step by step, next to the search alone (issue 15's ratio).

    python -m bench.answer_stages [--sizes 10000,100000] [--queries 500]

Over bench/corpus.py's recombined SQuAD passages, each real SQuAD question is searched alone (top 10, as
bench/scale.py times the search), answered whole (`retrieval.answer.answer`), and then taken through the
answer's steps one by one, each timed in CPU time: reading the question, the answer's own search (20
candidates, related forms added, code blocks dropped), the candidates' sentences, choosing the quotes, and
the not-found evidence. The steps are `retrieval.answer.deliberate`'s, called in its order (its private
helpers included: this benchmark measures them). Prints p50 and mean of each; writes
bench/results/answer_stages.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.corpus import make_corpus, questions
from retrieval import answer as engine
from retrieval.index import Index
from retrieval.sentence_match import candidates

RESULTS = Path(__file__).resolve().parent / "results"
STEPS = ("search alone (top 10, the question's words)", "whole answer", "reading the question",
         "the answer's search (top 20, related forms, no code)", "the candidates' sentences",
         "choosing the quotes", "the not-found evidence")


def measure(size: int, n: int) -> dict[str, list[float]]:
    """CPU seconds of each step for each question over an index of `size` passages."""
    corpus = make_corpus(size)
    index = Index.build(corpus.documents, corpus.passages)
    qs = questions(n)
    settings = engine.AnswerSettings()
    clock: Callable[[], float] = time.thread_time
    for q in qs[:10]:  # warm-up: caches and, for large indexes, the compiled loops
        engine.answer(index, q)
    times: dict[str, list[float]] = {step: [] for step in STEPS}
    for q in qs:
        started = clock()
        index.search(index.query_vector(q), 10)
        times[STEPS[0]].append(clock() - started)
    for q in qs:
        started = clock()
        engine.answer(index, q)
        times[STEPS[1]].append(clock() - started)
    for q in qs:
        t0 = clock()
        query = engine.analyse(index, engine.check_question(q), (), settings)
        t1 = clock()
        hits = index.search(index.query_vector(query.terms), settings.candidates)
        hits = [h for h, flags in zip(hits, engine._flags_of(index, hits), strict=True)
                if not flags & engine._CODE_BLOCK]
        t2 = clock()
        if not hits or not query.required:
            continue
        match = engine._Match.of(index, query)
        found = candidates(index.sentence_table, [h.passage for h in hits], match.ids)
        t3 = clock()
        chosen = engine._rank_quotes(index, query, hits, settings, match, found)
        t4 = clock()
        if chosen:
            engine._evidence(index, query, hits, chosen[0], match, found)
        t5 = clock()
        for step, took in zip(STEPS[2:], (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            times[step].append(took)
    return times


def report(results: dict[int, dict[str, list[float]]], command: str) -> str:
    """The markdown table: p50 (mean) ms of each step at each size."""
    sizes = list(results)
    lines = ["# Where an answer's time goes", "", f"Run: `{command}` on {time.strftime('%Y-%m-%d %H:%M')}.", "",
             "CPU time per question (thread_time), p50 (mean) ms; each question asked once per row.", "",
             "| step | " + " | ".join(f"{s:,} passages" for s in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for step in STEPS:
        cells = [f"{statistics.median(results[s][step]) * 1000:.3f} ({statistics.fmean(results[s][step]) * 1000:.3f})"
                 for s in sizes]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("")
    for s in sizes:
        before = sum(statistics.median(results[s][step]) for step in STEPS[2:5])
        alone = statistics.median(results[s][STEPS[0]])
        answer = statistics.median(results[s][STEPS[1]])
        lines.append(f"- {s:,} passages: whole answer {answer / alone:.1f}× the search alone; reading the question, "
                     f"the answer's search and the candidates' sentences already {before / alone:.1f}× it.")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure each size, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    results = {size: measure(size, args.queries) for size in (int(s) for s in args.sizes.split(","))}
    text = report(results, f"python -m bench.answer_stages --sizes {args.sizes} --queries {args.queries}")
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "answer_stages.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
