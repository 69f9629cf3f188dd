"""Summary quality on BBC news and on DUC 2003 news clusters, redundancy of the collection summary, and
summary speed.

    python -m bench.summary [--limit N] [--per-article] [--ablations] [--duc PATH | --no-duc]

Quality: ROUGE-1/2/L F1 (rouge-score, Porter stemming) of lead-k, sumy's LexRank and TextRank and ours
against the 500 extractive BBC references, each method giving as many sentences as the reference has
(one a line). The article's first line is its title and is left out by every method. Ours indexes all
500 articles as one collection (better idf than one article alone) unless --per-article.
Multi-document: DUC 2003 task 2, ROUGE-2 F at 100 words, ours against sumy's LexRank and a TF-IDF
centroid + MMR baseline (bench/summary_multi.py); the data is found or fetched by bench/duc2003.py
(--duc PATH, $QA_DUC2003, a mirror, or a sparse clone into a temporary folder) and never kept here.
Redundancy: share of sentence pairs of the seeds' collection summary with TF-IDF cosine above 0.5.
Speed: median ms of topic and collection summaries over the seeds and over a 10-article BBC cluster.
Everything is printed and written to bench/results/summary.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path

import numpy as np

from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.model import Document
from retrieval.passages import all_passages
from retrieval.summary import (
    SummarySettings,
    sentence_vectors,
    summarize_collection,
    summarize_document,
    summarize_topic,
)
from retrieval.text import split_sentences

from . import duc2003, summary_multi

ROOT = Path(__file__).resolve().parent.parent
BBC = ROOT.parent / "shared" / "eval" / "bbc_summary"
RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = ROOT / "seeds"

Summariser = Callable[[Document, int], list[str]]  # article, number of sentences -> sentences


@dataclass
class Article:
    """One BBC article and its reference summary."""

    document: Document
    reference: list[str]


def load_bbc(limit: int | None) -> list[Article]:
    """The articles read with the project's own reader, and their references (one sentence a line)."""
    documents, _ = read_folder(BBC / "articles")
    documents.sort(key=lambda d: d.id)
    articles = []
    for doc in documents[:limit] if limit else documents:
        ref = (BBC / "references" / doc.id).read_text(encoding="utf-8").splitlines()
        articles.append(Article(doc, [line.strip() for line in ref if line.strip()]))
    return articles


def body_sentences(doc: Document) -> list[str]:
    """The article's sentences after its title."""
    return [p[a:b] for p in doc.paragraphs[1:] for a, b in split_sentences(p)]


def lead(doc: Document, n: int) -> list[str]:
    """The first `n` sentences."""
    return body_sentences(doc)[:n]


class SumyTokenizer:
    """What sumy asks of a tokenizer, without nltk's punkt data: our sentence splitter, words by regex."""

    _WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-])*")

    language = "english"

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        """Sentences of a paragraph."""
        return tuple(paragraph[a:b] for a, b in split_sentences(paragraph))

    def to_words(self, sentence: str) -> tuple[str, ...]:
        """Words of a sentence (letters, inner apostrophes and hyphens)."""
        return tuple(self._WORD.findall(sentence))


def sumy_summariser(kind: str) -> Summariser:
    """sumy's LexRank or TextRank over the article's body, English stemmer and stop words."""
    from sumy.nlp.stemmers import Stemmer
    from sumy.parsers.plaintext import PlaintextParser
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer
    from sumy.utils import get_stop_words

    summarizer = (LexRankSummarizer if kind == "lexrank" else TextRankSummarizer)(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    tokenizer = SumyTokenizer()

    def run(doc: Document, n: int) -> list[str]:
        parser = PlaintextParser.from_string("\n\n".join(doc.paragraphs[1:]), tokenizer)
        return [str(s) for s in summarizer(parser.document, n)]

    return run


def ours(articles: Sequence[Article], per_article: bool, settings: SummarySettings) -> Summariser:
    """summarize_document over one index of all the articles (or one index per article)."""
    docs = [a.document for a in articles]  # ours() on a subset still indexes every article given
    shared = None if per_article else Index.build(docs, all_passages(docs))

    def run(doc: Document, n: int) -> list[str]:
        index = shared or Index.build([doc], all_passages([doc]))
        return [s.text for s in summarize_document(index, doc.id, sentences=n, settings=settings).sentences]

    return run


def rouge(articles: Sequence[Article], summarise: Summariser) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1 against the references, at the reference's length."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"ROUGE-1": 0.0, "ROUGE-2": 0.0, "ROUGE-L": 0.0}
    spent = 0.0
    for article in articles:
        started = time.perf_counter()
        summary = summarise(article.document, len(article.reference))
        spent += time.perf_counter() - started
        scores = scorer.score("\n".join(article.reference), "\n".join(summary))
        for key, name in zip(totals, ("rouge1", "rouge2", "rougeL"), strict=True):
            totals[key] += scores[name].fmeasure
    return {k: v / len(articles) for k, v in totals.items()} | {"ms/summary": spent * 1000 / len(articles)}


def table(rows: Sequence[tuple[str, dict[str, float]]]) -> str:
    """A markdown table of metric rows."""
    keys = list(rows[0][1])
    lines = ["| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{v:.3f}" for v in m.values()) + " |" for name, m in rows]
    return "\n".join(lines)


