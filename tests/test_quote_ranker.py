"""The fitted quote ranker: its saved model matches the features the code computes, the features are what
they say (checked against a computation from the text), the lazy reading of text features changes no choice,
and a clearly better sentence is quoted first."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from retrieval import calibration, kernel, quote_ranker
from retrieval import question as reading
from retrieval.answer import AnswerSettings, _Match, analyse, answer, quote_candidates
from retrieval.index import Index
from retrieval.proximity import pairs, phrase_share
from retrieval.quote_ranker import FEATURES, Ranker, Readers, holds_feature
from retrieval.sentence_flags import DEFAULT, FOLLOWS, POINTER, sentence_flags
from retrieval.sentence_match import Mass, candidates
from retrieval.text import split_sentences
from tests.support.corpus import indexed

ARTICLES = {
    "harbour.txt": (
        "The old harbour of Velmora was rebuilt after the storm. Its lighthouse stands on a granite cliff. "
        "Fishermen sell their catch at dawn.\n\n"
        "The Velmora lighthouse is 48 metres tall and was first lit in 1871. Its lamp can be seen from far "
        "out at sea.\n\n"
        "Tourists visit the harbour in summer. Ferries leave for the islands twice a day."
    ),
    "valley.txt": (
        "The valley below Velmora grows apples and pears. Farmers bring them to the harbour market.\n\n"
        "A lighthouse keeper lived in the valley for many years. He wrote about the storms in his diary."
    ),
    # a pointer and a stated default (sentence_table's flags)
    "visits.txt": (
        "Visitors may climb the Velmora lighthouse in summer. You can read more about the lighthouse at the "
        "harbour office. The lamp is lit at dusk by default."
    ),
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    return indexed(tmp_path_factory.mktemp("articles"), ARTICLES)


def spans_and_features(index: Index, question: str) -> tuple[list[str], np.ndarray, object, object]:
    """The candidate spans' texts and features of a question, every answer-kind column read."""
    settings = AnswerSettings()
    query = analyse(index, question, (), settings)
    hits = index.search(index.query_vector(query.terms), settings.candidates)
    match = _Match.of(index, query)
    found = candidates(index.sentence_table, [h.passage for h in hits], match.ids)
    spans, x, holds = quote_candidates(index, query, hits, match, found, settings)
    texts = [index.text_of(hits[k].passage)[found.starts[a] : found.ends[b]]
             for k, a, b in zip(spans.owner.tolist(), spans.first.tolist(), spans.last.tolist(), strict=True)]
    return texts, x, (query, spans, holds), hits


def test_the_saved_model_is_the_features_the_code_computes() -> None:
    data = json.loads(quote_ranker.MODEL.read_text(encoding="utf-8"))
    assert tuple(data["features"]) == FEATURES
    assert len(data["coef"]) == len(data["mean"]) == len(data["scale"]) == len(FEATURES)
    model = quote_ranker.load()
    assert all(s > 0 for s in model.scale) and any(c != 0 for c in model.coef)


@pytest.mark.parametrize("module", [quote_ranker, calibration], ids=["quote ranker", "not-found model"])
def test_a_model_fitted_on_other_features_is_refused(tmp_path: Path, module: ModuleType) -> None:
    data = json.loads(module.MODEL.read_text(encoding="utf-8"))
    data["features"] = [*data["features"][:-1], "something else"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="fitted on features"):
        module.load(path)


def test_features_match_a_computation_from_the_text(index: Index) -> None:
    texts, x, (query, spans, _), hits = spans_and_features(index, "How tall is the Velmora lighthouse?")
    col = {name: j for j, name in enumerate(FEATURES)}
    total = sum(query.idf[t] * w for t, w in query.terms.items() if t not in query.extra)
    for i, text in enumerate(texts):
        terms = set(index.analyser(text))
        own = sum(query.idf[t] * w for t, w in query.terms.items() if t in terms and t not in query.extra)
        assert x[i, col["own"]] == pytest.approx(own / total)
        sentences = split_sentences(text)
        assert x[i, col["pair"]] == (len(sentences) == 2)
        assert x[i, col["length"]] == pytest.approx(math.log(len(text) / 100))
        passage = index.text_of(hits[int(spans.owner[i])].passage)
        assert x[i, col["lead"]] == passage.startswith(text)
        assert x[i, col["score"]] == pytest.approx(hits[int(spans.owner[i])].score / hits[0].score)
        flags = np.bitwise_or.reduce(sentence_flags([text[a:b] for a, b in sentences]))
        assert x[i, col["pointer"]] == bool(flags & POINTER)
        assert x[i, col["states_default"]] == 0  # the question asks for no default
        second = sentence_flags([text[a:b] for a, b in sentences[1:]])  # a pair's second sentence
        assert x[i, col["continued"]] == bool(second.size and second[0] & FOLLOWS)
    assert x[:, col["change_log"]].sum() == 0
    assert x[:, col["pointer"]].any()
    assert x[:, col["continued"]].any()  # "… Its lamp can be seen from far out at sea."


