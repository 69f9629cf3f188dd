"""Index stop words: scikit-learn's English list without the words that name things in documents or carry
a question's point ("fire", "system", "once", "only"), which the analyser keeps as terms."""

from __future__ import annotations

from retrieval.answer import AnswerSettings, answer
from retrieval.index import Index
from retrieval.model import Document
from retrieval.passages import all_passages
from retrieval.text import INDEX_STOP_WORDS, STOP_WORDS, Analyser


def test_content_words_of_the_list_are_index_terms() -> None:
    terms = Analyser()("Does on_ready only fire once? The commands don't show up in the system menu.")
    assert {"fire", "onc", "onli", "readi", "system", "menu"} <= set(terms)
    assert not {"does", "the", "in", "on", "up"} & set(terms)  # function words still go


def test_the_question_readers_keep_the_whole_list() -> None:
    assert INDEX_STOP_WORDS < STOP_WORDS
    assert {"fire", "system", "once"} <= STOP_WORDS - INDEX_STOP_WORDS
    assert {"last", "call", "show", "the", "does"} <= INDEX_STOP_WORDS  # "how long did it last?", "show me…"


def test_a_question_is_answered_by_its_content_words() -> None:
    doc = Document("events.txt", "Events", None, (
        "The on_shard_ready event is similar to on_ready, for when a shard is ready.",
        "The on_ready event is not guaranteed to fire only once: reconnecting fires it again.",
        "The on_message event is called for every message.",
    ), "h")
    index = Index.build([doc], all_passages([doc]))
    result = answer(index, "does on_ready only fire once?", (), AnswerSettings(min_confidence=0.0))
    assert result.quotes[0].text.startswith("The on_ready event is not guaranteed")
