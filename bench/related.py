"""Related words (issue 11): derivations and WordNet synonyms (retrieval/lexicon.py) measured on the
documentation sets (dev and test halves), the paraphrase set and SQuAD, with the not-found model forced
off and at its default.

    python -m bench.related [--variants "name;name"] [--squad] [--cost 10000,100000]

For each variant: per docs corpus and half, right first / in the top three with every question
answered (ranking alone) and with the fitted not-found model (plus unanswerable rejected); the
paraphrase set the same way; with `--squad`, SQuAD with every article indexed: the first quote's
paragraph is gold, the first quote holds an answer. `--cost` only times each variant per question on
bench/corpus.py's synthetic corpus at the given sizes. A run of every variant writes
bench/results/related.md.

Co-occurrence in the index (local mutual information over passages), pseudo-relevance feedback and
latent similarity (truncated SVD of the passages' terms) were measured here too, at commit 879763c
(retrieval/expansion.py there), and left out: each lost SQuAD answer sentences or docs questions.
Synonyms standing in for the question word (counted in coverage like a derivation) were measured at
01ae5b5: more SQuAD gain, but a docs question out of the top three and a follow-up that quoted again
what it had just quoted; the engine's synonyms only help retrieve.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench.docs import CORPORA, DOCS, RESULTS, index_corpus, load_check, load_questions, match_rank
from bench.failures import in_half
from bench.paraphrase import folder_of, load_paraphrases
from bench.quality import EvalSet, load_set
from retrieval import calibration
from retrieval.answer import AnswerSettings, deliberate
from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.passages import all_passages

TOP = 3
VARIANTS: dict[str, AnswerSettings] = {
    "no related words": AnswerSettings(related_weight=0.0, synonym_weight=0.0),
    "derivations only (before)": AnswerSettings(synonym_weight=0.0),
    "derivations + synonyms 0.15 (default)": AnswerSettings(),
    "derivations + synonyms 0.3": AnswerSettings(synonym_weight=0.3),
}


@dataclass
class Tally:
    """Counts of one group of questions under one variant."""

    answerable: int = 0
    unanswerable: int = 0
    forced_first: int = 0
    forced_top: int = 0
    first: int = 0
    top: int = 0
    rejected: int = 0

    def add(self, expect: Sequence[str], rank: int | None, answered: bool) -> None:
        """Count one question."""
        if expect:
            self.answerable += 1
            self.forced_first += rank == 1
            self.forced_top += rank is not None
            self.first += answered and rank == 1
            self.top += answered and rank is not None
        else:
            self.unanswerable += 1
            self.rejected += not answered

    def cells(self) -> str:
        """forced first/top · default first/top · rejected."""
        n = self.answerable
        return (f"{self.forced_first}/{n} · {self.forced_top}/{n} | {self.first}/{n} · {self.top}/{n} | "
                f"{self.rejected}/{self.unanswerable}")


def judge(index: Index, question: str, expect: Sequence[str], matches: Any, settings: AnswerSettings
          ) -> tuple[int | None, bool]:
    """(rank of the first right quote among three with every question answered, whether the default
    not-found model answers)."""
    result, evidence = deliberate(index, question, (), replace(settings, min_confidence=0.0))
    rank = match_rank((q.text for q in result.quotes[:TOP]), list(expect), matches) if expect else None
    if evidence is None or not result.quotes:
        return rank, False
    model = calibration.load()
    threshold = model.threshold if settings.min_confidence is None else settings.min_confidence
    return rank, model.confidence(evidence) >= threshold


def measure(indexes: dict[str, Index], settings: AnswerSettings, matches: Any) -> dict[str, Tally]:
    """Tallies by group: each docs corpus and half, and the paraphrase set."""
    groups: dict[str, Tally] = {}
    for corpus in CORPORA:
        for q in load_questions(corpus):
            rank, said = judge(indexes[corpus], q["question"], q["expect"], matches, settings)
            groups.setdefault(f"{corpus} {'dev' if in_half(q, 'dev') else 'test'}", Tally()).add(
                q["expect"], rank, said)
    for q in load_paraphrases():
        rank, said = judge(indexes[q["corpus"]], q["question"], q["expect"], matches, settings)
        groups.setdefault("paraphrases", Tally()).add(q["expect"], rank, said)
    return groups


def squad(settings: AnswerSettings, index: Index, questions: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """SQuAD, every article indexed, every question answered: (first quote's paragraph is gold, first quote
    holds an answer string)."""
    forced = replace(settings, min_confidence=0.0)
    right = held = 0
    for q in questions:
        quotes = deliberate(index, q["question"], (), forced)[0].quotes
        if quotes:
            first = quotes[0]
            right += (first.source.removesuffix(".txt"), first.paragraph - 1) in {(d, p) for d, p in q["gold"]}
            held += any(a.lower() in first.text.lower() for a in q.get("answers", ()))
    return right / len(questions), held / len(questions)


def cost(sizes: Sequence[int], names: Sequence[str], n_questions: int = 500) -> str:
    """Per-question engine time of each variant (mean and p50, ms) on bench/corpus.py's synthetic corpus,
    the variants taking turns question by question so that machine load falls on all alike."""
    from bench.corpus import make_corpus, questions

    asked = questions(n_questions)
    lines = ["| passages | variant | mean ms | p50 ms | first question ms | ratio to today (mean) |",
             "|---:|---|---:|---:|---:|---:|"]
    for size in sizes:
        corpus = make_corpus(size)
        index = Index.build(corpus.documents, corpus.passages)
        times: dict[str, list[float]] = {name: [] for name in names}
        for q in asked:
            for name in names:
                started = time.perf_counter()
                deliberate(index, q, (), replace(VARIANTS[name], min_confidence=0.0))
                times[name].append((time.perf_counter() - started) * 1000)
        base = statistics.fmean(times[names[0]])
        for name in names:
            t = times[name]
            lines.append(f"| {size:,} | {name} | {statistics.fmean(t):.2f} | {statistics.median(t):.2f} | "
                         f"{t[0]:.1f} | {statistics.fmean(t) / base:.2f} |")
        print("\n".join(lines[-len(names):]), flush=True)
        del index, corpus
    return "\n".join(lines)


def table(results: dict[str, dict[str, Tally]]) -> str:
    """One row a variant, one column a group."""
    groups = list(next(iter(results.values())))
    lines = ["Each cell: right first · top three with every question answered | the same with the fitted "
             "not-found model | unanswerable rejected.", "",
             "| variant | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(t.cells().replace(" | ", " ‖ ") for t in tallies.values()) + " |"
              for name, tallies in results.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure the chosen variants and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--variants", help='names separated by ";" (default: all)')
    parser.add_argument("--squad", action="store_true", help="also SQuAD: first quote's paragraph, answer held")
    parser.add_argument("--cost", help="only time the variants at these corpus sizes (comma-separated)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    chosen = args.variants.split(";") if args.variants else list(VARIANTS)
    if args.cost:
        print(cost([int(n) for n in args.cost.split(",")], chosen))
        return
    check = load_check()
    indexes = {c: index_corpus(DOCS / c)[0] for c in CORPORA} | {"seeds": index_corpus(folder_of("seeds"))[0]}
    results: dict[str, dict[str, Tally]] = {}
    squad_set: EvalSet | None = None
    squad_index: Index | None = None
    squad_rows: dict[str, tuple[float, float]] = {}
    for name in chosen:
        started = time.perf_counter()
        results[name] = measure(indexes, VARIANTS[name], check.matches)
        print(f"{name}: " + "; ".join(f"{g} {t.cells()}" for g, t in results[name].items())
              + f"  ({time.perf_counter() - started:.1f} s)", flush=True)
        if args.squad:
            if squad_set is None:
                squad_set = load_set("squad", None)
                documents, _ = read_folder(squad_set.folder)
                squad_index = Index.build(documents, all_passages(documents))
            started = time.perf_counter()
            paragraph, sentence = squad(VARIANTS[name], squad_index, squad_set.questions)
            squad_rows[name] = (paragraph, sentence)
            print(f"  SQuAD: first quote's paragraph {paragraph:.4f}, answer sentence {sentence:.4f} "
                  f"({time.perf_counter() - started:.1f} s)", flush=True)
    text = table(results)
    if squad_rows:
        text += "\n\nSQuAD, every article indexed, every question answered:\n\n| variant | first quote's paragraph | " \
                "answer sentence |\n|---|---:|---:|\n" + "\n".join(
                    f"| {name} | {p:.4f} | {a:.4f} |" for name, (p, a) in squad_rows.items())
    print("\n" + text)
    if not args.variants:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "related.md").write_text("# Related words (`python -m bench.related`)\n\n" + text + "\n",
                                            encoding="utf-8")


if __name__ == "__main__":
    main()
