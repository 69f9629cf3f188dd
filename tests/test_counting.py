"""The fast term counter equals the analyser applied passage by passage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import counting
from retrieval.counting import _count_plain, count_terms
from retrieval.documents import read_folder
from retrieval.passages import all_passages
from retrieval.text import Analyser

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
TRICKY = [
    "Trump’s visit—and Netanyahu's: “don't” 'tis rock'n'roll a''b _under_score_ ...",
    "Ｆｕｌｌｗｉｄｔｈ ＴＥＸＴ and the ﬁ ligature; İstanbul ÆSIR straße",
    "tab\tnew\nline\u2028sep\u00a0nbsp\u3000ideographic",
    "", "   ", "the and of", "!!!", "emoji 🎉 party, 2,000 prisoners at 10:30 on Feb. 3",
    "commands.HybridCommand, The CORSMiddleware and GZipMiddleware; iPhone McDonald ΟΔΟΣ.ΑΒΓ ΑΣΤΡΟHybrid İStanbulX",
]


def _same(texts: list[str], analyser: Analyser) -> None:
    fast_vocab: dict[str, int] = {}
    plain_vocab: dict[str, int] = {}
    fast = count_terms(texts, analyser, fast_vocab)
    plain = _count_plain(texts, analyser, plain_vocab)
    assert fast.shape[0] == plain.shape[0] == len(texts)
    # Term ids may be assigned in another order: compare each row's terms and counts by name.
    fast_names = {i: t for t, i in fast_vocab.items()}
    plain_names = {i: t for t, i in plain_vocab.items()}
    for r in range(len(texts)):
        f, p = fast.getrow(r), plain.getrow(r)
        got = dict(zip((fast_names[i] for i in f.indices), f.data.tolist(), strict=True))
        want = dict(zip((plain_names[i] for i in p.indices), p.data.tolist(), strict=True))
        assert got == want, texts[r]
        assert got == _counter(analyser(texts[r]))


def _counter(terms: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for t in terms:
        out[t] = out.get(t, 0) + 1.0
    return out


def test_fast_counts_equal_the_analyser_on_the_seeds_and_tricky_text() -> None:
    documents, _ = read_folder(SEEDS)
    texts = [p.text for p in all_passages(documents)] + TRICKY
    _same(texts, Analyser())
    _same(texts, Analyser(stem=False, stop_words=False))


def test_counts_span_several_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counting, "_BATCH", 8)  # several numpy batches, and a last partial one
    texts = [f"passage {i} about topic{i % 7} and word{i % 3}" for i in range(50)]
    _same(texts, Analyser())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=6))
def test_fast_counts_equal_the_analyser_on_any_text(texts: list[str]) -> None:
    _same(texts, Analyser())


# Pieces of CamelCase words, and the characters whose lower case reads the letters around them.
_PIECE = st.sampled_from(["Hybrid", "Command", "CORS", "G", "Zip", "i", "Phone", "Mc", "IO", "the", "The", "2", "x",
                          "Σ", "ΟΔΟ", "ς", "İ", " ", ".", ":", "'", "_", "—", "\u00a0"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_PIECE, max_size=12).map("".join), max_size=6))
def test_fast_counts_equal_the_analyser_on_camel_case_text(texts: list[str]) -> None:
    _same(texts, Analyser())


def test_counts_past_16_bit_terms_and_8_bit_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counting, "_BATCH", 2)  # blocks of 16-bit terms, then of 32-bit ones
    wide = " ".join(f"w{i}x" for i in range(70_000))  # more terms than 16 bits can number
    texts = ["apple river", "river " * 300 + "stone", wide, "apple w69999x " * 70_000, "stone"]
    _same(texts, Analyser())


def test_a_waiting_batch_costs_bytes_per_posting_not_per_vocabulary_term() -> None:
    # A million passages wait as thousands of batches: a table per batch as wide as the vocabulary
    # (which may hold millions of terms) would outweigh the postings themselves.
    vocabulary = {f"term{i}": i for i in range(300_000)}
    lookup = counting.ChunkTerms(Analyser(), vocabulary)
    block = counting._block(*counting.terms_by_row(["apple river apple", "river, stone"], lookup), 2)
    assert sum(a.nbytes for a in block if isinstance(a, np.ndarray)) <= 64
    counts = count_terms(["apple river apple", "river, stone"], Analyser(), dict(vocabulary))
    assert counts.shape == (2, 300_003) and counts.nnz == 4 and sorted(counts.data.tolist()) == [1, 1, 1, 2]


_CHARACTER = st.sampled_from([*"aZ \0'.Σς'ﬁＦ\u2028\u00a0İ"]) | st.characters(exclude_categories=["Cs"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=_CHARACTER, max_size=20), max_size=6))
def test_a_batch_is_prepared_as_its_texts_are_one_by_one(texts: list[str]) -> None:
    assert counting.prepared_batch(texts) == counting.JOIN.join(map(counting.prepared, texts))
