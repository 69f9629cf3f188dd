"""The index: fast top-k equals brute force, query vectors, edge cases, idf and tf saturation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from retrieval import index as index_module
from retrieval.index import Index, Weighting
from retrieval.model import Document, Hit
from retrieval.passages import all_passages, doc_rows

BM25 = Weighting()
COSINE = Weighting(tf="log", idf="smooth", norm="l2", query="idf")
WEIGHTINGS = [BM25, COSINE]
RTOL = 1e-5

# Distinct stems, none a stop word; FILLER never appears in a query.
WORDS = ["apple", "river", "stone", "cloud", "tiger", "lemon"]
FILLER = "zebra"


def build(texts: list[str], weighting: Weighting = BM25) -> Index:
    doc = Document("corpus.txt", "Corpus", None, tuple(texts), "hash")
    index = Index.build([doc], all_passages([doc]), weighting)
    assert len(index) == len(texts)
    return index


def postings(index: Index, vector: dict[int, float]) -> int:
    return int(sum(index.df[t] for t in vector))


def assert_matches_brute_force(index: Index, vector: dict[int, float], k: int) -> list[Hit]:
    """`search` returns the top-k of the brute-force scores, best first, ties by lower index."""
    hits = index.search(vector, k)
    brute = index.brute_force_scores(vector)
    assert brute.shape == (len(index),)
    matching = np.flatnonzero(brute > 0)
    assert len(hits) == min(k, matching.size)
    ids = [h.passage for h in hits]
    assert len(set(ids)) == len(ids)
    tol = RTOL * float(brute.max()) if brute.size else 0.0

    # Each hit carries its brute-force score.
    for h in hits:
        assert h.score == pytest.approx(brute[h.passage], rel=RTOL, abs=tol)
    # Position by position, the scores are the brute-force top-k scores.
    expected = sorted(matching.tolist(), key=lambda i: (-brute[i], i))[:k]
    for h, e in zip(hits, expected, strict=True):
        assert h.score == pytest.approx(brute[e], rel=RTOL, abs=tol)
    # Best first; exact ties by lower passage index.
    for a, b in zip(hits, hits[1:], strict=False):
        assert a.score >= b.score
        if a.score == b.score:
            assert a.passage < b.passage
    # Where brute-force scores differ by more than the tolerance, the order agrees with them.
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            assert brute[b.passage] <= brute[a.passage] + tol
    left_out = set(matching.tolist()) - set(ids)
    if hits:
        floor = brute[hits[-1].passage]
        assert all(brute[j] <= floor + tol for j in left_out)
    # Passages with the same terms score exactly alike on both paths: the earlier one wins.
    bags = [tuple(sorted(index.analyser(p.text))) for p in index.passages]
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            if bags[a.passage] == bags[b.passage]:
                assert a.passage < b.passage
        for j in left_out:
            if bags[j] == bags[a.passage]:
                assert j > a.passage
    return hits


# --- ranking equals brute force -----------------------------------------------------------------

_passage = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)


@st.composite
def corpora(draw: st.DrawFn) -> list[str]:
    texts = draw(st.lists(_passage, min_size=1, max_size=25))
    # Few fillers keep postings dense; many make the query terms' postings sparse.
    fillers = draw(st.one_of(st.integers(0, 10), st.integers(100, 200)))
    texts = texts + [FILLER] * fillers
    return draw(st.permutations(texts))


@st.composite
def queries(draw: st.DrawFn, texts: list[str]) -> str:
    """Words mostly of the corpus, sometimes unknown ones or stop words."""
    present = sorted({w for t in texts for w in t.split()} - {FILLER})
    pool = [*present, *present, "unknownword", "the"] if present else ["unknownword", "the"]
    return " ".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=5)))


@settings(max_examples=100, deadline=None)
@given(st.data(), st.integers(1, 30), st.sampled_from(WEIGHTINGS))
def test_search_equals_brute_force(data: st.DataObject, k: int, weighting: Weighting) -> None:
    texts = data.draw(corpora(), label="texts")
    query = data.draw(queries(texts), label="query")
    index = build(texts, weighting)
    vector = index.query_vector(query)
    event(f"postings per passage: {min(postings(index, vector) // max(len(index), 1), 3)}")
    assert_matches_brute_force(index, vector, k)


@settings(max_examples=100, deadline=None)
@given(
    corpora(),
    st.dictionaries(st.sampled_from(WORDS), st.floats(0.05, 3.0), min_size=1, max_size=6),
    st.integers(1, 30),
    st.sampled_from(WEIGHTINGS),
)
def test_search_with_any_positive_weights_equals_brute_force(
    texts: list[str], weights: dict[str, float], k: int, weighting: Weighting
) -> None:
    index = build(texts, weighting)
    vector = {
        index.vocabulary[t]: w
        for t, w in ((index.analyser(word)[0], w) for word, w in weights.items())
        if t in index.vocabulary
    }
    event(f"postings per passage: {min(postings(index, vector) // max(len(index), 1), 3)}")
    assert_matches_brute_force(index, vector, k)


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 100])
def test_dense_path_equals_brute_force(weighting: Weighting, k: int) -> None:
    # Many postings for few passages.
    texts = [
        "apple river stone",
        "apple apple river",
        "river stone cloud",
        "apple river stone",  # same terms as passage 0: an exact tie
        "stone stone stone cloud tiger",
        "cloud lemon",
        "apple",
        "river apple stone",  # same terms again, other order
    ]
    index = build(texts, weighting)
    vector = index.query_vector("apple river stone cloud")
    assert postings(index, vector) > len(index)  # many postings a passage: the kernel's dense scan
    hits = assert_matches_brute_force(index, vector, k)
    if k >= 4:
        tied = [h.passage for h in hits if h.passage in (0, 3, 7)]
        assert tied == [0, 3, 7]


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_unique_path_equals_brute_force(weighting: Weighting, k: int) -> None:
    # Few postings among many passages.
    texts = [f"{FILLER} {FILLER}"] * 120
    texts[5] = "apple river zebra"
    texts[40] = "apple zebra zebra"
    texts[41] = "apple river zebra"  # same terms as passage 5: an exact tie
    texts[77] = "river river river tiger"
    texts[100] = "tiger"
    index = build(texts, weighting)
    vector = index.query_vector("apple river tiger")
    assert postings(index, vector) * 8 < len(index)  # few: the kernel's touched-rows path
    hits = assert_matches_brute_force(index, vector, k)
    if k >= 3:
        assert [h.passage for h in hits].index(5) < [h.passage for h in hits].index(41)


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
def test_single_term_path_equals_brute_force(weighting: Weighting) -> None:
    texts = ["apple", "river", "apple apple river", "apple", "stone apple cloud tiger lemon"]
    index = build(texts, weighting)
    vector = index.query_vector("apple")
    assert len(vector) == 1
    hits = assert_matches_brute_force(index, vector, 10)
    assert {h.passage for h in hits} == {0, 2, 3, 4}
    assert [h.passage for h in hits].index(0) < [h.passage for h in hits].index(3)


# --- query vectors and edge cases ---------------------------------------------------------------


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
def test_unknown_and_stop_words_are_ignored_by_query_vector(weighting: Weighting) -> None:
    index = build(["apple river", "stone cloud"], weighting)
    assert index.query_vector("quantum xylophone the of and") == {}
    with_unknown = index.query_vector("apple quantum xylophone")
    assert set(with_unknown) == {index.vocabulary["appl"]}
    assert index.search(with_unknown, 5) == index.search(index.query_vector("apple"), 5)


def test_binary_query_counts_each_term_once() -> None:
    index = build(["apple river", "stone cloud"], BM25)
    assert index.query_vector("apple apple apple river") == index.query_vector("apple river")
    assert set(index.query_vector("apples Apple APPLE")) == {index.vocabulary["appl"]}
    assert index.query_vector("apple", weight=0.5) == {index.vocabulary["appl"]: 0.5}


def test_idf_query_is_a_unit_vector() -> None:
    index = build(["apple river", "stone cloud", "apple"], COSINE)
    vector = index.query_vector("apple apple river")
    assert sum(w * w for w in vector.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
def test_empty_vector_gives_no_hits(weighting: Weighting) -> None:
    index = build(["apple river", "stone"], weighting)
    assert index.search({}, 10) == []
    assert index.search(index.query_vector(""), 10) == []
    assert index.search(index.query_vector("apple"), 0) == []


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
def test_k_larger_than_the_matches(weighting: Weighting) -> None:
    index = build(["apple river", "stone", "cloud apple", "tiger"], weighting)
    hits = index.search(index.query_vector("apple"), 50)
    assert sorted(h.passage for h in hits) == [0, 2]
    assert all(h.score > 0 for h in hits)
    assert len(index.search(index.query_vector("apple stone"), 1000)) == 3


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
def test_empty_corpus_does_not_crash(weighting: Weighting) -> None:
    index = Index.build([], [], weighting)
    assert len(index) == 0
    assert index.query_vector("apple river") == {}
    assert index.search({}, 5) == []
    assert index.brute_force_scores({}).shape == (0,)
    assert index.term_idf("appl") == index.max_idf


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
def test_corpus_of_stop_words_only_does_not_crash(weighting: Weighting) -> None:
    # A passage with no index terms at all: the vocabulary is empty.
    index = build(["It is what it is.", "And then there were none."], weighting)
    assert index.vocabulary == {}
    assert index.query_vector("what is it") == {}
    assert index.search({}, 5) == []
    assert index.brute_force_scores({}).tolist() == [0.0, 0.0]


def test_passage_without_terms_among_others() -> None:
    index = build(["It is what it is.", "apple river", "And so on."])
    hits = assert_matches_brute_force(index, index.query_vector("apple"), 5)
    assert [h.passage for h in hits] == [1]


def test_sentences_and_passages_of() -> None:
    index = build(["One sentence here. Another one there.", "Single."])
    assert index.passages_of("corpus.txt") == [0, 1]
    assert index.passages_of("missing.txt") == []
    text = index.passages[0].text
    assert [text[a:b] for a, b in index.sentences(0)] == ["One sentence here.", "Another one there."]
    assert index.sentences(1) == [(0, 7)]  # from the sentence table made at build


# --- weighting behaviour ------------------------------------------------------------------------


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
def test_term_in_every_passage_ranks_below_a_rare_one(weighting: Weighting) -> None:
    texts = ["apple river", "apple stone", "apple cloud", "apple tiger", "apple lemon"]
    index = build(texts, weighting)
    common, rare = index.vocabulary["appl"], index.vocabulary["stone"]
    assert index.idf[common] < index.idf[rare]
    assert index.term_idf("appl") < index.term_idf("stone")
    # Passage 1 matches both words; every other passage only the common one.
    hits = index.search(index.query_vector("apple stone"), 5)
    assert hits[0].passage == 1
    assert all(h.score < hits[0].score for h in hits[1:])
    # Alone, the rare term outweighs the common one in the same passage.
    brute_common = index.brute_force_scores({common: 1.0})
    brute_rare = index.brute_force_scores({rare: 1.0})
    assert brute_rare[1] > brute_common[1]


def test_unknown_term_idf_is_the_largest() -> None:
    index = build(["apple river", "apple stone", "apple"])
    assert index.term_idf("neverseen") == index.max_idf == max(float(x) for x in index.idf)


def test_repeated_terms_saturate_in_bm25() -> None:
    length = 16
    tfs = [1, 2, 3, 4, 8, 16]
    # Equal lengths, so only the term frequency differs between passages.
    texts = [" ".join(["apple"] * tf + ["river"] * (length - tf)) for tf in tfs]
    index = build(texts, BM25)
    tid = index.vocabulary["appl"]
    scores = index.brute_force_scores({tid: 1.0})
    assert all(a < b for a, b in zip(scores, scores[1:], strict=False))  # more is better...
    gains = np.diff(scores[:4])
    assert all(a > b for a, b in zip(gains, gains[1:], strict=False))  # ...with diminishing returns
    assert scores[1] < 2 * scores[0]
    assert scores[-1] < (BM25.k1 + 1) * index.idf[tid]  # bounded by (k1 + 1) idf
    hits = index.search({tid: 1.0}, 10)
    assert [h.passage for h in hits] == [5, 4, 3, 2, 1, 0]


def test_bm25_prefers_the_shorter_passage_for_the_same_count() -> None:
    texts = ["apple river", "apple river stone cloud tiger lemon stone cloud tiger lemon"]
    index = build(texts, BM25)
    hits = index.search(index.query_vector("apple"), 2)
    assert [h.passage for h in hits] == [0, 1]
    assert hits[0].score > hits[1].score


def test_params_record_weighting_and_analyser() -> None:
    index = build(["apple"], COSINE)
    params = index.params()
    assert params["weighting"]["tf"] == "log"  # type: ignore[index]
    assert params["analyser"]["stem"] is True  # type: ignore[index]


# --- building -----------------------------------------------------------------------------------


def _reference_weights(index: Index, wt: Weighting) -> np.ndarray:
    """The weights of the module docstring's formulas, dense and in float64."""
    counts = np.asarray(index.counts.toarray(), np.float64)
    n = counts.shape[0]
    df = (counts > 0).sum(axis=0)
    if wt.idf == "smooth":
        idf = np.log((1 + n) / (1 + df)) + 1
    else:
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
    safe = np.where(counts > 0, counts, 1)
    if wt.tf == "log":
        tf = np.where(counts > 0, 1 + np.log(safe), 0)
    else:
        lengths = counts.sum(axis=1, keepdims=True)
        tf = counts * (wt.k1 + 1) / (counts + wt.k1 * (1 - wt.b + wt.b * lengths / lengths.mean()))
    weights = tf * idf
    if wt.norm == "l2":
        norms = np.sqrt((weights**2).sum(axis=1, keepdims=True))
        weights = weights / np.where(norms > 0, norms, 1)
    return weights


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=["bm25", "cosine"])
def test_weights_follow_the_formula_whatever_the_chunk(weighting: Weighting, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    vocabulary = WORDS + ["grape", "maple", "otter", "pearl", "quartz", "raven", "sable", "thorn"]
    texts = [" ".join(rng.choice(vocabulary, size=int(rng.integers(1, 30)))) for _ in range(80)]
    whole = build(texts, weighting)
    np.testing.assert_allclose(whole.weights.toarray(), _reference_weights(whole, weighting), rtol=1e-5, atol=1e-7)
    monkeypatch.setattr(index_module, "_CHUNK", 5)  # column blocks of a few postings, and columns wider than one
    chunked = build(texts, weighting)
    assert np.array_equal(chunked.weights.data, whole.weights.data)
    assert np.array_equal(chunked.idf, whole.idf)


def test_document_rows_are_ranges_when_consecutive() -> None:
    docs = [Document(f"d{i}.txt", f"D{i}", None, tuple(f"apple {i} {j}" for j in range(3)), "h") for i in range(3)]
    passages = all_passages(docs)
    index = Index.build(docs, passages)
    assert [index.passages_of(d.id) for d in docs] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert all(isinstance(r, range) for r in doc_rows(passages).values())  # no int object per passage
    scattered = [passages[0], passages[3], passages[1], passages[4], passages[2]]
    assert {k: list(v) for k, v in doc_rows(scattered).items()} == {"d0.txt": [0, 2, 4], "d1.txt": [1, 3]}
