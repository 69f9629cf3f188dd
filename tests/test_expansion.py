"""Related words beyond the question's own (retrieval/lexicon.py): WordNet synonyms of frequent words,
shipped as a table, weigh less than the question's own words and only help retrieve."""

from __future__ import annotations

from dataclasses import replace

from retrieval.answer import AnswerSettings, analyse, answer
from retrieval.index import Index
from retrieval.lexicon import derivations, expand, synonyms
from retrieval.model import Document
from retrieval.passages import all_passages


def small_index(*paragraphs: str) -> Index:
    doc = Document("doc.txt", "Doc", None, tuple(paragraphs), "h")
    return Index.build([doc], all_passages([doc]))


def test_the_synonym_table_is_symmetric_and_of_analysed_terms() -> None:
    table = synonyms()
    assert "stage" in table["phase"] and "countri" in table["nation"]
    for term, others in table.items():
        assert term not in others
        assert all(term in table[o] for o in others)


def test_only_a_words_most_frequent_sense_gives_synonyms() -> None:
    assert "battl" in synonyms()["fight"]
    assert "combat" not in synonyms()["fight"]  # WordNet's second sense of "fight"
    assert "function" not in synonyms().get("serv", ())  # "serve" as "function" is its second sense


def test_a_synonym_ranks_its_passage_first_at_less_weight_and_does_not_stand_in() -> None:
    index = small_index("The first round lasts two weeks.", "The first phase lasts six weeks.")
    forced = AnswerSettings(min_confidence=0.0)
    without = answer(index, "How long is the first stage?", (), replace(forced, synonym_weight=0.0))
    assert "two weeks" in without.quotes[0].text  # a tie on "first": the earlier passage
    result = answer(index, "How long is the first stage?", (), forced)
    assert "six weeks" in result.quotes[0].text
    query = analyse(index, "How long is the first stage?", (), forced)
    assert query.terms["phase"] == forced.synonym_weight < query.terms["stage"]
    assert "phase" in query.extra and "stage" not in query.related  # found by it, not counted as it
    assert not answer(index, "How long is the stage?", (), forced).quotes  # a synonym alone quotes nothing


def test_synonyms_can_be_turned_off() -> None:
    index = small_index("The first phase lasts six weeks.")
    query = analyse(index, "How long is the first stage?", (), AnswerSettings(synonym_weight=0.0))
    assert "phase" not in query.terms and "stage" not in query.related


def test_a_term_both_derived_and_synonymous_takes_the_larger_weight() -> None:
    index = small_index("The server sends a response to every request.", "The first phase lasts six weeks.")
    links, added = expand(index, ["respond", "stage"], {"respond": 1.0, "stage": 1.0}, 0.3, 0.15)
    assert "respons" in derivations()["respond"]
    assert links == {"respond": ("respons",)}
    assert added == {"respons": 0.3, "phase": 0.15}
    assert expand(index, ["respond"], {"respond": 1.0}, 0.1, 0.2)[1] == {"respons": 0.1}


def test_nothing_is_added_when_both_sources_are_off() -> None:
    index = small_index("The first phase lasts six weeks.")
    assert expand(index, ["stage"], {"stage": 1.0}, 0.0, 0.0) == ({}, {})
