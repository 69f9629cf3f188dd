"""The sentence table: made once per index, equal to splitting and analysing each passage's text; kept by a
reindex and a save; and the array reckoning of a sentence's mass equal to the set-based one, to the bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import kernel, persist, reindex, sentence_table
from retrieval.counting import count_terms
from retrieval.documents import read_folder
from retrieval.errors import IndexFileError
from retrieval.index import Index, Weighting
from retrieval.model import Document, Passage
from retrieval.passages import all_passages, searchable
from retrieval.sentence_flags import FOLLOWS, POINTER, sentence_flags
from retrieval.sentence_match import Candidates, Mass, candidates
from retrieval.sentence_table import SentenceTable
from retrieval.structure import CODE, LIST, PROSE, ROW, Section
from retrieval.text import Analyser

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
HEADED = Section(("Limits", "Rate limits"), "rate-limits")
ODD = [
    Passage("odd.md", 1, "Requests are limited. Bots may send 50 requests a second! Why? Dr. Smith knows. You can read "
            "more at Rate Limits. See the reference for each route.", section=HEADED),
    Passage("odd.md", 2, "first item\nsecond item, with more words\n\nthird", kind=LIST, section=HEADED),
    Passage("odd.md", 3, "Field: limit · Type: integer · Description: max 45", kind=ROW),
    Passage("odd.md", 4, "def on_ready():\n    print('Ready. Steady. Go.')", kind=CODE),
    Passage("odd.md", 5, "Ünïcödé “quoted” café — naïve façade. Zweiter Satz 🎉 hier."),
    Passage("odd.md", 6, ""),
]
# Where one split of a passage's sentences could differ from counting its text whole: spaces that NFKC keeps
# or maps (line separator, no-break, ideographic), a NUL, a final sigma at a sentence's end, ligatures.
SPACED = [
    Passage("spaced.md", 1, "It ends here.\u2028Then one starts.\u00a0The third\x00one. ΟΔΟΣ ΣΟΦΟΣ. Ｆｕｌｌ ﬁne.",
            section=HEADED),
    Passage("spaced.md", 2, "ΟΔΟΣ. ΟΔΟΣ\u3000ends. Trump’s visit—and Netanyahu's: “don't” 'tis rock'n'roll.",
            section=Section(("ΟΔΟΣ",), "odos")),
    Passage("spaced.md", 3, "  \t  "),
]


def by_analysis(index: Index, passage: Passage) -> tuple[list[tuple[int, int]], list[list[int]], list[int]]:
    """The reference: each sentence's span and sorted distinct known term ids, and the headings' ids."""
    def ids(text: str) -> list[int]:
        return sorted({index.vocabulary[t] for t in index.analyser(text) if t in index.vocabulary})

    spans = sentence_table.spans_of(passage)
    return spans, [ids(passage.text[a:b]) for a, b in spans], ids(" ".join(passage.section.path))


def assert_table_is_the_analysis(index: Index) -> None:
    table = index.sentence_table
    assert table.fits(len(index), len(index.vocabulary))
    for p, passage in enumerate(index.passages):
        spans, terms, headings = by_analysis(index, passage)
        assert index.sentences(p) == spans
        assert [t.tolist() for t in table.sentence_terms(p)] == terms
        assert table.headings(p).tolist() == headings
        flags = table.flags[table.first[p] : table.first[p + 1]]
        assert flags.tolist() == sentence_flags([passage.text[a:b] for a, b in spans]).tolist()


@pytest.mark.parametrize("weighting", [Weighting(), Weighting(bigrams=True), Weighting(stem=False)],
                         ids=["default", "bigrams", "unstemmed"])
def test_the_table_equals_splitting_and_analysing_every_passage(weighting: Weighting) -> None:
    documents, _ = read_folder(SEEDS)
    passages = [*all_passages(documents), *ODD]
    odd = Document("odd.md", "Odd", None, tuple(p.text for p in ODD), "h")
    index = Index.build([*documents, odd], passages, weighting)
    assert_table_is_the_analysis(index)
    assert index.sentences(len(passages) - 3) == [(0, len(ODD[3].text))]  # code: whole
    assert len(index.sentences(len(passages) - 5)) == 3  # a list: one a line, blank lines skipped
    assert index.sentences(len(passages) - 1) == []


def test_a_sentence_that_sends_the_reader_elsewhere_is_flagged() -> None:
    documents, _ = read_folder(SEEDS)
    odd = Document("odd.md", "Odd", None, tuple(p.text for p in ODD), "h")
    index = Index.build([*documents, odd], [*all_passages(documents), *ODD])
    p = len(index) - len(ODD)
    table = index.sentence_table
    assert table.flags.dtype == np.uint8
    # "Requests are limited." … "Dr. Smith knows." then "You can read more at…" and "See the reference for…"
    assert table.flags[table.first[p] : table.first[p + 1]].tolist() == [0, 0, 0, 0, 1, 1]
    pointers = ["Read more about it in the docs.", "For more information, see the chapter on routing.",
                "Check out the tutorial.", "Learn more at the FAQ."]
    others = ["More requests are allowed later.", "We see a pattern here:", "Check the box to enable it.",
              "Refer to it as a cog.", "He foresees a delay."]
    assert sentence_flags(pointers).tolist() == [POINTER] * len(pointers)
    assert sentence_flags(others).tolist() == [0, 0, 0, 0, 0]


def test_a_sentence_that_leans_on_the_one_before_is_flagged() -> None:
    """Only the opening counts, read one batch at a time as one sentence at a time."""
    leaning = ["In simple terms, this means that it converts as much as it can.", "Consider using on_raw() instead.",
               "Likewise, this function is not guaranteed to be called once.", '"It" is the cog.', "These are kept."]
    others = ["The Greedy converter is a generalisation.", "Thistle grows here.", "We consider it done.",
              "Itself a cog, this class loads.", "Called when a member joins."]
    assert sentence_flags(leaning).tolist() == [FOLLOWS] * len(leaning)
    assert sentence_flags(others).tolist() == [0] * len(others)
    assert sentence_flags(["a\0b", *leaning]).tolist() == [0] + [FOLLOWS] * len(leaning)  # read one by one


def test_a_reindex_keeps_the_rows_of_unchanged_passages_and_equals_a_full_build() -> None:
    documents, _ = read_folder(SEEDS)
    first = reindex.build(documents)
    changed = Document(documents[1].id, "Changed", None, ("A new paragraph about zorblax. It has two sentences.",
                                                          *documents[1].paragraphs[2:]), "changed")
    added = Document("zzz.txt", "Added", None, ("Another new file. Its words: quasar, nebula.",), "added")
    after = [documents[0], changed, *documents[2:], added]
    incremental = reindex.build(after, previous=first)
    full = Index.build(after, all_passages(sorted(after, key=lambda d: d.id)))
    assert incremental.vocabulary != full.vocabulary  # the reindex keeps the old ids and appends
    assert_table_is_the_analysis(incremental)
    assert [incremental.sentences(p) for p in range(len(full))] == [full.sentences(p) for p in range(len(full))]


def test_a_saved_index_keeps_its_table_and_a_table_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    documents, _ = read_folder(SEEDS)
    built = Index.build(documents, all_passages(documents))
    corpus = persist.fingerprint(documents)
    path = tmp_path / "index.npz"
    persist.save(built, path, corpus)
    loaded = persist.load(path, documents, corpus, Weighting())
    for name, array in built.sentence_table.arrays().items():
        assert np.array_equal(loaded.sentence_table.arrays()[name], array), name
    arrays = persist.arrays_of(built, corpus)
    arrays["sentence_terms"] = arrays["sentence_terms"] + len(built.vocabulary)  # ids past the vocabulary
    persist.write_arrays(path, arrays)
    with pytest.raises(IndexFileError):
        persist.load(path, documents, corpus, Weighting())


def set_mass(own: list[tuple[str, float]], related: list[tuple[str, tuple[str, ...], float]], terms: set[str]) -> float:
    """The set-based reckoning the arrays replace (answer.py's former `_mass`)."""
    mass = 0.0
    for t, w in own:
        if t in terms:
            mass += w
    for t, others, w in related:
        if t not in terms and any(r in terms for r in others):
            mass += w
    return mass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_mass_of_a_row_is_the_set_based_sum_to_the_bit(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 9))
    names = [f"t{i}" for i in range(n)]
    weight = st.floats(0.01, 20, allow_nan=False)
    own = [(t, data.draw(weight)) for t in names if data.draw(st.booleans())]
    related = [(t, tuple(data.draw(st.sets(st.sampled_from(names), min_size=1, max_size=3))), data.draw(weight))
               for t in names if data.draw(st.booleans())]
    rows = data.draw(st.lists(st.sets(st.sampled_from(names)), min_size=1, max_size=6))
    col = {t: k for k, t in enumerate(names)}
    held = np.array([[t in row for t in names] for row in rows], bool)
    mass = Mass(tuple((col[t], w) for t, w in own), tuple((col[t], tuple(col[r] for r in o), w) for t, o, w in related))
    assert mass(held).tolist() == [set_mass(own, related, row) for row in rows]


