"""Each passage's sentences and each sentence's terms, computed once per index (at build) and stored with it.

Choosing a quote asks, for the candidate passages of a question, which of the question's terms each
sentence holds and which the headings above it hold. With this table that is array work over the
candidates' rows; no passage text is split or analysed while answering.

    passage p's sentences:  rows first[p] .. first[p+1]-1, character spans starts[r]:ends[r] of its text
    sentence r's terms:      terms[term_ptr[r] : term_ptr[r+1]]   (distinct term ids, ascending)
    p's headings' terms:     heading_terms[heading_ptr[p] : heading_ptr[p+1]]
    sentence r's flags:      flags[r]   (retrieval/sentence_flags.py: POINTER, DEFAULT, FOLLOWS)

A code block is one sentence (quoted whole or not at all); a list or a table row has one sentence a
line (its last line means nothing without its first). Terms are the analyser's own, found the way
counting.py finds a passage's: text is cut at ASCII whitespace and punctuation in C and each distinct
chunk is analysed once.

A build makes the table and the term counts in one pass (`counted`): a passage's text is its sentences
with only space between them, which no token spans, so its terms are its headings' and its sentences'.
Each batch of passages is split, analysed once as rows (headings, then sentences) and counted from the
same (row, term) pairs; the batches wait as compact arrays and each array is joined, its parts freed, at
the end. Only a bigram index (a bigram spans two sentences) counts each passage's text whole apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import scipy.sparse as sp

from .counting import ChunkTerms, Counter, Progress, count_terms, terms_by_row
from .model import Passage
from .passages import line_spans, searchable
from .sentence_flags import sentence_flags
from .structure import CODE, LIST, ROW
from .text import Analyser, split_sentences

ARRAYS = ("sentence_first", "sentence_starts", "sentence_ends", "sentence_term_ptr", "sentence_terms",
          "heading_ptr", "heading_terms", "sentence_flags")
_BATCH = 256  # passages analysed per numpy pass: bounds the temporary arrays and objects (and the build peak)


def spans_of(passage: Passage) -> list[tuple[int, int]]:
    """The quotable units of a passage: its sentences, a list's or a row's lines, or a code block whole."""
    if passage.kind == CODE:
        return [(0, len(passage.text))]
    if passage.kind in (LIST, ROW):
        return line_spans(passage.text)
    return split_sentences(passage.text)


@dataclass(frozen=True, slots=True)
class SentenceTable:
    """The arrays of the module docstring; read-only, possibly memory-mapped."""

    first: np.ndarray  # passages + 1 offsets (int32, or int64 past 2**31)
    starts: np.ndarray  # int32, one a sentence
    ends: np.ndarray  # int32
    term_ptr: np.ndarray  # sentences + 1 offsets
    terms: np.ndarray  # uint16 while the vocabulary fits, else int32
    heading_ptr: np.ndarray  # passages + 1 offsets
    heading_terms: np.ndarray  # as terms
    flags: np.ndarray  # uint8, one a sentence: its bits (retrieval/sentence_flags.py)

    def __len__(self) -> int:
        return len(self.first) - 1

    def spans(self, passage: int) -> list[tuple[int, int]]:
        """Character spans of a passage's sentences."""
        a, b = int(self.first[passage]), int(self.first[passage + 1])
        return list(zip(self.starts[a:b].tolist(), self.ends[a:b].tolist(), strict=True))

    def sentence_terms(self, passage: int) -> list[np.ndarray]:
        """Each sentence's distinct term ids."""
        a, b = int(self.first[passage]), int(self.first[passage + 1])
        ptr = self.term_ptr[a : b + 1].tolist()
        return [self.terms[x:y] for x, y in zip(ptr, ptr[1:], strict=False)]

    def headings(self, passage: int) -> np.ndarray:
        """The term ids of the headings above a passage."""
        return self.heading_terms[self.heading_ptr[passage] : self.heading_ptr[passage + 1]]

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by the names a saved index holds them under."""
        return dict(zip(ARRAYS, (self.first, self.starts, self.ends, self.term_ptr, self.terms, self.heading_ptr,
                                 self.heading_terms, self.flags), strict=True))

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SentenceTable:
        """The table `arrays()` gave (KeyError when one is missing)."""
        return cls(*(arrays[name] for name in ARRAYS))

    def fits(self, n_passages: int, n_terms: int) -> bool:
        """Whether the arrays fit together and an index of this size: the answer path trusts what it reads."""
        n = len(self.starts)
        return (
            self.first.shape == (n_passages + 1,) and self.heading_ptr.shape == (n_passages + 1,)
            and self.ends.shape == (n,) and self.term_ptr.shape == (n + 1,) and self.flags.shape == (n,)
            and _pointers(self.first, n) and _pointers(self.term_ptr, len(self.terms))
            and _pointers(self.heading_ptr, len(self.heading_terms))
            and bool(np.all(self.starts <= self.ends)) and (n == 0 or int(self.starts.min()) >= 0)
            and _ids_below(self.terms, n_terms) and _ids_below(self.heading_terms, n_terms)
        )


def _pointers(ptr: np.ndarray, size: int) -> bool:
    """Whether `ptr` starts at 0, ends at `size` and never goes back."""
    return ptr.size > 0 and int(ptr[0]) == 0 and int(ptr[-1]) == size and bool(np.all(np.diff(ptr) >= 0))


def _ids_below(ids: np.ndarray, n: int) -> bool:
    return ids.size == 0 or (int(ids.min()) >= 0 and int(ids.max()) < n)


class _Builder:
    """Accumulates the table batch by batch; with a `counter`, each passage's term counts too (the same
    terms: a passage's text is its sentences and the space between them, and its headings are in both)."""

    def __init__(self, analyser: Analyser, vocabulary: Mapping[str, int], counter: Counter | None = None) -> None:
        self.analyser = analyser
        self.counter = counter
        self.lookup = counter.lookup if counter else ChunkTerms(analyser, vocabulary, grow=False)
        self.vocabulary = vocabulary
        self.sentences: list[np.ndarray] = []  # sentences of each passage
        self.starts: list[np.ndarray] = []
        self.ends: list[np.ndarray] = []
        self.sizes: list[np.ndarray] = []  # terms of each sentence
        self.terms: list[np.ndarray] = []
        self.heading_sizes: list[np.ndarray] = []
        self.heading_terms: list[np.ndarray] = []
        self.flags: list[np.ndarray] = []

    def add(self, batch: Sequence[Passage]) -> None:
        """Split and analyse a batch of passages: each passage's headings, then its sentences, as rows."""
        spans = [spans_of(p) for p in batch]
        texts: list[str] = []
        for p, found in zip(batch, spans, strict=True):
            text = p.text
            texts.append(" ".join(p.section.path))
            texts += [text[a:b] for a, b in found]
        counts = np.fromiter(map(len, spans), np.int32, len(spans))
        flat = np.fromiter(chain.from_iterable(chain.from_iterable(spans)), np.int32, 2 * int(counts.sum()))
        is_heading = np.zeros(len(texts), bool)
        is_heading[np.cumsum(counts + 1) - (counts + 1)] = True
        rows, ids = self._row_terms(texts)
        self.flags.append(sentence_flags([t for t, head in zip(texts, is_heading.tolist(), strict=True) if not head]))
        del texts, spans  # an object a sentence: the batch's largest temporaries but for its chunks
        if self.counter:  # every term of a passage's rows is one of its terms
            self.counter.add(np.cumsum(is_heading)[rows] - 1, ids, len(batch))
        rows, ids = _distinct(rows, ids)
        per_row = np.bincount(rows, minlength=is_heading.size)
        keep = ~is_heading[rows]
        id_type = np.uint16 if len(self.vocabulary) <= 1 << 16 else np.int32  # as `_joined` will want them
        self.sentences.append(counts)
        self.starts.append(flat[0::2])
        self.ends.append(flat[1::2])
        self.sizes.append(per_row[~is_heading].astype(np.int32))
        self.terms.append(ids[keep].astype(id_type))
        self.heading_sizes.append(per_row[is_heading].astype(np.int32))
        self.heading_terms.append(ids[~keep].astype(id_type))

    def _row_terms(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row, term id) of each term of each text, repeats kept."""
        if not self.analyser.bigrams:
            return terms_by_row(texts, self.lookup)
        # Bigrams span chunks: analyse each text whole.
        pairs = [(r, t) for r, text in enumerate(texts) for term in self.analyser(text)
                 if (t := self.vocabulary.get(term)) is not None]
        return np.asarray([r for r, _ in pairs], np.int64), np.asarray([t for _, t in pairs], np.int64)

    def table(self) -> SentenceTable:
        """The accumulated table; the batches' arrays are freed as each array is joined."""
        # Term ids in 16 bits while the vocabulary fits (the table's largest array, about one id a posting).
        id_type = np.uint16 if len(self.vocabulary) <= 1 << 16 else np.int32
        return SentenceTable(_pointer(self.sentences), _joined(self.starts, np.int32), _joined(self.ends, np.int32),
                             _pointer(self.sizes), _joined(self.terms, id_type), _pointer(self.heading_sizes),
                             _joined(self.heading_terms, id_type), _joined(self.flags, np.uint8))


