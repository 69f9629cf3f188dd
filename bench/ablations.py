"""What each mechanism of issue 11 gains, measured one at a time (each turned off, the rest kept).

    python -m bench.ablations

Ranking alone (every question answered, so the not-found model is left out): SQuAD answer-sentence
accuracy (all 5,309 questions, full index), right first / in the top three on each docs corpus
(../shared/eval/docs, answerable questions) and on the paraphrase set (bench/paraphrases.jsonl). The
not-found model is measured apart, by bench/calibrate.py. Writes bench/results/ablations.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.docs import CORPORA, index_corpus, load_check, load_questions, match_rank
from bench.paraphrase import folder_of, load_paraphrases
from bench.quality import load_set, metrics, ours
from retrieval.answer import AnswerSettings, answer
from retrieval.index import Index, Weighting

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {
    "all of issue 11": AnswerSettings(),
    "no derivations (WordNet related forms)": AnswerSettings(related_weight=0.0),
    "no optional head nouns": AnswerSettings(optional_heads=False),
    "no typo correction": AnswerSettings(correct_typos=False),
    "no answer-kind features in the quote ranker": AnswerSettings(answer_kinds=False),
}


def ranked(index: Index, question: str, expect: Sequence[str], settings: AnswerSettings, matches: object) -> int | None:
    """1-based rank of the first of the first three quotes holding an expected string."""
    result = answer(index, question, (), replace(settings, min_confidence=0.0))
    return match_rank([q.text for q in result.quotes[:3]], list(expect), matches)  # type: ignore[arg-type]


def main() -> None:
    """Every variant on every set; print and write the table."""
    check = load_check()
    squad = load_set("squad", None)
    indexes = {c: index_corpus(folder_of(c))[0] for c in ("seeds", *CORPORA)}
    questions = {c: [q for q in load_questions(c) if q["expect"]] for c in CORPORA}
    paraphrases = load_paraphrases()
    lines = ["| variant | SQuAD answer sentence | " + " | ".join(f"{c} right first / top 3" for c in CORPORA)
             + " | paraphrases right first / top 3 |", "|---|---:|" + "---:|" * (len(CORPORA) + 1)]
    for label, settings in VARIANTS.items():
        sentence = metrics(squad, ours(squad, Weighting(), settings))["answer sentence"]
        cells = []
        for corpus in CORPORA:
            ranks = [ranked(indexes[corpus], q["question"], q["expect"], settings, check.matches)
                     for q in questions[corpus]]
            cells.append(f"{sum(r == 1 for r in ranks)} / {sum(r is not None for r in ranks)}")
        ranks = [ranked(indexes[q["corpus"]], q["question"], q["expect"], settings, check.matches)
                 for q in paraphrases]
        cells.append(f"{sum(r == 1 for r in ranks)} / {sum(r is not None for r in ranks)}")
        lines.append(f"| {label} | {sentence:.4f} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ablations.md").write_text("# Issue 11's mechanisms, one at a time (bench/ablations.py)\n\n"
                                          + (__doc__ or "").split("\n\n")[1] + "\n\n" + "\n".join(lines) + "\n",
                                          encoding="utf-8")


if __name__ == "__main__":
    main()
