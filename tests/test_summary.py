"""Extractive summaries over a real index of the seeds and small inline corpora: what each kind picks,
that every sentence is verbatim with its paragraph, length caps, redundancy, unknown documents, and the
service and CLI around them."""

from __future__ import annotations

import gc
import json
import shutil
import weakref
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from bot.service import QAService
from retrieval.documents import is_heading, read_folder
from retrieval.errors import QuestionError, UnknownDocumentError
from retrieval.index import Index
from retrieval.model import Summary, SummarySentence
from retrieval.passages import all_passages
from retrieval.summary import (
    ELLIPSIS,
    sentence_vectors,
    summarize_collection,
    summarize_document,
    summarize_topic,
)
from retrieval.summary_order import dangles
from retrieval.text import split_sentences
from tests.support.processes import qa_bot

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
WASHINGTON = "004_311b2db2833709a6.txt"  # headline, then a "WASHINGTON" dateline, then the story
WASHINGTON_TITLE = "Netanyahu seeks firm backing from US during key visit"
REPEATED = "The old swing bridge over the Kelvin reopened to traffic on Monday after two years of repairs."


def build(folder: Path) -> Index:
    documents, _ = read_folder(folder)
    return Index.build(documents, all_passages(documents))


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def seeds() -> Index:
    return build(SEEDS)


@pytest.fixture
def bridges(tmp_path: Path) -> Index:
    """Three short articles; two repeat one sentence word for word."""
    return build(write(tmp_path / "bridges", {
        "a.txt": f"Bridge reopens\n\n{REPEATED} Drivers queued before dawn to cross it. "
                 "The council thanked residents for their patience during the works.",
        "b.txt": f"Traffic news\n\nRoad users had a better start to the week. {REPEATED} "
                 "Buses returned to their old routes through the west end by the afternoon.",
        "c.txt": "Library hours\n\nThe central library will open on Sundays from next month, the council said. "
                 "Volunteers will staff the reading room and the children's corner.",
    }))


def paragraph_text(index: Index, s: SummarySentence) -> str:
    return " ".join(index.passages[i].text for i in index.passages_of(s.source)
                    if index.passages[i].paragraph == s.paragraph)


def assert_verbatim(index: Index, summary: Summary) -> None:
    for s in summary.sentences:
        text = s.text.removesuffix(ELLIPSIS)
        assert text and text in paragraph_text(index, s), s
        doc = index.documents[s.source]
        assert (s.title, s.date) == (doc.title, doc.date)


def lead_sentence(index: Index, doc_id: str) -> str:
    """The first sentence of the document's first paragraph that is not a heading."""
    paragraph = next(p for p in index.documents[doc_id].paragraphs if not is_heading(p))
    a, b = split_sentences(paragraph)[0]
    return paragraph[a:b]


def words(summary: Summary) -> int:
    return sum(len(s.text.split()) for s in summary.sentences)


def max_cosine(index: Index, summary: Summary) -> float:
    vectors = sentence_vectors(index, [s.text for s in summary.sentences])
    sims = (vectors @ vectors.T).toarray()
    return max((float(sims[i, j]) for i, j in combinations(range(len(summary.sentences)), 2)), default=0.0)


# Document summaries


def test_document_summary_is_lead_then_central_sentences_in_document_order(seeds: Index) -> None:
    for doc_id, doc in seeds.documents.items():
        summary = summarize_document(seeds, doc_id)
        assert (summary.kind, summary.subject) == ("document", doc.title)
        assert len(summary.sentences) == 5
        assert summary.sentences[0].text == lead_sentence(seeds, doc_id)
        positions = [doc.text.index(s.text) for s in summary.sentences]
        assert positions == sorted(positions) and len(set(positions)) == 5
        assert [s.paragraph for s in summary.sentences] == sorted(s.paragraph for s in summary.sentences)
        assert all(s.source == doc_id and s.also_in == () for s in summary.sentences)
        assert_verbatim(seeds, summary)


def test_document_summary_skips_headline_and_dateline(seeds: Index) -> None:
    summary = summarize_document(seeds, WASHINGTON)
    assert summary.sentences[0].paragraph == 3  # ¶1 is the headline, ¶2 the "WASHINGTON" dateline
    assert all(not is_heading(s.text) for s in summary.sentences)