def test_a_stated_default_counts_when_the_question_asks_for_one(index: Index) -> None:
    texts, x, _, _ = spans_and_features(index, "When is the lamp lit if nothing is set, by default?")
    stated = x[:, FEATURES.index("states_default")]
    assert stated.tolist() == [float(any(sentence_flags([t])[0] & DEFAULT for t in split_texts(text)))
                               for text in texts]
    assert stated.any() and all("by default" in t for t, s in zip(texts, stated.tolist(), strict=True) if s)
    assert quote_ranker.load().weights()[FEATURES.index("states_default")] > 0


def split_texts(text: str) -> list[str]:
    """The sentences of a span's text."""
    return [text[a:b] for a, b in split_sentences(text)]


def test_reading_text_features_only_where_they_can_matter_changes_no_choice(index: Index) -> None:
    """The fast path (answer kind read for the spans it could move within their passage, phrases for the spans
    that could be quoted first) against reading both for every span."""
    for question in ("How tall is the Velmora lighthouse?", "When was the lighthouse first lit?",
                     "How many times a day do ferries leave?", "Where do farmers bring apples and pears?"):
        _, x, (query, spans, read), _ = spans_and_features(index, question)
        model = quote_ranker.load()
        kind = query.kind.kind if query.kind else None
        every = x.copy()
        if kind:
            every[:, FEATURES.index(holds_feature(kind))] = read.holds(np.arange(len(spans)))
        every[:, FEATURES.index("phrases")] = read.phrases(np.arange(len(spans)))
        full = every @ model.weights()
        full[every[:, FEATURES.index("own")] + every[:, FEATURES.index("heading")] <= 0] = -np.inf
        lazy = model.scores(x.copy(), spans.owner, kind, read)
        assert np.argmax(lazy) == np.argmax(full) and lazy.max() == pytest.approx(full.max())
        # Without the phrases, the answer kind is exact for each passage's best span.
        coef = list(model.coef)
        coef[FEATURES.index("phrases")] = 0.0
        no_phrases = Ranker(model.mean, model.scale, tuple(coef))
        lazy = no_phrases.scores(x.copy(), spans.owner, kind, read)
        every[:, FEATURES.index("phrases")] = 0.0
        full = np.where(np.isfinite(full), every @ no_phrases.weights(), -np.inf)
        for k in np.unique(spans.owner):
            mine = spans.owner == k
            assert np.argmax(np.where(mine, lazy, -np.inf)) == np.argmax(np.where(mine, full, -np.inf))
            assert lazy[mine].max() == pytest.approx(full[mine].max())


def test_the_phrases_feature_counts_the_question_s_adjacent_terms(index: Index) -> None:
    texts, x, (query, spans, read), _ = spans_and_features(index, "How tall is the Velmora lighthouse?")
    # "how tall" asks for a quantity: "tall" is no word of the answer's phrases
    assert query.phrases == {tuple(index.analyser("Velmora lighthouse"))}
    got = read.phrases(np.arange(len(spans)))
    for text, share in zip(texts, got.tolist(), strict=True):
        terms = index.analyser(text)
        adjacent = {p for p in query.phrases if any(terms[i : i + 2] == list(p) for i in range(len(terms)))}
        assert share == len(adjacent)
    said = [t for t, share in zip(texts, got.tolist(), strict=True) if share > 0]
    assert said and all("Velmora lighthouse" in t for t in said)
    assert quote_ranker.load().weights()[FEATURES.index("phrases")] > 0  # saying the phrase counts for a span


def test_phrase_share() -> None:
    phrases = pairs(["velmora", "lighthouse", "tall"])
    assert phrase_share(phrases, ["old", "velmora", "lighthouse", "stand"]) == 0.5
    assert phrase_share(phrases, ["lighthouse", "velmora", "tall"]) == 0.0  # reversed is not the phrase
    assert phrase_share(phrases, ["velmora", "lighthouse", "tall"]) == 1.0
    assert phrase_share(frozenset(), ["velmora"]) == 0.0


def test_scores_are_a_weighted_sum_of_standardised_features() -> None:
    n = len(FEATURES)
    model = Ranker((1.0,) * n, (2.0,) * n, (0.5,) + (0.0,) * (n - 1))
    x = np.zeros((2, n))
    x[:, 0] = [3.0, 5.0]
    none = Readers(lambda spans: np.zeros(len(spans), bool), lambda spans: np.zeros(len(spans)),
                   lambda: np.zeros(2))
    z = model.scores(x, np.array([0, 0]), None, none)
    assert z[1] - z[0] == pytest.approx(0.5 * (5.0 - 3.0) / 2.0)


