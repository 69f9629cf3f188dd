"""CamelCase identifiers: their parts are index terms, for the documents and the questions alike."""

from __future__ import annotations

import pytest

from retrieval.answer import answer
from retrieval.index import Index
from retrieval.lexicon import joined
from retrieval.model import Document
from retrieval.passages import all_passages
from retrieval.text import Analyser, camel_parts, tokenize

HYBRID = "commands.HybridCommand is a command that can be invoked as both a text and a slash command."
PARAGRAPHS = (
    HYBRID,
    "A command is registered with the bot and invoked by its name, with the prefix before it.",
    "A slash command is synced to a guild; a text command reads the message content.",
    "The command tree holds every command the bot has, and the bot syncs it on start.",
    "Middleware runs around every request: CORSMiddleware adds the headers cross-origin requests need.",
    "GZipMiddleware compresses responses larger than a minimum size.",
    "The river is crossed by a stone bridge.",
    "A king once ruled the valley.",
)


@pytest.fixture(scope="module")
def index() -> Index:
    doc = Document("commands.md", "Commands", None, PARAGRAPHS, "hash")
    return Index.build([doc], all_passages([doc]))


@pytest.mark.parametrize(("word", "parts"), [
    ("HybridCommand", ["Hybrid", "Command"]),
    ("AutoShardedClient", ["Auto", "Sharded", "Client"]),
    ("hybridCommand", ["hybrid", "Command"]),
    ("CORSMiddleware", ["CORS", "Middleware"]),  # an acronym, then a word
    ("IOError", ["IO", "Error"]),  # an acronym of two letters is a part
    ("OAuth2PasswordBearer", ["OAuth2", "Password", "Bearer"]),  # a capital after a digit
    ("GZipMiddleware", ["GZip", "Middleware"]),  # no part of one letter: G stays with Zip
    ("iPhone", ["iPhone"]),
    ("McDonald", ["McDonald"]),  # a two-letter part that is no acronym stays joined
    ("userId", ["userId"]),
    ("getX", ["getX"]),
    ("HTTP", ["HTTP"]),
    ("Command", ["Command"]),
])
def test_split_rules(word: str, parts: list[str]) -> None:
    assert camel_parts(word) == parts


def test_a_camel_case_word_is_read_as_its_parts_as_a_snake_case_word_is() -> None:
    assert tokenize("use commands.HybridCommand, on_member_join or iPhone") == [
        "use", "commands", "hybrid", "command", "on", "member", "join", "or", "iphone"]
    assert tokenize("a plain sentence, Capitalised and ALL CAPS") == [
        "a", "plain", "sentence", "capitalised", "and", "all", "caps"]


def test_parts_are_adjacent_terms_like_the_words_they_stand_for() -> None:
    """The phrases feature reads adjacent terms: "HybridCommand class" reads as "hybrid command class"."""
    analyse = Analyser()
    assert analyse("the HybridCommand class") == analyse("the hybrid command class") == ["hybrid", "command", "class"]


def test_an_identifier_passage_is_found_by_its_words_and_by_the_identifier(index: Index) -> None:
    for query in ("hybrid command", "HybridCommand", "commands.HybridCommand"):
        assert index.search(index.query_vector(query), 1)[0].passage == 0, query
    assert index.search(index.query_vector("cors middleware"), 1)[0].passage == 4
    assert index.search(index.query_vector("gzip middleware"), 1)[0].passage == 5


def test_a_question_in_words_or_with_the_identifier_is_answered_by_it(index: Index) -> None:
    for question in ("whats a hybrid command", "what is commands.HybridCommand?"):
        quotes = answer(index, question).quotes
        assert quotes and quotes[0].text == HYBRID, question


def test_a_question_typing_the_identifier_joined_reads_it_as_the_parts_the_index_holds(index: Index) -> None:
    assert joined(index, "hybridcommand") == ["hybrid", "command"]
    assert joined(index, "corsmiddleware") == ["cors", "middleware"]
    quotes = answer(index, "whats a hybridcommand").quotes
    assert quotes and quotes[0].text == HYBRID


def test_a_word_is_not_split_into_words_no_passage_holds_together(index: Index) -> None:
    assert joined(index, "kingbridge") is None
    assert joined(index, "stonebridge") == ["stone", "bridge"]


def test_a_typo_one_slip_from_a_word_is_corrected_not_read_as_joined_words() -> None:
    doc = Document("notes.md", "Notes", None, ("The two totals differ by the net amount of the fees.",
                                               "A different approach charges no fees at all."), "hash")
    index = Index.build([doc], all_passages([doc]))
    assert joined(index, "differnet") == ["differ", "net"]
    assert answer(index, "which approach is differnet?").corrected == (("differnet", "different"),)
