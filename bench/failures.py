"""Why documentation questions miss: for each question of ../shared/eval/docs/ not answered right first,
the expected sentence, what we quoted, where the expected passage ranked, and a category.

    python -m bench.failures [--corpus discordpy|fastapi|all] [--half dev|test|all] [--all-questions]

Categories (the first that applies):
- retrieval: no passage holding an expected string is among the candidates; the question words the
  expected passage lacks (its section's headings included) are listed (a vocabulary gap).
- code filtered: the expected passage is a code block, dropped because the question asks for no code.
- sentence: the expected passage is a candidate, but the sentence chosen from it is another one.
- ranking: the expected sentence is quoted but not first, or would be the expected passage's quote but
  other passages' quotes rank above it (it falls out of the three).
- not found: the right sentence is first, but the not-found model said no.
- unanswerable answered: an unanswerable question got a quote.

`--half dev` keeps the odd-numbered questions (01, 03, …), `--half test` the even ones: develop on
one half, report both (the overfitting guard).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from bench.docs import CORPORA, DOCS, RESULTS, index_corpus, load_check, load_questions
from retrieval import calibration
from retrieval.answer import _CODE_ASKED, AnswerSettings, _Match, _rank_quotes, analyse, deliberate
from retrieval.index import Index
from retrieval.sentence_match import candidates
from retrieval.structure import CODE

DEPTH = 200  # how far down the ranking the expected passage is looked for
CANDIDATES = AnswerSettings().candidates  # the passages whose sentences compete for the quote


def in_half(question: dict[str, Any], half: str) -> bool:
    """Whether a question belongs to the half: odd-numbered ids are "dev", even ones "test"."""
    if half == "all":
        return True
    number = int(question["id"].rsplit("-", 1)[1])
    return (number % 2 == 1) == (half == "dev")


def split(questions: Sequence[dict[str, Any]], half: str) -> list[dict[str, Any]]:
    """The questions of one half ("dev", "test" or "all")."""
    return [q for q in questions if in_half(q, half)]


def expected_passages(index: Index, expect: Sequence[str], matches: Any) -> list[int]:
    """Positions of the passages that hold an expected string."""
    return [i for i, p in enumerate(index.passages) if matches(p.text, list(expect))]


def diagnose(index: Index, q: dict[str, Any], matches: Any, settings: AnswerSettings) -> dict[str, Any]:
    """One question's outcome, and its category when missed."""
    forced = replace(settings, min_confidence=0.0)
    result, evidence = deliberate(index, q["question"], (), forced)
    model = calibration.load()
    confidence = model.confidence(evidence) if evidence is not None else 0.0
    answered = evidence is not None and bool(result.quotes) and confidence >= model.threshold
    quotes = [x.text for x in result.quotes]
    row: dict[str, Any] = {"q": q, "quotes": quotes, "confidence": confidence, "answered": answered}
    if not q["expect"]:
        row["category"] = "unanswerable answered" if answered else "ok"
        return row
    rank = next((i for i, t in enumerate(quotes, 1) if matches(t, q["expect"])), None)
    row["rank"] = rank
    # Where the expected passage ranks is kept for every answerable question: the summary's retrieval ceiling.
    query = analyse(index, q["question"], (), settings)
    vector = {index.vocabulary[t]: w for t, w in query.terms.items()
              if t in index.vocabulary and index.df[index.vocabulary[t]] > 0}
    hits = index.search(vector, DEPTH)
    order = {h.passage: r for r, h in enumerate(hits, 1)}
    targets = expected_passages(index, q["expect"], matches)
    ranked = sorted((order.get(t, DEPTH + 1), t) for t in targets)
    best_rank, best = ranked[0] if ranked else (DEPTH + 1, None)
    row["passage_rank"] = best_rank
    if rank == 1:
        row["category"] = "ok" if answered else "not found"
        return row
    if best is not None:
        p = index.passages[best]
        row["passage"] = p.text
        row["section"] = " › ".join(p.section.path)
        row["kind"] = p.kind
        ids = np.fromiter((index.vocabulary.get(t, -1) for t in query.required), np.int64)
        held = index.holding(ids, [best])[0]
        row["lacks"] = [t for t, h in zip(query.required, held.tolist(), strict=True) if not h]
    if rank is not None:
        row["category"] = "ranking"
    elif best is None:
        row["category"] = "no passage"
    elif index.passages[best].kind == CODE and not _CODE_ASKED.search(q["question"]):
        row["category"] = "code filtered"
    elif best_rank <= settings.candidates:
        row["category"] = _within(index, query, targets, order, q["expect"], matches, settings)
    else:
        row["category"] = "retrieval"
    return row


