"""The rules of topic and collection summaries, each shown on a small made-up cluster of articles: reading
order by date, no dangling openings, no two sentences saying the same, budgets of whole sentences, topic
passages only, and the seeds' collection summary holding to all of them."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest

from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.model import Summary
from retrieval.passages import all_passages
from retrieval.summary import (
    ELLIPSIS,
    SummarySettings,
    sentence_vectors,
    summarize_collection,
    summarize_document,
    summarize_topic,
)
from retrieval.summary_order import dangles
from retrieval.summary_pool import reading_places

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# Three reports of one flood, filed in an order that is not their dates' (a.txt is the latest), and an
# undated follow-up that belongs after b.txt, the article before it in the folder.
FLOOD = {
    "a.txt": "date 2024-03-05\n\nThe river Severn fell below the flood barrier at Upton on Tuesday. "
             "Shops in Upton reopened after the flood. "
             "Insurers said the flood damage in Upton would cost millions.",
    "b.txt": "date 2024-03-01\n\nThe river Severn burst its banks at Upton on Friday after days of rain. "
             "However, the flood barrier at Upton held back the river Severn for a day, officials said. "
             "Residents moved furniture upstairs.",
    "c.txt": "Volunteers filled sandbags in Upton overnight. "
             "Officials said the barrier held back the water as the river Severn kept rising.",
    "d.txt": "date 2024-03-03\n\nThe river Severn reached its peak on Sunday. "
             "Army engineers checked the flood barrier at Upton. "
             "They said it held back the river for a day."
}


def build(folder: Path, files: dict[str, str] | None = None) -> Index:
    if files is not None:
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    documents, _ = read_folder(folder)
    return Index.build(documents, all_passages(documents))


@pytest.fixture
def flood(tmp_path: Path) -> Index:
    return build(tmp_path / "flood", FLOOD)


@pytest.fixture(scope="module")
def seeds() -> Index:
    return build(SEEDS)


def all_sentences(index: Index) -> list[str]:
    """Every sentence of the index, as summaries split them."""
    return [index.passages[p].text[a:b] for p in range(len(index.passages)) for a, b in index.sentences(p)]


def texts(summary: Summary) -> list[str]:
    return [s.text for s in summary.sentences]


def document_order(index: Index, summary: Summary) -> list[tuple[tuple[str, int], int]]:
    """Each sentence's place: its document's (date, position), then where it stands in the document."""
    places = reading_places(index)
    return [(places[s.source], index.documents[s.source].text.index(s.text)) for s in summary.sentences]


def assert_no_dangling(index: Index, summary: Summary) -> None:
    """Every sentence that opens with "He", "However"… comes right after the sentence before it in its document."""
    for i, s in enumerate(summary.sentences):
        if dangles(s.text):
            assert i > 0, s.text
            before = summary.sentences[i - 1]
            doc = index.documents[s.source].text
            between = doc[doc.index(before.text) + len(before.text):doc.index(s.text)]
            assert before.source == s.source and between.strip() == ""


def test_undated_documents_keep_their_place_after_the_dated_one_before_them(flood: Index) -> None:
    places = reading_places(flood)
    assert places == {"a.txt": ("2024-03-05", 0), "b.txt": ("2024-03-01", 1), "c.txt": ("2024-03-01", 2),
                      "d.txt": ("2024-03-03", 3)}


def test_collection_summary_follows_the_articles_dates_then_their_own_order(flood: Index) -> None:
    summary = summarize_collection(flood, sentences=6)
    assert len({s.source for s in summary.sentences}) >= 3
    order = document_order(flood, summary)
    assert order == sorted(order)
    assert summary.sentences[0].source == "b.txt"  # the earliest report opens, though a.txt comes first in the folder


def test_a_dangling_sentence_comes_only_after_the_one_it_depends_on(flood: Index) -> None:
    however = "However, the flood barrier at Upton held back the river Severn for a day, officials said."
    loose = summarize_collection(flood, sentences=1, settings=replace(SummarySettings(), dangling=False))
    assert texts(loose) == [however]  # its concepts make it the best single sentence…
    for n in range(1, 7):
        summary = summarize_collection(flood, sentences=n)
        assert not dangles(summary.sentences[0].text)
        assert_no_dangling(flood, summary)
    assert texts(summarize_collection(flood, sentences=1)) != [however]  # …but not on its own
    pair = ["The river Severn burst its banks at Upton on Friday after days of rain.", however]
    assert texts(summarize_collection(flood, sentences=5))[:2] == pair  # with room, it comes after its antecedent


def test_a_sentence_that_dangles_at_the_start_of_its_document_is_never_chosen(tmp_path: Path) -> None:
    index = build(tmp_path / "docs", {
        "a.txt": "But the river Severn flood barrier at Upton held. Shops stayed shut.",
        "b.txt": "The river Severn flood barrier at Upton was raised. Buses stopped.",
        "c.txt": "Engineers said the river Severn flood barrier at Upton worked.",
    })
    for n in (1, 2, 3):
        assert all(not s.text.startswith("But") for s in summarize_collection(index, sentences=n).sentences)


def test_no_two_sentences_say_the_same(flood: Index, seeds: Index) -> None:
    for index in (flood, seeds):
        for kwargs in ({"sentences": 8}, {"words": 100}):
            summary = summarize_collection(index, **kwargs)  # type: ignore[arg-type]
            vectors = sentence_vectors(index, texts(summary))
            sims = (vectors @ vectors.T).toarray()
            assert all(sims[i, j] <= 0.5 for i, j in combinations(range(len(summary.sentences)), 2))


def test_a_word_budget_takes_whole_sentences_that_fit(flood: Index) -> None:
    for budget in (12, 20, 30, 45):
        summary = summarize_collection(flood, words=budget)
        lengths = [len(t.split()) for t in texts(summary)]
        assert 0 < sum(lengths) <= budget and not any(t.endswith(ELLIPSIS) for t in texts(summary))
        # and no sentence left out would still fit, unless it dangles or repeats a chosen one
        chosen = sentence_vectors(flood, texts(summary))
        for text in all_sentences(flood):
            if text not in texts(summary) and not dangles(text):
                repeats = (sentence_vectors(flood, [text]) @ chosen.T).toarray().max() >= 0.5
                assert repeats or len(text.split()) > budget - sum(lengths), (budget, text)


def test_only_a_sentence_longer_than_the_whole_budget_is_cut(flood: Index) -> None:
    summary = summarize_collection(flood, words=3)  # the shortest sentence has four words
    assert len(summary.sentences) == 1 and summary.sentences[0].text.endswith(ELLIPSIS)
    assert len(summary.sentences[0].text.split()) == 3


def test_words_alone_let_the_budget_decide_how_many_sentences(flood: Index) -> None:
    assert len(summarize_collection(flood, words=200).sentences) > 5  # more than the default five


def test_topic_summary_quotes_only_sentences_naming_the_topic(tmp_path: Path) -> None:
    index = build(tmp_path / "docs", FLOOD | {
        "e.txt": "date 2024-03-02\n\nThe council election in Upton was postponed because of the flood. "
                 "Mayor Jane Hill spoke at the riverside on Friday. She said the election would be held in May.",
    })
    summary = summarize_topic(index, "election")
    assert summary.sentences and all("election" in s.text or s.text.startswith("Mayor Jane Hill")
                                     for s in summary.sentences)
    she = [i for i, s in enumerate(summary.sentences) if s.text.startswith("She said")]
    for i in she:  # "She" needs the sentence before it, though that one does not name the election
        assert i > 0 and summary.sentences[i - 1].text == "Mayor Jane Hill spoke at the riverside on Friday."
    assert_no_dangling(index, summary)
    assert all(not s.text.startswith("Mayor") for s in summarize_topic(index, "election", sentences=1).sentences)


def test_topic_terms_weigh_in(flood: Index) -> None:
    """Among sentences that all name the topic, the covering prefers the concepts that hold its terms."""
    summary = summarize_topic(flood, "insurers damage", sentences=1)
    assert texts(summary) == ["Insurers said the flood damage in Upton would cost millions."]
    summary = summarize_topic(flood, "sandbags", sentences=1)
    assert texts(summary) == ["Volunteers filled sandbags in Upton overnight."]


def test_the_seeds_collection_summary_reads_in_order_and_starts_cleanly(seeds: Index) -> None:
    for kwargs in ({}, {"words": 100}, {"sentences": 8}):
        summary = summarize_collection(seeds, **kwargs)  # type: ignore[arg-type]
        order = document_order(seeds, summary)
        assert order == sorted(order)
        assert not dangles(summary.sentences[0].text)
        assert_no_dangling(seeds, summary)


def test_a_sentence_announcing_what_follows_is_never_chosen(tmp_path: Path) -> None:
    index = build(tmp_path / "docs", {
        "a.md": "# Barrier\n\nThe river Severn flood barrier at Upton is raised with the winch:\n\n- turn the key\n\n"
                "The river Severn flood barrier at Upton held.",
        "b.md": "# Flood\n\nThe river Severn flood barrier at Upton was raised on Friday.",
        "c.md": "# Rain\n\nThe river Severn flood barrier at Upton stood all week.",
    })
    for summary in (summarize_collection(index, sentences=5), summarize_topic(index, "flood barrier winch")):
        assert summary.sentences and all(not s.text.endswith(":") for s in summary.sentences)


def test_this_x_under_a_heading_that_names_x_does_not_dangle(tmp_path: Path) -> None:
    index = build(tmp_path / "docs", {
        "limits.md": "# Rate Limits\n\n## Invalid Request Limit\n\nThis limit is 10,000 per 10 minutes for each IP.",
        "visit.txt": "Talks\n\nThis visit marks the first meeting of the two leaders this year.",
    })
    assert texts(summarize_collection(index)) == ["This limit is 10,000 per 10 minutes for each IP."]
    assert texts(summarize_document(index, "limits.md")) == ["This limit is 10,000 per 10 minutes for each IP."]


def test_a_summary_of_sentences_that_all_point_back_is_not_empty(tmp_path: Path) -> None:
    index = build(tmp_path / "docs", {"a.txt": "Notes\n\nHe said the river Severn flood barrier held at Upton."})
    for summary in (summarize_document(index, "a.txt"), summarize_topic(index, "flood barrier"),
                    summarize_collection(index)):
        assert texts(summary) == ["He said the river Severn flood barrier held at Upton."]