def test_document_summary_matches_a_brute_force_computation(seeds: Index) -> None:
    """Lead, then the highest cosine to the mean of the unit 1 + ln tf rows, skipping near-duplicates and
    sentences that dangle ("But…") before any other sentence is chosen."""
    for doc_id, doc in seeds.documents.items():
        sentences = [p[a:b] for p in doc.paragraphs if not is_heading(p) for a, b in split_sentences(p)]
        sentences = [s for s in sentences if len(s.split()) >= 4]
        vocab = sorted({t for s in sentences for t in seeds.analyser(s)})
        tf = np.zeros((len(sentences), len(vocab)))
        for i, s in enumerate(sentences):
            for t in set(seeds.analyser(s)):
                tf[i, vocab.index(t)] = 1 + np.log(seeds.analyser(s).count(t))
        unit = tf / np.linalg.norm(tf, axis=1, keepdims=True)
        centrality = unit @ unit.mean(axis=0)
        tfidf = sentence_vectors(seeds, sentences).toarray()
        chosen = [0]
        while len(chosen) < 5:
            ready = [i for i in range(len(sentences)) if i not in chosen
                     and all(float(tfidf[i] @ tfidf[j]) < 0.5 for j in chosen)
                     and (not dangles(sentences[i]) or any(j < i for j in chosen))]
            if not ready:
                break
            chosen.append(min(ready, key=lambda i: (-centrality[i], i)))
        expected = [sentences[i] for i in sorted(chosen)]
        assert [s.text for s in summarize_document(seeds, doc_id).sentences] == expected, doc_id


def test_document_summary_length_caps(seeds: Index) -> None:
    assert [s.text for s in summarize_document(seeds, WASHINGTON, sentences=1).sentences] == [
        lead_sentence(seeds, WASHINGTON)
    ]
    assert len(summarize_document(seeds, WASHINGTON, sentences=3).sentences) == 3
    lead_words = len(lead_sentence(seeds, WASHINGTON).split())
    full = summarize_document(seeds, WASHINGTON, sentences=5)
    capped = summarize_document(seeds, WASHINGTON, sentences=5, words=lead_words + 14)
    assert words(capped) <= lead_words + 14 and len(capped.sentences) >= 2
    assert capped.sentences[0].text == lead_sentence(seeds, WASHINGTON)
    assert all(not s.text.endswith(ELLIPSIS) for s in capped.sentences)  # whole sentences that fit, none cut
    left = lead_words + 14 - words(capped)  # a knapsack: what it leaves out of the unbudgeted summary did not fit
    assert all(len(s.text.split()) > left for s in full.sentences if s not in capped.sentences)
    assert_verbatim(seeds, capped)
    tiny = summarize_document(seeds, WASHINGTON, words=3)  # no sentence is that short: the lead is cut
    assert [s.text for s in tiny.sentences] == [" ".join(lead_sentence(seeds, WASHINGTON).split()[:3]) + ELLIPSIS]


def test_a_document_summary_never_opens_with_a_dangling_sentence(tmp_path: Path) -> None:
    index = build(write(tmp_path / "docs", {
        "bridge.txt": "Bridge opens\n\nMayor Jane Hill opened the new bridge over the river on Friday morning "
                      "after two years of works. She said it cost four million pounds.",
    }))
    assert [s.text for s in summarize_document(index, "bridge.txt").sentences] == [
        "Mayor Jane Hill opened the new bridge over the river on Friday morning after two years of works.",
        "She said it cost four million pounds."]  # after the sentence that names her
    # eight words leave no room for the lead, and "She said…" may not open: the lead is cut instead
    assert [s.text for s in summarize_document(index, "bridge.txt", words=8).sentences] == [
        "Mayor Jane Hill opened the new bridge over…"]


def test_a_short_document_gives_what_it_has(tmp_path: Path) -> None:
    index = build(write(tmp_path / "docs", {
        "short.txt": "A headline\n\nOnly one sentence here is long enough to quote.",
        "headings.md": "Just a heading\n\nAnd another one",
    }))
    assert [s.text for s in summarize_document(index, "short.txt").sentences] == [
        "Only one sentence here is long enough to quote."
    ]
    assert summarize_document(index, "headings.md").sentences == ()


