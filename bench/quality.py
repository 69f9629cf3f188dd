"""Answer quality on the public evaluation sets, ours next to bm25s and rank-bm25 in the same run.

    python -m bench.quality [--sets squad,trecqa_news,cranfield] [--limit N] [--calibrate]

Prints Recall@1, Recall@5 and MRR@10 of the gold paragraph and answer-sentence accuracy (the first
quote contains one of the answer strings), and writes the table to bench/results/quality.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.answer import AnswerSettings, answer
from retrieval.documents import read_folder
from retrieval.index import Index, Weighting
from retrieval.passages import all_passages
from retrieval.text import split_sentences

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class EvalSet:
    """Documents as paragraphs, and questions with their gold paragraphs."""

    name: str
    paragraphs: list[tuple[str, int, str]]  # (doc_id, paragraph index from 0, text)
    questions: list[dict]
    folder: Path


def load_set(name: str, limit: int | None) -> EvalSet:
    """One evaluation set read with the project's own document reader."""
    folder = EVAL / name / "docs"
    documents, _ = read_folder(folder)
    paragraphs = [(d.id.removesuffix(".txt"), i, p) for d in documents for i, p in enumerate(d.paragraphs)]
    with open(EVAL / name / "questions.jsonl", encoding="utf-8") as fh:
        questions = [json.loads(line) for line in fh]
    return EvalSet(name, paragraphs, questions[:limit] if limit else questions, folder)


Ranker = Callable[[str], tuple[list[tuple[str, int]], str]]  # question -> ranked (doc, para), first quote


def metrics(evalset: EvalSet, ranker: Ranker) -> dict[str, float]:
    """R@1, R@5, MRR@10 of the gold paragraph, answer-sentence accuracy, and ms per question."""
    r1 = r5 = mrr = hit_sentence = with_answers = 0.0
    start = time.perf_counter()
    for q in evalset.questions:
        gold = {(d, p) for d, p in q["gold"]}
        ranked, sentence = ranker(q["question"])
        rank = next((i for i, key in enumerate(ranked[:10]) if key in gold), None)
        r1 += rank == 0
        r5 += rank is not None and rank < 5
        mrr += 1 / (rank + 1) if rank is not None else 0
        if q.get("answers"):
            with_answers += 1
            hit_sentence += any(a.lower() in sentence.lower() for a in q["answers"])
    n = len(evalset.questions)
    elapsed = (time.perf_counter() - start) * 1000 / n
    accuracy = hit_sentence / with_answers if with_answers else float("nan")
    return {"R@1": r1 / n, "R@5": r5 / n, "MRR@10": mrr / n, "answer sentence": accuracy, "ms/q": elapsed}


def ours(evalset: EvalSet, weighting: Weighting, settings: AnswerSettings) -> Ranker:
    """Our engine: the ranking of paragraphs and the first quote of the answer."""
    documents, _ = read_folder(evalset.folder)
    index = Index.build(documents, all_passages(documents), weighting)
    forced = replace(settings, min_confidence=0.0)  # rank every question; not-found is measured apart

    def rank(question: str) -> tuple[list[tuple[str, int]], str]:
        vector = index.query_vector(question)
        ranked: list[tuple[str, int]] = []
        for hit in index.search(vector, 30):
            p = index.passages[hit.passage]
            key = (p.doc_id.removesuffix(".txt"), p.paragraph - 1)
            if key not in ranked:
                ranked.append(key)
        result = answer(index, question, (), forced)
        return ranked, result.quotes[0].text if result.quotes else ""

    return rank