def quality(articles: Sequence[Article], per_article: bool, ablations: bool) -> str:
    """The ROUGE table of every method, and the held-out half (the defaults were tuned on the other)."""
    base = SummarySettings()
    idf = "idf of each article alone" if per_article else "idf of all articles"
    textrank = sumy_summariser("textrank")
    rows = [
        ("lead-k (first k sentences)", rouge(articles, lead)),
        ("lead-3 (3 sentences whatever k)", rouge(articles, lambda d, n: lead(d, 3))),
        ("sumy LexRank", rouge(articles, sumy_summariser("lexrank"))),
        ("sumy TextRank", rouge(articles, textrank)),
        (f"ours ({idf})", rouge(articles, ours(articles, per_article, base))),
    ]
    if not per_article:
        alone = ours(articles, True, base)
        rows.append(("ours (each article indexed alone; ms incl. building its index)", rouge(articles, alone)))
    if ablations:
        for label, settings in ABLATIONS.items():
            rows.append((f"ours, {label}", rouge(articles, ours(articles, per_article, settings))))
    held_out = articles[1::2]
    held = [
        ("lead-k", rouge(held_out, lead)),
        ("sumy TextRank", rouge(held_out, textrank)),
        ("ours", rouge(held_out, ours(articles, per_article, base))),
    ]
    notes = ("\n\nEvery method leaves out the title line. ms/summary is one cold call per article (ours then splits "
             "and analyses the article's sentences for the first time); sumy parses the text each call.")
    held_note = (f"\n\nHeld-out half (the {len(held_out)} odd-numbered articles; the defaults were chosen on the "
                 "even-numbered ones):\n\n")
    return table(rows) + notes + held_note + table(held)


ABLATIONS = {
    "tf-idf centrality (idf-weighted rows)": replace(SummarySettings(), centrality_idf=True),
    "+ position prior 0.3 / (1 + i/3)": replace(SummarySettings(), position_weight=0.3),
    "+ length prior 0.2 min(1, words/25)": replace(SummarySettings(), length_weight=0.2),
    "+ MMR λ=0.7": replace(SummarySettings(), document_lambda=0.7),
    "no duplicate rule": replace(SummarySettings(), duplicate=1.01),
    "no minimum of 4 words": replace(SummarySettings(), min_words=1),
    "the first version (tf-idf, position prior 0.3, MMR λ=0.65)": replace(
        SummarySettings(), centrality_idf=True, position_weight=0.3, document_lambda=0.65),
}


def redundancy(index: Index, texts: Sequence[str], threshold: float = 0.5) -> tuple[float, float]:
    """Share of sentence pairs above `threshold` cosine, and the largest cosine, of `texts`."""
    vectors = sentence_vectors(index, texts)
    sims = (vectors @ vectors.T).toarray()
    pairs = list(combinations(range(len(texts)), 2))
    if not pairs:
        return 0.0, 0.0
    values = [float(sims[i, j]) for i, j in pairs]
    return sum(v > threshold for v in values) / len(pairs), max(values)


def median_ms(fn: Callable[[], object], runs: int = 30) -> tuple[float, float]:
    """The first (cold) call's ms and the median ms of the following calls."""
    started = time.perf_counter()
    fn()
    cold = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return cold, statistics.median(times)