def test_a_question_headline_is_not_the_lead(tmp_path: Path) -> None:
    index = build(write(tmp_path / "docs", {
        "q.txt": "Is the bridge safe?\n\nEngineers inspected the bridge on Monday and found no cracks. "
                 "It will stay open.",
    }))
    assert summarize_document(index, "q.txt").sentences[0].text.startswith("Engineers inspected")


# Unknown documents


def test_unknown_document_suggests_the_closest(seeds: Index) -> None:
    with pytest.raises(UnknownDocumentError) as caught:
        summarize_document(seeds, "004_311b2db2833709a7.txt")  # one character off
    assert caught.value.closest[0] == WASHINGTON and len(caught.value.closest) <= 3
    with pytest.raises(UnknownDocumentError) as caught:
        summarize_document(seeds, "netanyahu seeks firm backing")
    assert WASHINGTON in caught.value.closest


def test_the_start_of_exactly_one_id_is_accepted(seeds: Index) -> None:
    assert summarize_document(seeds, "004") == summarize_document(seeds, WASHINGTON)
    assert summarize_document(seeds, "004_311b2db2833709a6") == summarize_document(seeds, WASHINGTON)
    with pytest.raises(UnknownDocumentError) as caught:
        summarize_document(seeds, "00")  # too short to be taken as a name
    with pytest.raises(UnknownDocumentError) as caught:
        summarize_document(seeds, "00_")  # the start of no id
    assert caught.value.closest == () or all(c in seeds.documents for c in caught.value.closest)


def test_a_title_is_accepted_as_the_id(seeds: Index) -> None:
    assert summarize_document(seeds, WASHINGTON_TITLE.upper()) == summarize_document(seeds, WASHINGTON)


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", str(SEEDS / WASHINGTON), "seeds/" + WASHINGTON, ""])
def test_a_path_is_never_a_document(seeds: Index, name: str) -> None:
    with pytest.raises(UnknownDocumentError):
        summarize_document(seeds, name)


# Topic summaries


def test_topic_summary_quotes_sentences_about_the_topic(seeds: Index) -> None:
    summary = summarize_topic(seeds, "  Steve   Witkoff ")
    assert (summary.kind, summary.subject) == ("topic", "Steve Witkoff")
    assert 1 <= len(summary.sentences) <= 5
    assert all("Witkoff" in s.text or "Steve" in s.text for s in summary.sentences)
    assert "Witkoff" in summary.sentences[0].text
    assert_verbatim(seeds, summary)
    assert max_cosine(seeds, summary) < 0.5


def test_topic_summary_spans_documents_and_caps_length(seeds: Index) -> None:
    summary = summarize_topic(seeds, "ceasefire hostages", sentences=6)
    assert len(summary.sentences) == 6 and len({s.source for s in summary.sentences}) >= 2
    assert max_cosine(seeds, summary) < 0.5
    capped = summarize_topic(seeds, "ceasefire hostages", words=45)
    assert 0 < words(capped) <= 45 and all(not s.text.endswith(ELLIPSIS) for s in capped.sentences)
    assert all("ceasefire" in s.text.lower() or "hostage" in s.text.lower() for s in capped.sentences)
    assert_verbatim(seeds, capped)


def test_a_topic_no_document_mentions_gives_no_sentences(seeds: Index) -> None:
    assert summarize_topic(seeds, "zebra quantum origami") == Summary("topic", "zebra quantum origami")
    assert summarize_topic(seeds, "the and of").sentences == ()  # stop words only


def test_a_repeated_sentence_appears_once_with_the_other_source(bridges: Index) -> None:
    for summary in (summarize_topic(bridges, "bridge reopened traffic"), summarize_collection(bridges)):
        repeated = [s for s in summary.sentences if s.text == REPEATED]
        assert len(repeated) == 1, summary
        assert repeated[0].also_in == tuple({"a.txt", "b.txt"} - {repeated[0].source})
        assert all(s.also_in == () for s in summary.sentences if s.text != REPEATED)
        assert_verbatim(bridges, summary)


