"""Related words beyond the question's own (retrieval/expansion.py): WordNet synonyms shipped as a table,
co-occurrence in the index, pseudo-relevance feedback, latent similarity; each weighs less than the
question's own words."""

from __future__ import annotations

import numpy as np

from retrieval.answer import AnswerSettings, analyse, answer, deliberate
from retrieval.expansion import Expansion, cooccurring, expand, feedback, passage_terms, similar, synonyms
from retrieval.index import Index
from retrieval.model import Document
from retrieval.passages import all_passages


def small_index(*paragraphs: str) -> Index:
    doc = Document("doc.txt", "Doc", None, tuple(paragraphs), "h")
    return Index.build([doc], all_passages([doc]))


def test_the_synonym_table_is_symmetric_and_of_analysed_terms() -> None:
    table = synonyms()
    assert "stage" in table["phase"]
    for term, others in table.items():
        assert term not in others
        assert all(term in table[o] for o in others)


def test_a_synonym_answers_and_counts_less_than_the_word_itself() -> None:
    index = small_index("The first phase lasts six weeks.", "Nothing else is said here at all.")
    with_synonyms = AnswerSettings(min_confidence=0.0, expansion=Expansion(synonyms=0.3))
    result = answer(index, "How long is the first stage?", (), with_synonyms)
    assert result.quotes and "six weeks" in result.quotes[0].text
    _, synonym_only = deliberate(index, "How long is the first stage?", (), with_synonyms)
    _, exact = deliberate(index, "How long is the first phase?", (), with_synonyms)
    assert synonym_only is not None and exact is not None
    assert 0 < synonym_only.coverage < exact.coverage
    query = analyse(index, "How long is the first stage?", (), with_synonyms)
    assert query.terms["phase"] == 0.3 < query.terms["stage"]
    assert "phase" not in analyse(index, "How long is the first stage?", (), AnswerSettings()).terms


def test_passage_terms_are_the_sentence_tables_rows() -> None:
    index = small_index("Alpha beta gamma.", "Delta epsilon. Zeta eta.", "Theta.")
    ids, owner = passage_terms(index, np.array([1, 2], np.int64))
    vocab = {i: t for t, i in index.vocabulary.items()}
    assert sorted(vocab[i] for i in ids[owner == 0]) == sorted(index.analyser("Delta epsilon. Zeta eta."))
    assert [vocab[i] for i in ids[owner == 1]] == index.analyser("Theta.")


def test_cooccurring_terms_share_passages() -> None:
    together = [f"The guild server number {i} has members and channels." for i in range(5)]
    index = small_index(*together, "An unrelated sentence about cooking pasta.", "Cooking rice takes time.")
    found = cooccurring(index, "guild", Expansion(neighbours=3, min_together=3))
    assert "server" in found
    assert not {"cook", "pasta", "rice"} & set(found)


def test_feedback_adds_the_best_passages_terms_at_less_weight() -> None:
    index = small_index("Uvicorn runs several worker processes on every core.", "Cats sleep all day.",
                        "Several worker processes share the port.")
    added = feedback(index, {"worker": 1.0}, Expansion(feedback=0.2, feedback_passages=2, feedback_terms=4))
    assert added and max(added.values()) == 0.2
    assert "worker" not in added and not {"cat", "sleep"} & set(added)


def test_latent_neighbours_come_from_like_contexts() -> None:
    index = small_index(*[f"The guild has roles and channels {i}." for i in range(4)],
                        *[f"The server has roles and channels {i}." for i in range(4)],
                        *[f"Pasta needs boiling water {i}." for i in range(4)])
    near = Expansion(similar=0.2, similar_terms=3, min_similarity=0.0, dimensions=2)
    assert "server" in similar(index, "guild", near)


def test_nothing_is_added_when_every_source_is_off() -> None:
    index = small_index("The first phase lasts six weeks.")
    links, added = expand(index, ["stage"], {"stage": 1.0}, 0.0, Expansion())
    assert links == {} and added == {}
