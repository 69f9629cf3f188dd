"""Multi-document summaries on DUC 2003 task 2: ROUGE F ×100 (rouge-score, Porter stemming) of 100-word
summaries against each cluster's four human summaries (the mean over the four, as ROUGE's model
average), for sumy's LexRank, a TF-IDF centroid + MMR (λ 0.6) baseline and ours, all in one run.

Every system picks from the same sentences (the project's splitter over the project's reading of each
article). LexRank and centroid + MMR take sentences best first until 100 words and are cut at 100
words, as DUC's evaluation cut every system; ours is `summarize_collection(index, words=100)`, the
summary `qa-bot summary --words 100` prints: whole sentences that fit, never cut.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

import numpy as np

from retrieval.index import Index
from retrieval.model import Document, Summary
from retrieval.passages import all_passages
from retrieval.summary import ELLIPSIS, SummarySettings, sentence_vectors, summarize_collection
from retrieval.summary_order import dangles
from retrieval.summary_pool import reading_places
from retrieval.text import split_sentences

from .duc2003 import Cluster

WORDS = 100
System = Callable[[Cluster], list[str]]  # a cluster -> its summary's sentences, in the order shown


@dataclass
class Scores:
    """One system's mean figures over the clusters."""

    rouge1: float
    rouge2: float
    rouge2_recall: float
    words: float
    ms: float


def body_sentences(documents: Sequence[Document]) -> list[str]:
    """Every sentence of every paragraph, documents in date order."""
    ordered = sorted(documents, key=lambda d: (d.date or "", d.id))
    return [p[a:b] for d in ordered for p in d.paragraphs for a, b in split_sentences(p)]


def first_words(sentences: Sequence[str], words: int = WORDS) -> str:
    """The sentences joined, cut after `words` words."""
    return " ".join(" ".join(sentences).split()[:words])


def fill(ranked: Sequence[str], words: int = WORDS) -> list[str]:
    """The best-ranked sentences until `words` words are reached."""
    chosen: list[str] = []
    spent = 0
    for s in ranked:
        if spent >= words:
            break
        chosen.append(s)
        spent += len(s.split())
    return chosen


def lexrank(cluster: Cluster) -> list[str]:
    """sumy's LexRank over the cluster's sentences, best first, until 100 words."""
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.nlp.stemmers import Stemmer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.utils import get_stop_words

    from .summary import SumyTokenizer

    tokenizer = SumyTokenizer()
    summarizer = LexRankSummarizer(Stemmer("english"))
    summarizer.stop_words = get_stop_words("english")
    sentences = [Sentence(s, tokenizer) for s in body_sentences(cluster.documents)]
    ranked: list[str] = []

    def keep_ranking(infos: list[Any]) -> list[Any]:  # sumy hands its count the sentences best first
        ranked.extend(str(i.sentence) for i in infos)
        return infos

    summarizer(ObjectDocumentModel([Paragraph(sentences)]), keep_ranking)
    return fill(ranked)


def centroid_mmr(cluster: Cluster, lam: float = 0.6) -> list[str]:
    """TF-IDF (scikit-learn, English stop words) centroid of the sentences, then MMR with λ until 100 words."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    sentences = body_sentences(cluster.documents)
    vectors = TfidfVectorizer(stop_words="english").fit_transform(sentences)
    centroid = np.asarray(vectors.mean(axis=0)).ravel()
    centroid /= np.linalg.norm(centroid) or 1.0
    relevance = np.asarray(vectors @ centroid).ravel()
    sims = (vectors @ vectors.T).toarray()
    chosen: list[int] = []
    closest = np.zeros(len(sentences))
    spent = 0
    while spent < WORDS and len(chosen) < len(sentences):
        gain = lam * relevance - (1 - lam) * closest
        gain[chosen] = -np.inf
        k = int(np.argmax(gain))
        chosen.append(k)
        closest = np.maximum(closest, sims[k])
        spent += len(sentences[k].split())
    return [sentences[k] for k in chosen]


def ours(settings: SummarySettings = SummarySettings()) -> System:
    """The collection summary of an index of the cluster, 100 words."""
    def run(cluster: Cluster) -> list[str]:
        index = Index.build(cluster.documents, all_passages(cluster.documents))
        return [s.text for s in summarize_collection(index, words=WORDS, settings=settings).sentences]

    return run


def evaluate(clusters: Sequence[Cluster], system: System) -> Scores:
    """Mean ROUGE-1/2 F and ROUGE-2 recall (×100) over clusters, each the mean over the four references."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"], use_stemmer=True)
    r1, r2, r2r, lengths, spent = [], [], [], [], 0.0
    for cluster in clusters:
        started = time.perf_counter()
        sentences = system(cluster)
        spent += time.perf_counter() - started
        text = first_words(sentences)
        lengths.append(len(text.split()))
        scores = [scorer.score(ref, text) for ref in cluster.references]
        r1.append(statistics.mean(s["rouge1"].fmeasure for s in scores))
        r2.append(statistics.mean(s["rouge2"].fmeasure for s in scores))
        r2r.append(statistics.mean(s["rouge2"].recall for s in scores))
    return Scores(100 * statistics.mean(r1), 100 * statistics.mean(r2), 100 * statistics.mean(r2r),
                  statistics.mean(lengths), spent * 1000 / len(clusters))