# Collection summaries


def test_collection_summary_of_the_seeds_has_no_redundant_pair(seeds: Index) -> None:
    summary = summarize_collection(seeds)
    assert (summary.kind, summary.subject) == ("collection", "5 documents")
    assert len(summary.sentences) == 5
    assert max_cosine(seeds, summary) <= 0.5
    assert len({s.source for s in summary.sentences}) >= 3
    assert_verbatim(seeds, summary)


def test_collection_summary_caps_length(seeds: Index) -> None:
    assert len(summarize_collection(seeds, sentences=2).sentences) == 2
    capped = summarize_collection(seeds, sentences=15, words=60)
    assert 40 <= words(capped) <= 60 and all(not s.text.endswith(ELLIPSIS) for s in capped.sentences)
    assert_verbatim(seeds, capped)
    shortest = min(len(seeds.passages[p].text[a:b].split()) for p in range(len(seeds.passages))
                   for a, b in seeds.sentences(p) if len(seeds.passages[p].text[a:b].split()) >= 4)
    tiny = summarize_collection(seeds, words=shortest - 1)  # no sentence fits: one is cut
    assert len(tiny.sentences) == 1 and tiny.sentences[0].text.endswith(ELLIPSIS) and words(tiny) == shortest - 1


def test_an_empty_collection_gives_no_sentences() -> None:
    index = Index.build([], [])
    assert summarize_collection(index).sentences == ()
    assert summarize_topic(index, "anything").sentences == ()


def test_sentence_cache_goes_with_its_index(tmp_path: Path) -> None:
    index = build(write(tmp_path / "docs", {"a.txt": f"Bridge\n\n{REPEATED} It took two years."}))
    first = summarize_collection(index)
    assert summarize_collection(index) == first
    ref = weakref.ref(index)
    del index
    gc.collect()
    assert ref() is None


# Service and command line


async def test_service_summaries(service: QAService) -> None:
    assert (await service.summary()).kind == "collection"
    document = await service.summary(document=WASHINGTON, sentences=3, words=80)
    assert document.kind == "document" and len(document.sentences) <= 3 and words(document) <= 80
    assert (await service.summary(topic="Witkoff")).kind == "topic"
    with pytest.raises(UnknownDocumentError):
        await service.summary(document="../seeds/" + WASHINGTON)


@pytest.mark.parametrize("kwargs", [
    {"sentences": 0}, {"sentences": 16}, {"sentences": -3}, {"words": 9}, {"words": 0},
    {"document": WASHINGTON, "topic": "Witkoff"}, {"topic": "   "}, {"topic": "x" * 1001},
])
async def test_service_rejects_bad_requests(service: QAService, kwargs: dict[str, object]) -> None:
    with pytest.raises(QuestionError):
        await service.summary(**kwargs)  # type: ignore[arg-type]


def test_cli_summary_json(tmp_path: Path) -> None:
    docs, db = tmp_path / "docs", tmp_path / "qa.sqlite3"
    shutil.copytree(SEEDS, docs)
    common = ["--docs", str(docs), "--db", str(db)]
    result = qa_bot(tmp_path, "summary", *common, "--json", "--sentences", "3")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["kind"] == "collection" and len(out["sentences"]) == 3
    for s in out["sentences"]:
        assert {"text", "source", "paragraph", "also_in"} <= set(s)
        assert s["text"] in (docs / s["source"]).read_text(encoding="utf-8")
    result = qa_bot(tmp_path, "summary", *common, "--document", WASHINGTON, "--words", "40", "--json")
    out = json.loads(result.stdout)
    assert out["kind"] == "document" and sum(len(s["text"].split()) for s in out["sentences"]) <= 40
    result = qa_bot(tmp_path, "summary", *common, "--topic", "Witkoff")
    assert result.returncode == 0 and "Witkoff" in result.stdout and f"— {WASHINGTON}, ¶" in result.stdout


def test_cli_unknown_document_is_one_error_line(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    result = qa_bot(tmp_path, "summary", "--docs", str(docs), "--db", str(tmp_path / "qa.sqlite3"),
                    "--document", "../etc/passwd")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: No indexed document is called '../etc/passwd'")