BACKENDS = [pytest.param("numpy", id="numpy"),
            pytest.param("numba", id="numba", marks=pytest.mark.skipif(not kernel.available(), reason="no numba"))]


@pytest.fixture(scope="module")
def odd_index() -> Index:
    """The seeds and the odd passages (a list, a row, code, Unicode, an empty passage)."""
    documents, _ = read_folder(SEEDS)
    odd = Document("odd.md", "Odd", None, tuple(p.text for p in ODD), "h")
    return Index.build([*documents, odd], [*all_passages(documents), *ODD])


@pytest.mark.parametrize("backend", BACKENDS)
def test_candidates_gather_the_sentences_of_the_passages_asked_for(
        backend: str, odd_index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_KERNEL", backend)  # numba: the compiled loop (the index is scored with numba)
    index = odd_index
    passages = list(index.passages)
    words = ["limit", "request", "netanyahu", "notaword"]
    ids = np.array([index.vocabulary.get(index.analyser(w)[0], -1) for w in words])
    asked = [len(passages) - 6, 3, len(passages) - 1, 0]
    found = candidates(index.sentence_table, asked, ids)
    for k, p in enumerate(asked):
        lo, hi = found.bounds[k], found.bounds[k + 1]
        spans, terms, headings = by_analysis(index, passages[p])
        assert list(zip(found.starts[lo:hi], found.ends[lo:hi], strict=True)) == spans
        assert found.held[lo:hi].tolist() == [[int(i) in row for i in ids] for row in terms]
        assert found.heading[lo:hi].tolist() == [[int(i) in headings for i in ids]] * (hi - lo)
        assert found.flags[lo:hi].tolist() == index.sentence_table.flags[
            index.sentence_table.first[p] : index.sentence_table.first[p + 1]].tolist()
        # A passage is found by its sentences' terms and its headings': the postings say the same.
        assert found.passage_held(k).tolist() == index.holding(ids, [p])[0].tolist()
    assert found.held[:, 3].sum() == 0 and found.held[found.bounds[0]:found.bounds[1], 0].any()
    b = found.bounds
    assert found.owner.tolist() == [k for k in range(len(asked)) for _ in range(b[k + 1] - b[k])]
    assert b[2] == b[3] and found.filled is not None and found.filled.tolist() == [0, 1, 3]  # the empty passage


_SPAN_INDEX: list[Index] = []


def drawn_candidates(backend: str, data: st.DataObject, words: list[str]) -> Candidates:
    """The candidates of 1 to 6 drawn passages of the span index (passage i has i sentences) for these words,
    found by the numpy code or the compiled loop."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QA_KERNEL", backend)
        index = _span_index()
        asked = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=6))
        ids = np.array([index.vocabulary.get(index.analyser(w)[0], -1) for w in words])
        return candidates(index.sentence_table, asked, ids)


def _span_index() -> Index:
    """Passages of 0 to 4 sentences (made once: hypothesis runs the test many times)."""
    if not _SPAN_INDEX:
        texts = ["", "Apples fall.", "Apples fall. Rivers flow.", "Apples fall. Rivers flow. Cats sleep.",
                 "Apples fall. Rivers flow. Cats sleep. Dogs bark."]
        doc = Document("s.txt", "S", None, tuple(texts), "h")
        headed = Section(("Rivers and dogs",), "rivers")  # every other passage: its headings hold terms
        _SPAN_INDEX.append(Index.build([doc], [Passage("s.txt", i + 1, t, section=headed if i % 2 else Section())
                                               for i, t in enumerate(texts)]))
    return _SPAN_INDEX[0]


def test_term_ids_take_16_bits_only_while_the_vocabulary_fits() -> None:
    analyser = Weighting().analyser()
    passages = [Passage("a.txt", 1, "Apples fall. Rivers flow to the sea.")]
    terms = sorted({t for p in passages for t in analyser(p.text)})
    small = {t: i for i, t in enumerate(terms)}
    large = {**{f"filler{i}": i for i in range(1 << 16)}, **{t: (1 << 16) + i for i, t in enumerate(terms)}}
    for vocabulary, dtype in ((small, np.uint16), (large, np.int32)):
        table = sentence_table.build(passages, analyser, vocabulary)
        assert table.terms.dtype == dtype and table.fits(1, len(vocabulary))
        sentences = ("Apples fall.", "Rivers flow to the sea.")
        expected = [sorted(vocabulary[t] for t in set(analyser(s))) for s in sentences]
        assert [ids.tolist() for ids in table.sentence_terms(0)] == expected


def two_passes(passages: list[Passage], analyser: Analyser) -> tuple[dict[str, int], sp.csc_matrix, SentenceTable]:
    """The reference: each passage's text counted whole, then its sentences and headings analysed apart."""
    vocabulary: dict[str, int] = {}
    counts = count_terms((searchable(p) for p in passages), analyser, vocabulary)
    return vocabulary, counts, sentence_table.build(passages, analyser, vocabulary)


def assert_one_pass_is_two(passages: list[Passage], analyser: Analyser) -> None:
    vocabulary: dict[str, int] = {}
    counts, table = sentence_table.counted(passages, analyser, vocabulary)
    want_vocabulary, want_counts, want_table = two_passes(passages, analyser)
    assert list(vocabulary.items()) == list(want_vocabulary.items())  # the same terms, numbered alike
    assert counts.shape == want_counts.shape
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(counts, name), getattr(want_counts, name)), name
    for name, array in want_table.arrays().items():
        got = table.arrays()[name]
        assert got.dtype == array.dtype and np.array_equal(got, array), name


