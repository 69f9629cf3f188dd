"""Paraphrased questions (issue 11): asked in other words than the documents', over the seeds and the
documentation sets, with the answers a reader expects.

    python -m bench.paraphrase [--verbose] [--json PATH]

The questions are in bench/paraphrases.jsonl (written for this benchmark, never tuned on one by one:
the mechanisms that answer them are general and measured on SQuAD and the docs sets as well). Each
corpus is indexed as it is through the public API and every question scored with the docs set's
`check.matches` (markup dropped, case and spaces folded): right first, in the top three, not found.
bm25s over the same files split naively into paragraphs runs beside it. Writes
bench/results/paraphrases.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.docs import DOCS, RESULTS, Bm25Paragraphs, index_corpus, load_check, match_rank, naive_paragraphs
from retrieval.answer import AnswerSettings, answer
from retrieval.index import Index

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "paraphrases.jsonl"
SEEDS = HERE.parent / "seeds"
TOP = 3


def load_paraphrases(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    """The paraphrase set, in file order."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def folder_of(corpus: str) -> Path:
    """Where a corpus of the set lives."""
    return SEEDS if corpus == "seeds" else DOCS / corpus


def corpus_text(folder: Path, normalize: Any) -> str:
    """Every document file of a folder, normalised the way quotes are scored, joined."""
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".txt", ".md", ".rst"))
    return "\n".join(normalize(p.read_text(encoding="utf-8")) for p in files)


def ask(index: Index, question: str, expect: Sequence[str], matches: Any,
        settings: AnswerSettings = AnswerSettings()) -> tuple[bool, int | None, list[str]]:
    """(answered, 1-based rank of the first matching quote among the first three, the quotes)."""
    result = answer(index, question, (), settings)
    texts = [q.text for q in result.quotes[:TOP]]
    return result.answered, match_rank(texts, list(expect), matches), texts


def run(verbose: bool = False, settings: AnswerSettings = AnswerSettings()) -> tuple[str, list[dict[str, Any]]]:
    """Ask every paraphrase of ours and of bm25s; the markdown table and per-question rows."""
    check = load_check()
    questions = load_paraphrases()
    rows: list[dict[str, Any]] = []
    lines = ["| corpus | questions | ours right first | ours top three | ours not found | "
             "bm25s right first | bm25s top three |", "|---|---:|---:|---:|---:|---:|---:|"]
    totals = [0] * 6
    for corpus in dict.fromkeys(q["corpus"] for q in questions):
        folder = folder_of(corpus)
        index = index_corpus(folder)[0]
        bm25 = Bm25Paragraphs(naive_paragraphs(folder) if corpus != "seeds" else _seed_paragraphs(folder))
        counts = [0] * 6
        for q in (q for q in questions if q["corpus"] == corpus):
            answered, rank, texts = ask(index, q["question"], q["expect"], check.matches, settings)
            _, order = bm25.rank(q["question"])
            b_rank = match_rank((bm25.paragraphs[i][1] for i in order), q["expect"], check.matches)
            counts = [c + x for c, x in zip(counts, (1, answered and rank == 1, answered and rank is not None,
                                                     not answered, b_rank == 1, b_rank is not None), strict=True)]
            rows.append({"id": q["id"], "corpus": corpus, "question": q["question"], "expect": q["expect"],
                         "answered": answered, "rank": rank, "quotes": texts, "bm25s rank": b_rank})
            if verbose:
                verdict = "NOT FOUND" if not answered else {1: "right first", None: "wrong"}.get(rank, f"top {rank}")
                print(f"{q['id']:8} {verdict:12} {q['question']}\n         → {texts[0][:160] if texts else '—'}")
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        lines.append(f"| {corpus} | " + " | ".join(str(c) for c in counts) + " |")
    lines.append("| **all** | " + " | ".join(f"**{t}**" for t in totals) + " |")
    return "\n".join(lines), rows


def _seed_paragraphs(folder: Path) -> list[tuple[str, str]]:
    """The seeds' paragraphs (blank-line blocks) for bm25s."""
    from bench.docs import split_naive

    return [(p.name, para) for p in sorted(folder.glob("*.txt"))
            for para in split_naive(p.read_text(encoding="utf-8"))]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the set, print the table, write bench/results/paraphrases.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print each question's outcome and first quote")
    parser.add_argument("--json", type=Path, help="write per-question results to this file")
    parser.add_argument("--force", action="store_true", help="answer every question (ranking alone)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    text, rows = run(args.verbose, AnswerSettings(min_confidence=0.0) if args.force else AnswerSettings())
    if args.force:
        print(text)
        return
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "paraphrases.md").write_text(
        "# Paraphrased questions (issue 11)\n\n`python -m bench.paraphrase`: questions of bench/paraphrases.jsonl, "
        "asked in other words than the documents'; scored with the docs set's check.matches.\n\n" + text + "\n",
        encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