def bbc_cluster(articles: Sequence[Article], size: int = 10) -> list[Document]:
    """An article and its `size - 1` nearest neighbours by TF-IDF cosine: a cluster on one story."""
    docs = [a.document for a in articles]
    index = Index.build(docs, all_passages(docs))
    vectors = sentence_vectors(index, [d.text for d in docs])
    sims = (vectors @ vectors.T).toarray()
    np.fill_diagonal(sims, 0)
    seed = int(np.argmax(np.sort(sims, axis=1)[:, -(size - 1) :].sum(axis=1)))  # the densest neighbourhood
    members = [seed, *np.argsort(-sims[seed])[: size - 1].tolist()]
    return [docs[i] for i in sorted(members)]


def speed_and_redundancy(articles: Sequence[Article]) -> str:
    """Redundancy of the seeds' collection summary, and timings over the seeds and a BBC cluster."""
    seeds, _ = read_folder(SEEDS)
    seeds_index = Index.build(seeds, all_passages(seeds))
    summary = summarize_collection(seeds_index)
    share, worst = redundancy(seeds_index, [s.text for s in summary.sentences])
    lines = [
        f"Collection summary of seeds/ ({len(seeds)} articles on one visit, {len(summary.sentences)} sentences): "
        f"share of sentence pairs with TF-IDF cosine > 0.5 = {share:.3f} (largest cosine {worst:.3f}).",
        "",
        "| corpus | summary | first call ms | median ms |",
        "|---|---|---|---|",
    ]
    cluster = bbc_cluster(articles)
    for name, docs, topic in (("seeds (5 articles)", seeds, "ceasefire hostages"),
                              (f"BBC cluster ({len(cluster)} articles)", cluster, cluster[0].title)):
        index = Index.build(docs, all_passages(docs))
        for kind, fn in (("collection", lambda ix=index: summarize_collection(ix)),
                         (f"topic “{topic}”", lambda ix=index, t=topic: summarize_topic(ix, t)),
                         ("document", lambda ix=index, d=docs[0].id: summarize_document(ix, d))):
            cold, warm = median_ms(fn)
            lines.append(f"| {name} | {kind} | {cold:.1f} | {warm:.1f} |")
    lines.append("")
    lines.append("BBC cluster: " + "; ".join(d.id for d in cluster))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print, and write bench/results/summary.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    parser.add_argument("--per-article", action="store_true", help="index each article on its own")
    parser.add_argument("--ablations", action="store_true", help="also measure ours without each part")
    parser.add_argument("--duc", type=Path, metavar="PATH", help=f"a folder holding duc2003/ (else ${duc2003.ENV}, "
                        "a mirror, or a clone)")
    parser.add_argument("--no-duc", action="store_true", help="skip the DUC 2003 multi-document benchmark")
    args = parser.parse_args(argv)
    articles = load_bbc(args.limit)
    head = (f"### BBC news summaries: {len(articles)} articles, ROUGE F1 at the reference's length "
            f"(mean {statistics.mean(len(a.reference) for a in articles):.1f} sentences)\n\n")
    text = head + quality(articles, args.per_article, args.ablations)
    print(text + "\n", flush=True)
    extra = "### Redundancy and speed\n\n" + speed_and_redundancy(articles)
    print(extra + "\n", flush=True)
    if not args.no_duc:
        extra += "\n\n" + multi_document(args.duc, args.ablations)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "summary.md").write_text(text + "\n\n" + extra + "\n", encoding="utf-8")


def multi_document(given: Path | None, ablations: bool) -> str:
    """The DUC 2003 task 2 benchmark, printed and returned as markdown."""
    with tempfile.TemporaryDirectory(prefix="duc2003-") as scratch:
        clusters = duc2003.load(duc2003.locate(given, Path(scratch)))
    head = (f"### News clusters: DUC 2003 task 2, {len(clusters)} clusters of "
            f"{statistics.mean(len(c.documents) for c in clusters):.1f} articles, four human 100-word summaries "
            "each; ROUGE ×100 (rouge-score, Porter stemmer) at 100 words, the mean over the four\n\n")
    text = head + summary_multi.report(clusters, ablations)
    print(text, flush=True)
    return text


if __name__ == "__main__":
    main()