@pytest.mark.parametrize(("question", "expected"), [
    ("How tall is the Velmora lighthouse?", "48 metres tall"),
    ("When was the Velmora lighthouse first lit?", "first lit in 1871"),
    ("What grows in the valley below Velmora?", "apples and pears"),
])
def test_the_sentence_that_answers_is_quoted_first(index: Index, question: str, expected: str) -> None:
    result = answer(index, question, (), AnswerSettings(min_confidence=0.0))
    assert expected in result.quotes[0].text
    scores = [q.score for q in result.quotes]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-9


needs_numba = pytest.mark.skipif(not kernel.available(), reason="numba is not installed")
QUESTIONS = ("How tall is the Velmora lighthouse?", "When was the lighthouse first lit?",
             "How many times a day do ferries leave?", "Who wrote about the storms?", "What grows in the valley?",
             "Where does the lighthouse stand?", "When is the lamp lit by default?")
FLAGGED = "When is the lamp lit by default?"  # its candidates hold a pointer and a stated default


@needs_numba
@pytest.mark.parametrize("question", QUESTIONS)
def test_the_compiled_loops_choose_as_the_array_work_does(index: Index, question: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans, features (bit for bit), the spans the answer kind may move, and each passage's best span: the
    compiled loops (a large index's path, forced here) against the array version on the same candidates."""
    monkeypatch.setenv("QA_KERNEL", "numba")
    settings = AnswerSettings()
    query = analyse(index, question, (), settings)
    hits = index.search(index.query_vector(query.terms), settings.candidates)
    match = _Match.of(index, query)
    found = candidates(index.sentence_table, [h.passage for h in hits], match.ids)
    assert found.arrays is not None  # made by the compiled loop
    # and with stand-ins (related forms) weighed too: this corpus has none of its own
    columns = len(match.columns)
    assert columns >= 2
    stand_ins = Mass(match.mass.own, ((0, (1, columns - 1), 0.3), (columns - 1, (0,), 0.2)))
    for weights in (match.mass, stand_ins):
        spans, x, read = quote_candidates(index, query, hits, replace(match, mass=weights), found, settings)
        plain_spans, plain_x, _ = quote_candidates(index, query, hits, replace(match, mass=weights),
                                                   replace(found, arrays=None), settings)
        for got, expected in ((spans.owner, plain_spans.owner), (spans.first, plain_spans.first),
                              (spans.last, plain_spans.last)):
            assert got.tolist() == expected.tolist()
        assert x.tobytes() == plain_x.tobytes()
        if question == FLAGGED:  # the columns read from the sentence flags, filled on both paths
            flagged = [FEATURES.index(name) for name in ("pointer", "states_default", "continued")]
            assert x[:, flagged].any(axis=0).all()
    model = quote_ranker.load()
    kind = query.kind.kind if query.kind else None
    z = model.scores(x.copy(), spans.owner, kind, read, compiled=True)
    plain_z = model.scores(x.copy(), spans.owner, kind, read)
    assert z.tobytes() == plain_z.tobytes()
    best = quote_ranker.best_of_each(z, spans.owner, compiled=True)
    assert best.tolist() == quote_ranker.best_of_each(plain_z, spans.owner).tolist()


@needs_numba
def test_the_compiled_choice_keeps_the_first_of_equals_and_leaves_out_what_answers_nothing() -> None:
    owner = np.array([0, 0, 1, 1, 2, 2, 3, 0, 1], np.int64)
    z = np.array([1.0, 2.0, 2.0, 2.0, -np.inf, -np.inf, 9.0, 2.0, 1.0])
    expected = quote_ranker.best_of_each(z, owner)
    got = quote_ranker.best_of_each(z, owner, compiled=True)
    assert got.tolist() == expected.tolist() == [6, 1, 2]  # passage 2 answers nothing; ties go to the earlier span


@pytest.mark.parametrize(("question", "kind"), [
    ("When was the Velmora lighthouse first lit?", "date"),
    ("How many times a day do ferries leave?", "number"),
    ("Who wrote about the storms?", "person"),
])
def test_two_sentences_are_read_as_the_text_says(index: Index, question: str, kind: str) -> None:
    """The answer kind and the phrases read sentence by sentence (a span of two: either sentence; the terms of
    one, then the other's) against reading each span's text."""
    texts, x, (query, spans, read), _ = spans_and_features(index, question)
    assert query.kind.kind == kind and query.phrases
    every = np.arange(len(spans))
    assert (spans.last > spans.first).any()
    assert read.holds(every).tolist() == [reading.holds(kind, text, query.question_words) for text in texts]
    shares = [phrase_share(query.phrases, index.analyser.word_terms(text)) for text in texts]
    assert read.phrases(every).tolist() == shares
