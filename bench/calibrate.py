"""Fit the not-found model (retrieval/calibration.py) and report its curve.

    python -m bench.calibrate [--save] [--target 0.10]

Data: SQuAD with half of its articles indexed (every question asked; answerable when its article is
indexed), plus every question of the documentation sets (../shared/eval/docs/: answerable ones and
the unanswerable ones written to share words with the docs). For each question the engine's evidence
(`retrieval.answer.deliberate`) is recorded with whether the question is answerable and whether the
first quote is right. A standardised logistic regression (scikit-learn) is fitted on it, the docs
questions weighted so that they count as much as a tenth of SQuAD's; the threshold is the operating
point where at most `--target` of SQuAD's unanswerable questions are answered. `--save` writes
retrieval/data/not_found.json. The report gives the whole curve, the operating point on each set, and
a leave-one-docs-corpus-out check (fitted without a docs corpus, scored on it).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.docs import CORPORA, DOCS, index_corpus, load_check, load_questions
from retrieval.answer import AnswerSettings, deliberate
from retrieval.calibration import FEATURES, MODEL, Model
from retrieval.documents import read_folder
from retrieval.index import Index, Weighting
from retrieval.passages import all_passages

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
RESULTS = Path(__file__).resolve().parent / "results"
DOCS_SHARE = 0.1  # the docs questions' total weight, as a share of SQuAD's


@dataclass
class Row:
    """One question: the evidence, whether the index answers it, and whether the first quote is right."""

    corpus: str
    features: tuple[float, ...]
    answerable: bool
    right: bool  # the first quote is from a gold paragraph (SQuAD) or holds an expected string (docs)
    answered_at_all: bool = True  # False when nothing matched: never answered, whatever the model


def half_index(folder: Path, weighting: Weighting = Weighting()) -> tuple[Index, set[str]]:
    """An index of every other document (sorted by id) and the ids of the documents left out."""
    documents, _ = read_folder(folder)
    documents.sort(key=lambda d: d.id)
    kept = documents[0::2]
    return Index.build(kept, all_passages(kept), weighting), {d.id.removesuffix(".txt") for d in documents[1::2]}


def squad_rows(settings: AnswerSettings = AnswerSettings(), weighting: Weighting = Weighting(),
               questions: Sequence[dict[str, Any]] | None = None, folder: Path = EVAL / "squad" / "docs",
               limit: int | None = None) -> list[Row]:
    """The half-indexed SQuAD protocol's evidence, one row a question."""
    index, held = half_index(folder, weighting)
    if questions is None:
        with open(folder.parent / "questions.jsonl", encoding="utf-8") as fh:
            questions = [json.loads(line) for line in fh][:limit]
    rows = []
    for q in questions:
        gold = {(d, p) for d, p in q["gold"]}
        answerable = all(d not in held for d, _ in q["gold"])
        result, evidence = deliberate(index, q["question"], (), settings)
        first = result.quotes[0] if result.quotes else None
        right = first is not None and (first.source.removesuffix(".txt"), first.paragraph - 1) in gold
        rows.append(_row("squad", evidence, answerable, right))
    return rows


def docs_rows(settings: AnswerSettings = AnswerSettings()) -> list[Row]:
    """The documentation sets' evidence, one row a question."""
    check = load_check()
    rows = []
    for corpus in CORPORA:
        index = index_corpus(DOCS / corpus)[0]
        for q in load_questions(corpus):
            result, evidence = deliberate(index, q["question"], (), settings)
            right = bool(result.quotes) and bool(q["expect"]) and check.matches(result.quotes[0].text, q["expect"])
            rows.append(_row(corpus, evidence, bool(q["expect"]), right))
    return rows


def _row(corpus: str, evidence: Any, answerable: bool, right: bool) -> Row:
    if evidence is None:
        return Row(corpus, tuple(0.0 for _ in FEATURES), answerable, False, False)
    return Row(corpus, evidence.vector(), answerable, right)


def fit(rows: Sequence[Row], docs_share: float = DOCS_SHARE) -> Model:
    """A standardised logistic regression of answerable on the evidence (threshold 0.5 until chosen)."""
    from sklearn.linear_model import LogisticRegression

    usable = [r for r in rows if r.answered_at_all]
    x = np.array([r.features for r in usable])
    y = np.array([r.answerable for r in usable])
    squad = np.array([r.corpus == "squad" for r in usable])
    weight = np.where(squad, 1.0, docs_share * squad.sum() / max((~squad).sum(), 1))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=1000).fit((x - mean) / scale, y, sample_weight=weight)
    return Model(tuple(mean.tolist()), tuple(scale.tolist()), tuple(model.coef_[0].tolist()),
                 float(model.intercept_[0]), 0.5, float(np.average(y, weights=weight)))


def probabilities(model: Model, rows: Sequence[Row]) -> np.ndarray:
    """The model's confidence for each row (0 where nothing matched)."""
    x = np.array([r.features for r in rows])
    z = model.intercept + ((x - np.array(model.mean)) / np.array(model.scale)) @ np.array(model.coef)
    return np.where([r.answered_at_all for r in rows], 1 / (1 + np.exp(-z)), 0.0)