def _distinct(rows: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct (row, term id) once, by row then term."""
    keys = np.sort((rows << 32) | ids)
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.size else keys
    return keys >> 32, (keys & 0xFFFFFFFF).astype(np.int32)


def _joined(parts: list[np.ndarray], dtype: type[np.integer[Any]]) -> np.ndarray:
    """The parts one after another; the list is emptied, so that each part is freed once copied."""
    joined = np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
    parts.clear()
    return joined


def _pointer(sizes: list[np.ndarray]) -> np.ndarray:
    """Offsets from sizes: 0, then the running total (int32 while it fits)."""
    offsets = np.concatenate([np.zeros(1, np.int64), np.cumsum(_joined(sizes, np.int64))])
    return offsets.astype(np.int32) if offsets[-1] < 2**31 else offsets


def _batches(passages: Iterable[Passage]) -> Iterator[list[Passage]]:
    batch: list[Passage] = []
    for p in passages:
        batch.append(p)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build(passages: Iterable[Passage], analyser: Analyser, vocabulary: Mapping[str, int]) -> SentenceTable:
    """The table of `passages`, in order; terms the vocabulary lacks are left out."""
    builder = _Builder(analyser, vocabulary)
    for batch in _batches(passages):
        builder.add(batch)
    return builder.table()


def counted(passages: Iterable[Passage], analyser: Analyser, vocabulary: dict[str, int],
            progress: Progress | None = None, total: int = 0) -> tuple[sp.csc_matrix, SentenceTable]:
    """The term counts of `passages` (`count_terms` of each one's `searchable` text, new terms appended to
    `vocabulary`) and their table, from one split and one analysis of each passage."""
    if analyser.bigrams:  # a bigram spans two sentences, or the headings and the text: count the text whole
        counts = count_terms((searchable(p) for p in passages), analyser, vocabulary, progress, total)
        return counts, build(passages, analyser, vocabulary)
    counter = Counter(analyser, vocabulary)
    builder = _Builder(analyser, vocabulary, counter)
    for batch in _batches(passages):
        builder.add(batch)
        if progress:
            progress(counter.rows, total)
    table = builder.table()
    return counter.matrix(), table


def merged(previous: SentenceTable, moved: np.ndarray, passages: Sequence[Passage], analyser: Analyser,
           vocabulary: Mapping[str, int]) -> SentenceTable:
    """The table of `passages` where `moved[i]` (when not -1) is where the previous index's passage i went:
    those rows are copied, the others built. Term ids must be the previous index's (a reindex keeps them)."""
    source = np.full(len(passages), -1, np.int64)
    kept = np.flatnonzero(moved >= 0)
    source[moved[kept]] = kept
    builder = _Builder(analyser, vocabulary)
    fresh = np.flatnonzero(source < 0).tolist()
    for at in range(0, len(fresh), _BATCH):
        builder.add([passages[i] for i in fresh[at : at + _BATCH]])
    new = builder.table()
    # The previous table's rows, then the new ones: one table to gather every passage's rows from, in order.
    both = SentenceTable(
        np.concatenate([previous.first[:-1], new.first + previous.first[-1]]),
        np.concatenate([previous.starts, new.starts]), np.concatenate([previous.ends, new.ends]),
        np.concatenate([previous.term_ptr[:-1], new.term_ptr + previous.term_ptr[-1]]),
        np.concatenate([previous.terms, new.terms]),
        np.concatenate([previous.heading_ptr[:-1], new.heading_ptr + previous.heading_ptr[-1]]),
        np.concatenate([previous.heading_terms, new.heading_terms]), np.concatenate([previous.flags, new.flags]),
    )
    rows = np.where(source >= 0, source, len(previous) + np.cumsum(source < 0) - 1)
    sentences, per_passage = _take(both.first, np.arange(len(both.starts)), rows)
    terms, per_sentence = _take(both.term_ptr, both.terms, sentences)
    headings, per_heading = _take(both.heading_ptr, both.heading_terms, rows)
    return SentenceTable(_pointer([per_passage]), both.starts[sentences], both.ends[sentences],
                         _pointer([per_sentence]), terms, _pointer([per_heading]), headings, both.flags[sentences])


def _take(ptr: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values of each of `rows` (a CSR-like `ptr` into `values`), one row after another, and each row's size."""
    sizes = (ptr[rows + 1] - ptr[rows]).astype(np.int64)
    at = np.repeat(ptr[rows].astype(np.int64) - (np.cumsum(sizes) - sizes), sizes) + np.arange(int(sizes.sum()))
    return values[at], sizes