def peer(evalset: EvalSet, kind: str, stem: bool, scores: bool = False) -> Any:
    """bm25s or rank-bm25 over the same paragraphs, with bm25s's tokenizer (English stop words)."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english") if stem else None
    texts = [p for _, _, p in evalset.paragraphs]
    corpus_tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
    if kind == "bm25s":
        model = bm25s.BM25()
        model.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    else:
        from rank_bm25 import BM25Okapi

        okapi = BM25Okapi(corpus_tokens)

    def rank(question: str) -> tuple[list[tuple[str, int]], Any]:
        q_tokens = bm25s.tokenize([question], stopwords="en", stemmer=stemmer, return_ids=False,
                                  show_progress=False)[0]
        if kind == "bm25s":
            found = model.get_scores(q_tokens)
        else:
            found = okapi.get_scores(q_tokens)
        order = np.argsort(-found, kind="stable")[:10]
        ranked = [evalset.paragraphs[i][:2] for i in order]
        if scores:  # the top score, for thresholding
            return ranked, float(found[order[0]]) if len(order) else 0.0
        return ranked, best_sentence(texts[order[0]], set(q_tokens), stemmer)

    return rank


def best_sentence(paragraph: str, q_tokens: set[str], stemmer: object) -> str:
    """The peers' answer sentence: the one sharing most distinct question tokens."""
    import bm25s

    spans = split_sentences(paragraph)
    sentences = [paragraph[a:b] for a, b in spans] or [paragraph]
    tokens = bm25s.tokenize(sentences, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
    return max(zip(sentences, tokens, strict=True), key=lambda st: len(q_tokens & set(st[1])))[0]


def calibrate(evalset: EvalSet, settings: AnswerSettings, weighting: Weighting) -> str:
    """Not found, half-indexed: half the articles indexed (sorted by id, every other one), every question
    asked; a question is answerable when its article is indexed. Ours with the fitted not-found model at
    its operating point, the curve around it, and bm25s (+ stemmer) over the same half with its top score
    thresholded so that it answers the same share of unanswerable questions, in the same run."""
    from bench.calibrate import half_index, operating_point, probabilities, rates, squad_rows
    from retrieval import calibration

    rows = squad_rows(settings, weighting, evalset.questions, evalset.folder)
    model = calibration.load()
    p = probabilities(model, rows)
    ours_rates = rates(p, rows, model.threshold, lambda r: True)
    lines = ["| method | answered (answerable) | right paragraph first (answerable) | answered (unanswerable) |",
             "|---|---:|---:|---:|",
             _rate_row("ours, fitted not-found model", ours_rates)]
    false_rate = ours_rates["answered (unanswerable)"]
    for target in (0.05, 0.15, 0.20):
        lines.append(_rate_row(f"ours at {target:.0%} unanswerable answered",
                               rates(p, rows, operating_point(p, rows, target), lambda r: True)))
    index, held = half_index(evalset.folder, weighting)
    lines.append(_rate_row("bm25s + stemmer, top score thresholded to ours' rate",
                           _bm25s_half(evalset, held, false_rate)))
    return "\n".join(lines)


def _rate_row(label: str, r: dict[str, float]) -> str:
    return (f"| {label} | {r['answered (answerable)']:.3f} | {r['right first (answerable)']:.3f} | "
            f"{r['answered (unanswerable)']:.3f} |")


def _bm25s_half(evalset: EvalSet, held: set[str], false_rate: float) -> dict[str, float]:
    """bm25s (+ stemmer) over the indexed half, its top score thresholded to answer `false_rate` of the
    unanswerable questions."""
    kept = EvalSet(evalset.name, [p for p in evalset.paragraphs if p[0] not in held], evalset.questions,
                   evalset.folder)
    rank = peer(kept, "bm25s", True, scores=True)
    tops, right, answerable = [], [], []
    for q in evalset.questions:
        ranked, top = rank(q["question"])
        gold = {(d, p) for d, p in q["gold"]}
        answerable.append(all(d not in held for d, _ in q["gold"]))
        right.append(bool(ranked) and ranked[0] in gold)
        tops.append(float(top))
    neg = np.sort([t for t, a in zip(tops, answerable, strict=True) if not a])[::-1]
    allowed = int(np.floor(false_rate * len(neg)))
    threshold = float(np.nextafter(neg[allowed], np.inf)) if allowed < len(neg) else -np.inf
    said = [t >= threshold for t in tops]
    pos = [i for i, a in enumerate(answerable) if a]
    negs = [i for i, a in enumerate(answerable) if not a]
    return {"answered (answerable)": float(np.mean([said[i] for i in pos])),
            "right first (answerable)": float(np.mean([said[i] and right[i] for i in pos])),
            "answered (unanswerable)": float(np.mean([said[i] for i in negs]))}


def table(rows: Sequence[tuple[str, dict[str, float]]]) -> str:
    """A markdown table of metric rows."""
    keys = list(rows[0][1])
    lines = ["| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{v:.3f}" for v in m.values()) + " |" for name, m in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run every set and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="squad,trecqa_news,cranfield")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--variants", action="store_true", help="also measure other weightings")
    args = parser.parse_args(argv)
    out: list[str] = []
    for name in args.sets.split(","):
        evalset = load_set(name, args.limit)
        variants = {"ours (BM25-weighted TF-IDF, stems)": (Weighting(), AnswerSettings())}
        if args.variants:
            variants |= {label: (w, AnswerSettings()) for label, w in VARIANTS.items()}
            variants["ours, no answer-kind bonus"] = (Weighting(), AnswerSettings(answer_kinds=False))
        rows = [(label, metrics(evalset, ours(evalset, w, a))) for label, (w, a) in variants.items()]
        rows += [
            ("bm25s", metrics(evalset, peer(evalset, "bm25s", False))),
            ("bm25s + stemmer", metrics(evalset, peer(evalset, "bm25s", True))),
            ("rank-bm25 BM25Okapi", metrics(evalset, peer(evalset, "rank-bm25", False))),
        ]
        text = f"### {name}: {len(evalset.questions)} questions, {len(evalset.paragraphs)} paragraphs\n\n"
        text += table(rows)
        if name == "squad":
            text += "\n\nNot found, half the articles indexed (every question asked):\n\n"
            text += calibrate(evalset, AnswerSettings(), Weighting())
        print(text + "\n", flush=True)
        out.append(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quality.md").write_text("\n\n".join(out) + "\n", encoding="utf-8")


VARIANTS = {
    "tf-idf cosine (sklearn defaults)": Weighting(tf="raw", idf="smooth", norm="l2", query="idf", stem=False,
                                                  stop_words=False),
    "tf-idf cosine, sublinear, stop words": Weighting(tf="log", idf="smooth", norm="l2", query="idf", stem=False),
    "+ stems": Weighting(tf="log", idf="smooth", norm="l2", query="idf"),
    "+ stems, query binary": Weighting(tf="log", idf="smooth", norm="l2", query="binary"),
    "BM25 weighting, no stems": Weighting(stem=False),
    "BM25 weighting, stems, bigrams": Weighting(bigrams=True),
    "BM25 weighting, k1=1.5 b=0.75": Weighting(k1=1.5),
    "BM25 weighting, k1=0.9 b=0.4": Weighting(k1=0.9, b=0.4),
}

if __name__ == "__main__":
    main()
