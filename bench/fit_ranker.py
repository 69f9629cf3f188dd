"""Fit the quote ranker (retrieval/quote_ranker.py) and report it on held-out questions.

    python -m bench.fit_ranker [--save] [--ablate]

Data: for every question, the candidate spans the answer path weighs (every sentence of the candidate
passages and every adjacent pair) with their features, and which are right. SQuAD, every article indexed:
a span is right when it is from a gold paragraph and holds an answer string. The documentation sets
(../shared/eval/docs/, answerable questions): a span is right when `check.matches` finds an expected
string in it. A right pair that holds a right sentence gets only `PAIR_CREDIT` (the shorter quote says
it better; with full credit a pair wins by hedging between two sentences: 98 % of SQuAD's first quotes
were pairs, against 6 % at half credit and 5 % with the hand formula).

A conditional logit (a softmax over each question's spans; the right spans' credit-weighted share of
probability maximised, L2-penalised, standardised features) is fitted with scipy on the FIT half: SQuAD
questions of half the articles (numbers 0, 1, 4, 5, 8, 9, …: half of those the half-indexed protocol
indexes and half of the others) and the odd-numbered docs questions (01, 03, …), each docs corpus
weighted to `DOCS_SHARE` of SQuAD. It is scored on the HELD-OUT half: the other articles and the
even-numbered docs questions. `--ablate` refits without each feature in turn. `--save` writes
retrieval/data/quote_ranker.json; the report goes to bench/results/quote_ranker.md.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.calibrate import publish, weights_line
from bench.docs import CORPORA, DOCS, index_corpus, load_check, load_questions
from bench.failures import in_half
from retrieval.answer import _CODE_ASKED, AnswerSettings, _Match, analyse, quote_candidates
from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.passages import all_passages
from retrieval.quote_ranker import FEATURES, MODEL, Ranker, holds_feature
from retrieval.sentence_match import candidates
from retrieval.structure import CODE

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
DOCS_SHARE = 0.3  # each docs corpus's total weight, as a share of SQuAD's
PAIR_CREDIT = 0.5  # the credit of a right pair that holds a right sentence
PENALTY = 10.0  # L2 penalty on the standardised weights, per unit of total question weight × 1000


@dataclass
class Group:
    """One question's candidate spans: features, which are right, and where the question belongs."""

    corpus: str
    fit: bool  # in the fitting half
    x: np.ndarray
    right: np.ndarray  # each span's credit: 1 right, 0 wrong, between for a right but longer pair


def spans_of(index: Index, question: str, settings: AnswerSettings) -> tuple[np.ndarray, list[str]] | None:
    """The features and texts of a question's candidate spans, as the answer path weighs them (every
    column read from text read for every span), or None when nothing is a candidate."""
    query = analyse(index, question, (), settings)
    hits = index.search(index.query_vector(query.terms), settings.candidates)
    if not _CODE_ASKED.search(question):
        hits = [h for h in hits if index.kind_of(h.passage) != CODE]
    if not hits or not query.required:
        return None
    match = _Match.of(index, query)
    found = candidates(index.sentence_table, [h.passage for h in hits], match.ids)
    spans, x, read = quote_candidates(index, query, hits, match, found, settings)
    every = np.arange(len(spans))
    if query.kind is not None:
        x[:, FEATURES.index(holds_feature(query.kind.kind))] = read.holds(every)
    x[:, FEATURES.index("phrases")] = read.phrases(every)
    valid = x[:, FEATURES.index("own")] + x[:, FEATURES.index("heading")] > 0
    texts = {k: index.text_of(h.passage) for k, h in enumerate(hits)}
    span_texts = [texts[k][found.starts[a] : found.ends[b]]
                  for k, a, b in zip(spans.owner.tolist(), spans.first.tolist(), spans.last.tolist(), strict=True)]
    keep = np.flatnonzero(valid)
    if not keep.size:
        return None
    # Keep each span's passage as the last column: the labels and the report need it.
    owners = np.array([hits[k].passage for k in spans.owner.tolist()], float)[:, None]
    return np.hstack([x, owners])[keep], [span_texts[i] for i in keep.tolist()]