def reader_checks(clusters: Sequence[Cluster], settings: SummarySettings = SummarySettings()) -> dict[str, float]:
    """What a reader sees in our 100-word summaries: dangling openings, redundant pairs, order, cut
    sentences, and the time of a summary after the first call on its index."""
    sentences = dangling = pairs = redundant = disordered = cut = 0
    warm: list[float] = []
    for cluster in clusters:
        index = Index.build(cluster.documents, all_passages(cluster.documents))
        summary = summarize_collection(index, words=WORDS, settings=settings)
        warm.append(_warm_ms(lambda ix=index: summarize_collection(ix, words=WORDS, settings=settings)))
        texts = [s.text for s in summary.sentences]
        sentences += len(texts)
        dangling += _dangling(summary)
        cut += sum(t.endswith(ELLIPSIS) for t in texts)
        vectors = sentence_vectors(index, texts)
        sims = (vectors @ vectors.T).toarray()
        pairs += len(texts) * (len(texts) - 1) // 2
        redundant += sum(sims[i, j] > 0.5 for i, j in combinations(range(len(texts)), 2))
        disordered += not _in_order(index, summary)
    return {"sentences": sentences, "dangling openings": dangling, "pairs": pairs,
            "pairs with cosine > 0.5": redundant, "summaries out of date order": disordered,
            "cut sentences": cut, "median ms": statistics.median(warm), "max ms": max(warm)}


def _dangling(summary: Summary) -> int:
    """Sentences that open with a pronoun or connective without their document's previous sentence right before."""
    count = 0
    for i, s in enumerate(summary.sentences):
        if dangles(s.text):
            before = summary.sentences[i - 1] if i else None
            count += before is None or before.source != s.source
    return count


def _in_order(index: Index, summary: Summary) -> bool:
    """Whether sentences follow their documents' dates (an undated one after the one before it), then
    their place in the document."""
    places = reading_places(index)
    keys = [(places[s.source], index.documents[s.source].text.find(s.text)) for s in summary.sentences]
    return keys == sorted(keys)


def _warm_ms(fn: Callable[[], object], runs: int = 5) -> float:
    """Median ms of `runs` calls after a first one."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


ABLATIONS = {
    "exact covering (scipy milp, HiGHS)": replace(SummarySettings(), exact_up_to=100_000),
    "plain greedy covering (no extra starts)": replace(SummarySettings(), greedy_seeds=0),
    "no dangling rule": replace(SummarySettings(), dangling=False),
    "concepts in ≥ 30 % of the documents (3 of 10, as ICSISumm)": replace(SummarySettings(), concept_share=0.3),
    "concepts in ≥ 60 % of the documents": replace(SummarySettings(), concept_share=0.6),
}


def report(clusters: Sequence[Cluster], ablations: bool) -> str:
    """The ROUGE table of every system and what a reader sees in ours, as markdown."""
    base = SummarySettings()
    systems: list[tuple[str, System]] = [
        ("sumy LexRank", lexrank),
        ("TF-IDF centroid + MMR (λ 0.6)", centroid_mmr),
        ("ours, selecting by centrality + MMR as before (with the new order, budget and dangling rules)",
         ours(replace(base, selection="mmr"))),
        ("**ours (`qa-bot summary --words 100`)**", ours(base)),
    ]
    if ablations:
        systems += [(f"ours, {label}", ours(settings)) for label, settings in ABLATIONS.items()]
    lines = ["| system | ROUGE-2 F | ROUGE-2 R | ROUGE-1 F | words | ms/summary |", "|---|---|---|---|---|---|"]
    for name, system in systems:
        s = evaluate(clusters, system)
        lines.append(f"| {name} | {s.rouge2:.2f} | {s.rouge2_recall:.2f} | {s.rouge1:.2f} | {s.words:.1f} | "
                     f"{s.ms:.1f} |")
    lines += ["", "ms/summary: the whole call, building the cluster's index included (LexRank and the centroid need "
              "none).", "", "What a reader sees (100-word summaries of the 30 clusters):", "",
              "| | sentences | dangling openings | pairs with cosine > 0.5 | out of date order | cut sentences | "
              "ms after the first call (median / max) |", "|---|---|---|---|---|---|---|"]
    for name, settings in (("ours", base),):
        c = reader_checks(clusters, settings)
        lines.append(f"| {name} | {c['sentences']} | {c['dangling openings']} | {c['pairs with cosine > 0.5']} of "
                     f"{c['pairs']} | {c['summaries out of date order']} of {len(clusters)} | {c['cut sentences']} | "
                     f"{c['median ms']:.1f} / {c['max ms']:.1f} |")
    return "\n".join(lines)