def _within(index: Index, query: Any, targets: Sequence[int], order: dict[int, int], expect: Sequence[str],
            matches: Any, settings: AnswerSettings) -> str:
    """Whether an expected passage among the candidates offers another sentence ("sentence") or offers
    the expected one, ranked below other passages' quotes ("ranking")."""
    hits = index.search(index.query_vector(query.terms), settings.candidates)
    match = _Match.of(index, query)
    found = candidates(index.sentence_table, [h.passage for h in hits], match.ids)
    every = replace(settings, max_quotes=len(hits), min_quote_ratio=0.0)
    quotes = {q.passage: q.text for q, _ in _rank_quotes(index, query, hits, every, match, found)}
    wanted = {index.passages[t].text for t in targets if order.get(t, DEPTH + 1) <= settings.candidates}
    return "ranking" if any(p in wanted and matches(t, list(expect)) for p, t in quotes.items()) else "sentence"


def show(row: dict[str, Any]) -> list[str]:
    """One missed question, as lines."""
    q = row["q"]
    lines = [f"\n{q['id']} [{q['kind']}] {row['category'].upper()}  conf {row['confidence']:.2f}"
             f"{'' if row['answered'] else ' (not answered)'}", f"  Q: {q['question']}"]
    if q["expect"]:
        lines.append(f"  expect: {' | '.join(q['expect'])}")
    lines += [f"  #{i}: {' '.join(t.split())[:200]}" for i, t in enumerate(row["quotes"][:3], 1)]
    if "passage_rank" in row:
        lines.append(f"  expected passage rank {row['passage_rank']} kind {row.get('kind')} "
                     f"[{row.get('section', '')}] lacks {row.get('lacks')}")
        if "passage" in row:
            lines.append(f"  passage: {' '.join(row['passage'].split())[:300]}")
    return lines


def summary(corpus: str, half: str, rows: Sequence[dict[str, Any]]) -> list[str]:
    """A corpus half's counts and categories, as lines."""
    answerable = [r for r in rows if r["q"]["expect"]]
    first = sum(r["category"] == "ok" for r in answerable)
    top3 = sum(r["answered"] and r.get("rank") is not None for r in answerable)
    rejected = sum(r["category"] == "ok" for r in rows if not r["q"]["expect"])
    counts = Counter(r["category"] for r in rows)
    within = {k: sum(r["passage_rank"] <= k for r in answerable) for k in (CANDIDATES, 100)}
    return [f"{corpus} ({half}): right first {first}/{len(answerable)}, top three {top3}/{len(answerable)}, "
            f"unanswerable rejected {rejected}/{len(rows) - len(answerable)}; expected passage among the first "
            f"{CANDIDATES} retrieved {within[CANDIDATES]}/{len(answerable)}, the first 100 {within[100]}; categories: "
            + ", ".join(f"{k} {n}" for k, n in counts.most_common())]


def main(argv: Sequence[str] | None = None) -> None:
    """Diagnose the chosen questions, print them and the categories; a full run writes
    bench/results/failures.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    parser.add_argument("--half", choices=["dev", "test", "all"], default="all")
    parser.add_argument("--all-questions", action="store_true", help="print the right ones too")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    check = load_check()
    settings = AnswerSettings()
    details: list[str] = []
    totals: list[str] = []
    for corpus in CORPORA if args.corpus == "all" else (args.corpus,):
        index = index_corpus(DOCS / corpus)[0]
        rows = [diagnose(index, q, check.matches, settings) for q in split(load_questions(corpus), args.half)]
        for row in rows:
            if args.all_questions or row["category"] != "ok":
                details += show(row)
        halves = ("dev", "test") if args.half == "all" else (args.half,)
        totals += [line for h in halves for line in summary(corpus, h, [r for r in rows if in_half(r["q"], h)])]
    print("\n".join(details) + "\n\n" + "\n".join(totals))
    if args.corpus == "all" and args.half == "all" and not args.all_questions:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "failures.md").write_text(
            "# Why documentation questions miss (`python -m bench.failures`)\n\n"
            "Dev half = odd-numbered questions, test half = even-numbered ones.\n\n"
            + "\n".join(f"- {t}" for t in totals) + "\n\n```" + "\n".join(details) + "\n```\n",
            encoding="utf-8")


if __name__ == "__main__":
    main()