def credit(right: np.ndarray, x: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """How right each span is: 1 for a right sentence, or a right pair neither of whose sentences is right
    alone; `PAIR_CREDIT` for a right pair that holds a right sentence (the longer quote says it less well,
    and a pair would otherwise win by hedging between two sentences)."""
    pair = x[:, FEATURES.index("pair")] > 0
    singles = [t for t, r, p in zip(texts, right, pair, strict=True) if r and not p]
    within = np.array([p and any(s in t for s in singles) for t, p in zip(texts, pair, strict=True)], bool)
    return np.where(right, np.where(within, PAIR_CREDIT, 1.0), 0.0)


def squad_groups(settings: AnswerSettings) -> list[Group]:
    """SQuAD with every article indexed: one group a question."""
    folder = EVAL / "squad" / "docs"
    documents, _ = read_folder(folder)
    index = Index.build(documents, all_passages(documents))
    with open(folder.parent / "questions.jsonl", encoding="utf-8") as fh:
        questions = [json.loads(line) for line in fh]
    groups = []
    for q in questions:
        found = spans_of(index, q["question"], settings)
        if found is None:
            continue
        x, texts = found
        gold = {(d, p) for d, p in q["gold"]}
        in_gold = [(index.passages[int(p)].doc_id.removesuffix(".txt"), index.passages[int(p)].paragraph - 1) in gold
                   for p in x[:, -1]]
        answers = [a.lower() for a in q["answers"]]

        def is_right(text: str, answers: list[str] = answers) -> bool:
            return any(a in text.lower() for a in answers)

        right = np.array([g and is_right(t) for g, t in zip(in_gold, texts, strict=True)], bool)
        groups.append(Group("squad", squad_fit(q["gold"][0][0]), x[:, :-1], credit(right, x, texts)))
    return groups


def squad_fit(doc: str) -> bool:
    """Whether a SQuAD article is in the fitting half (numbers 0, 1, 4, 5, …)."""
    return int(doc.split("_", 1)[0]) // 2 % 2 == 0


def docs_groups(settings: AnswerSettings) -> list[Group]:
    """The documentation sets' answerable questions: one group a question."""
    check = load_check()
    groups = []
    for corpus in CORPORA:
        index = index_corpus(DOCS / corpus)[0]
        for q in load_questions(corpus):
            if not q["expect"]:
                continue
            found = spans_of(index, q["question"], settings)
            if found is None:
                groups.append(Group(corpus, in_half(q, "dev"), np.zeros((0, len(FEATURES))), np.zeros(0)))
                continue
            x, texts = found

            def is_right(text: str, expect: list[str] = q["expect"]) -> bool:
                return bool(check.matches(text, expect))

            right = np.array([is_right(t) for t in texts], bool)
            groups.append(Group(corpus, in_half(q, "dev"), x[:, :-1], credit(right, x, texts)))
    return groups


def weights_of(groups: Sequence[Group], docs_share: float) -> np.ndarray:
    """Each group's weight: SQuAD's questions 1 each, each docs corpus `docs_share` of SQuAD's total."""
    squad = sum(g.corpus == "squad" for g in groups)
    per = {c: docs_share * squad / max(sum(g.corpus == c for g in groups), 1) for c in CORPORA}
    return np.array([1.0 if g.corpus == "squad" else per[g.corpus] for g in groups])


def fit(groups: Sequence[Group], docs_share: float = DOCS_SHARE, penalty: float = PENALTY,
        mask: np.ndarray | None = None) -> Ranker:
    """The conditional logit of the right spans over each question's spans (groups without a right span
    teach nothing and are left out); `mask` keeps only some features (the others weigh 0)."""
    from scipy.optimize import minimize

    used = [g for g in groups if g.right.any()]
    weight = weights_of(used, docs_share)
    x = np.concatenate([g.x for g in used])
    right = np.concatenate([g.right for g in used])
    sizes = np.array([len(g.right) for g in used])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group = np.repeat(np.arange(len(used)), sizes)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    keep = np.ones(len(FEATURES), bool) if mask is None else mask
    xs = ((x - mean) / scale)[:, keep]
    lam = penalty * weight.sum() / 1000

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = xs @ w
        top = np.maximum.reduceat(z, starts)
        e = np.exp(z - top[group])
        every = np.add.reduceat(e, starts)
        good = np.add.reduceat(e * right, starts)
        value = float(weight @ (np.log(every) - np.log(good))) + lam / 2 * float(w @ w)
        p = e / every[group] - e * right / good[group]  # d/dz of each group's loss
        return value, xs.T @ (p * weight[group]) + lam * w

    w0 = np.zeros(xs.shape[1])
    result = minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    coef = np.zeros(len(FEATURES))
    coef[keep] = result.x
    return Ranker(tuple(mean.tolist()), tuple(scale.tolist()), tuple(coef.tolist()))


def right_first(model: Ranker, groups: Sequence[Group]) -> float:
    """Share of the groups whose best-scored span is right (a question without candidates is wrong)."""
    w = model.weights()
    hits = [bool(g.right[int(np.argmax(g.x @ w))] > 0) if len(g.right) else False for g in groups]
    return float(np.mean(hits)) if hits else float("nan")


def table(model: Ranker, groups: Sequence[Group]) -> dict[tuple[str, bool], float]:
    """Right first for each (corpus, fitting half?) cell."""
    return {(c, f): right_first(model, [g for g in groups if g.corpus == c and g.fit == f])
            for c in ("squad", *CORPORA) for f in (True, False)}


def lines_of(name: str, cells: dict[tuple[str, bool], float]) -> str:
    """One row of the report's table."""
    return f"| {name} | " + " | ".join(f"{cells[(c, f)]:.3f}" for c in ("squad", *CORPORA) for f in (True, False)) \
        + " |"


def report(groups: Sequence[Group], model: Ranker, ablate: bool) -> str:
    """The fitted model on both halves, refitted without each feature (with `ablate`), and its weights."""
    lines = ["Right span first (forced: every question answered; SQuAD: from a gold paragraph and holding an answer, "
             "docs: holding an expected string), per set, fitting half and held-out half:", "",
             "| model | squad fit | squad held out | discordpy odd (fit) | discordpy even (held out) | "
             "fastapi odd (fit) | fastapi even (held out) |", "|---|---:|---:|---:|---:|---:|---:|",
             lines_of("fitted", table(model, groups))]
    if ablate:
        for j, name in enumerate(FEATURES):
            mask = np.ones(len(FEATURES), bool)
            mask[j] = False
            lines.append(lines_of(f"fitted without {name}", table(fit([g for g in groups if g.fit], mask=mask),
                                                                      groups)))
    lines += ["", weights_line(FEATURES, model.coef)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Collect the spans, fit on the fitting half, report both halves, and save when asked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--save", action="store_true", help=f"write the model to {MODEL}")
    parser.add_argument("--ablate", action="store_true", help="refit without each feature in turn")
    args = parser.parse_args(argv)
    settings = AnswerSettings()
    groups = squad_groups(settings) + docs_groups(settings)
    model = fit([g for g in groups if g.fit])
    text = report(groups, model, args.ablate)
    notes: dict[str, Any] = {
        "fitted by": "python -m bench.fit_ranker --save",
        "data": "SQuAD articles 0, 1, 4, 5, ... (every article indexed) + the odd-numbered questions of "
                f"../shared/eval/docs (each corpus weighted to {DOCS_SHARE:.0%} of SQuAD)",
        "objective": f"conditional logit over each question's spans, L2 penalty {PENALTY}, a right pair holding a "
                     f"right sentence credited {PAIR_CREDIT}"}
    publish(text, "quote_ranker.md", "Quote ranker (bench/fit_ranker.py)",
            (MODEL, model.to_json(notes)) if args.save else None)

if __name__ == "__main__":
    main()