@pytest.mark.parametrize("weighting", [Weighting(), Weighting(bigrams=True), Weighting(stop_words=False)],
                         ids=["default", "bigrams", "stop words kept"])
def test_one_pass_counts_and_tabulates_as_two_passes_do(weighting: Weighting, monkeypatch: pytest.MonkeyPatch) -> None:
    documents, _ = read_folder(SEEDS)
    passages = [*all_passages(documents), *ODD, *SPACED]
    assert_one_pass_is_two(passages, weighting.analyser())
    monkeypatch.setattr(sentence_table, "_BATCH", 7)  # many batches, the last one partial
    assert_one_pass_is_two(passages, weighting.analyser())


_KINDS = st.sampled_from([PROSE, PROSE, LIST, ROW, CODE])
_TEXT = st.lists(st.sampled_from([*"aB. \n\t\u00a0\u2028\x00Σ'—“", "Dr.", "The", "word", "ΟΔΟΣ", "ﬁ", "x" * 9]),
                 max_size=30).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_TEXT | st.text(max_size=40), _KINDS, st.lists(_TEXT, max_size=2)), max_size=8))
def test_one_pass_equals_two_passes_on_any_passages(drawn: list[tuple[str, str, list[str]]]) -> None:
    passages = [Passage("any.md", i, text, kind=kind, section=Section(tuple(path), "s"))
                for i, (text, kind, path) in enumerate(drawn, start=1)]
    assert_one_pass_is_two(passages, Analyser())