def operating_point(p: np.ndarray, rows: Sequence[Row], target: float) -> float:
    """The lowest threshold at which at most `target` of SQuAD's unanswerable questions are answered."""
    negatives = np.sort(p[[r.corpus == "squad" and not r.answerable for r in rows]])[::-1]
    allowed = int(np.floor(target * len(negatives)))
    return float(np.nextafter(negatives[allowed], 1.0)) if allowed < len(negatives) else 0.0


def rates(p: np.ndarray, rows: Sequence[Row], threshold: float, keep: Callable[[Row], bool]) -> dict[str, float]:
    """Share answered of answerable and unanswerable questions, and share right first of answerable."""
    sel = [i for i, r in enumerate(rows) if keep(r)]
    pos = [i for i in sel if rows[i].answerable]
    neg = [i for i in sel if not rows[i].answerable]
    said = p >= threshold
    return {
        "answered (answerable)": float(np.mean([said[i] for i in pos])) if pos else float("nan"),
        "right first (answerable)": float(np.mean([said[i] and rows[i].right for i in pos])) if pos else float("nan"),
        "answered (unanswerable)": float(np.mean([said[i] for i in neg])) if neg else float("nan"),
        "answerable": len(pos), "unanswerable": len(neg),
    }


def curve(p: np.ndarray, rows: Sequence[Row], points: Sequence[float] = (0.02, 0.05, 0.08, 0.10, 0.12, 0.15, 0.2,
                                                                         0.3, 0.5)) -> list[tuple[float, dict]]:
    """SQuAD's curve: for each share of unanswerable questions answered, the threshold and the rates."""
    return [(t, rates(p, rows, operating_point(p, rows, t), lambda r: r.corpus == "squad")) for t in points]


def report(rows: Sequence[Row], model: Model, target: float) -> str:
    """The curve, the operating point on every set, the weights, and the leave-one-corpus-out check."""
    p = probabilities(model, rows)
    lines = ["SQuAD half-indexed: share of unanswerable answered → share of answerable answered, right first",
             "", "| unanswerable answered (target) | threshold | answered | right first | unanswerable answered |",
             "|---:|---:|---:|---:|---:|"]
    for t, r in curve(p, rows):
        lines.append(f"| {t:.2f} | {operating_point(p, rows, t):.3f} | {r['answered (answerable)']:.3f} | "
                     f"{r['right first (answerable)']:.3f} | {r['answered (unanswerable)']:.3f} |")
    lines += ["", f"Operating point (threshold {model.threshold:.3f}):", "",
              "| set | answerable | answered | right first | unanswerable | unanswerable answered |",
              "|---|---:|---:|---:|---:|---:|"]
    for name in ("squad", *CORPORA):
        r = rates(p, rows, model.threshold, lambda row, n=name: row.corpus == n)
        lines.append(f"| {name} | {r['answerable']} | {r['answered (answerable)']:.3f} | "
                     f"{r['right first (answerable)']:.3f} | {r['unanswerable']} | "
                     f"{r['answered (unanswerable)']:.3f} |")
    lines += ["", "Leave one docs corpus out (fitted without it, its threshold from SQuAD):", ""]
    for held in CORPORA:
        rest = [r for r in rows if r.corpus != held]
        partial = fit(rest)
        partial = replace(partial, threshold=operating_point(probabilities(partial, rest), rest, target))
        r = rates(probabilities(partial, rows), rows, partial.threshold, lambda row, n=held: row.corpus == n)
        lines.append(f"- {held}: answered {r['answered (answerable)']:.2f} of answerable, right first "
                     f"{r['right first (answerable)']:.2f}, unanswerable answered {r['answered (unanswerable)']:.2f}")
    lines += ["", weights_line(FEATURES, model.coef)]
    return "\n".join(lines)


def weights_line(features: Sequence[str], coef: Sequence[float]) -> str:
    """A fitted model's standardised weights, largest first."""
    return "Weights (standardised features): " + ", ".join(
        f"{n} {c:+.2f}" for n, c in sorted(zip(features, coef, strict=True), key=lambda nc: -abs(nc[1])))


def main(argv: Sequence[str] | None = None) -> None:
    """Collect the evidence, fit, report, and save when asked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"write the model to {MODEL}")
    parser.add_argument("--target", type=float, default=0.10, help="share of unanswerable questions answered")
    parser.add_argument("--limit", type=int, default=None, help="SQuAD questions (all by default)")
    args = parser.parse_args(argv)
    rows = squad_rows(limit=args.limit) + docs_rows()
    model = fit(rows)
    model = replace(model, threshold=operating_point(probabilities(model, rows), rows, args.target))
    text = report(rows, model, args.target)
    notes = {"fitted by": "python -m bench.calibrate --save",
             "data": "SQuAD half-indexed (every question) + ../shared/eval/docs (every question, weighted "
                     f"to {DOCS_SHARE:.0%} of SQuAD)",
             "operating point": f"at most {args.target:.0%} of SQuAD's unanswerable questions answered"}
    publish(text, "calibration.md", "Not-found model (bench/calibrate.py)",
            (MODEL, model.to_json(notes)) if args.save else None)


def publish(text: str, report_name: str, title: str, model: tuple[Path, str] | None) -> None:
    """Print a fitting report, write it to bench/results/, and save the model's JSON when given."""
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / report_name).write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    if model is not None:
        path, data = model
        path.write_text(data + "\n", encoding="utf-8")
        print(f"saved {path}")


if __name__ == "__main__":
    main()
