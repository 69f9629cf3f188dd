"""Pseudo-relevance feedback (retrieval/feedback.py): words the best passages share join the search at a
low weight, so a passage in the documents' own words is found for a question asked in other words."""

from __future__ import annotations

from retrieval.feedback import Feedback, expansion, search_with_feedback
from retrieval.index import Index
from retrieval.model import Document
from retrieval.passages import all_passages

PARAGRAPHS = (
    "The Swagger page is served at /docs, and docs_url sets its address.",
    "Swagger draws a page for every endpoint; docs_url moves it elsewhere.",
    "Set docs_url to None to disable the interactive docs.",  # the documents' words for "hide the page"
    "A database keeps its rows in tables on the disk.",
    "Background tasks run after the response is sent to the client.",
    "Middleware runs before every request and after every response.",
    "Swagger also has a dark theme.",  # holds a question word, and nothing the other two share
)


def index() -> Index:
    doc = Document("docs.txt", "Docs", None, PARAGRAPHS, "h")
    return Index.build([doc], all_passages([doc]))


def vector(idx: Index, question: str) -> dict[int, float]:
    return idx.query_vector(question)


def test_a_passage_in_the_documents_words_is_found_through_the_best_passages() -> None:
    idx = index()
    question = vector(idx, "how do I hide the swagger page")
    plain = [h.passage for h in idx.search(question, 5)]
    searched = search_with_feedback(idx, question, 5)
    found = [h.passage for h in searched.ranked]
    assert 2 not in plain  # it holds no word of the question
    assert 2 in found
    assert found[:2] == plain[:2]  # the passages in the question's own words stay first
    assert [h.passage for h in searched.plain] == plain  # the evidence for answering at all is the plain search


def test_added_terms_are_shared_by_several_passages_and_weigh_little() -> None:
    idx = index()
    question = vector(idx, "how do I hide the swagger page")
    hits = idx.search(question, 5)
    added = expansion(idx, question, hits, Feedback(weight=0.1))
    names = {term for term, tid in idx.vocabulary.items() if tid in added}
    assert {"doc", "url"} <= names  # both Swagger passages say docs_url
    assert "dark" not in names and "theme" not in names  # only one passage says them
    assert set(added.values()) == {0.1}
    assert not set(added) & set(question)


def test_no_feedback_is_the_plain_search() -> None:
    idx = index()
    question = vector(idx, "how do I hide the swagger page")
    plain = idx.search(question, 5)
    assert search_with_feedback(idx, question, 5, None) == (plain, plain)
    assert search_with_feedback(idx, question, 5, Feedback(weight=0.0)) == (plain, plain)
    assert search_with_feedback(idx, vector(idx, "quantum entanglement"), 5) == ([], [])
