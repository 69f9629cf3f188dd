"""Each passage's sentences and each sentence's terms, computed once per index (at build) and stored with it.

Choosing a quote asks, for the candidate passages of a question, which of the question's terms each
sentence holds and which the headings above it hold. With this table that is array work over the
candidates' rows; no passage text is split or analysed while answering.

    passage p's sentences:  rows first[p] .. first[p+1]-1, character spans starts[r]:ends[r] of its text
    sentence r's terms:      terms[term_ptr[r] : term_ptr[r+1]]   (distinct term ids, ascending)
    p's headings' terms:     heading_terms[heading_ptr[p] : heading_ptr[p+1]]

A code block is one sentence (quoted whole or not at all); a list or a table row has one sentence a
line (its last line means nothing without its first). Terms are the analyser's own, found the way
counting.py finds a passage's: text is cut at ASCII whitespace and punctuation in C and each distinct
chunk is analysed once, so the table costs about what counting the passages costs, plus the sentence
splitter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .counting import BOUNDARY, JOIN, ChunkTerms, prepared
from .model import Passage
from .passages import line_spans
from .structure import CODE, LIST, ROW
from .text import Analyser, split_sentences

ARRAYS = ("sentence_first", "sentence_starts", "sentence_ends", "sentence_term_ptr", "sentence_terms",
          "heading_ptr", "heading_terms")
_BATCH = 256  # passages analysed per numpy pass: bounds the temporary arrays (and the build peak)


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
                                 self.heading_terms), strict=True))

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SentenceTable:
        """The table `arrays()` gave (KeyError when one is missing)."""
        return cls(*(arrays[name] for name in ARRAYS))

    def fits(self, n_passages: int, n_terms: int) -> bool:
        """Whether the arrays fit together and an index of this size: the answer path trusts what it reads."""
        n = len(self.starts)
        return (
            self.first.shape == (n_passages + 1,) and self.heading_ptr.shape == (n_passages + 1,)
            and self.ends.shape == (n,) and self.term_ptr.shape == (n + 1,)
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
    """Accumulates the table batch by batch."""

    def __init__(self, analyser: Analyser, vocabulary: Mapping[str, int]) -> None:
        self.analyser = analyser
        self.lookup = ChunkTerms(analyser, vocabulary, grow=False)
        self.vocabulary = vocabulary
        # Term ids in 16 bits while the vocabulary fits (the table's largest array, about one id a posting).
        self.id_type = np.uint16 if len(vocabulary) <= 1 << 16 else np.int32
        self.counts: list[np.ndarray] = []  # sentences of each passage
        self.starts: list[np.ndarray] = []
        self.ends: list[np.ndarray] = []
        self.sizes: list[np.ndarray] = []  # terms of each sentence
        self.terms: list[np.ndarray] = []
        self.heading_sizes: list[np.ndarray] = []
        self.heading_terms: list[np.ndarray] = []

    def add(self, batch: Sequence[Passage]) -> None:
        """Split and analyse a batch of passages: each passage's sentences, then its headings, as rows."""
        spans = [spans_of(p) for p in batch]
        texts: list[str] = []
        heading_row = []
        for p, found in zip(batch, spans, strict=True):
            texts += [p.text[a:b] for a, b in found]
            heading_row.append(len(texts))
            texts.append(" ".join(p.section.path))
        rows, ids = self._row_terms(texts)
        is_heading = np.zeros(len(texts), bool)
        is_heading[heading_row] = True
        per_row = np.bincount(rows, minlength=len(texts))
        keep = ~is_heading[rows]
        self.counts.append(np.fromiter(map(len, spans), np.int32, len(spans)))
        flat = [s for found in spans for s in found]
        self.starts.append(np.fromiter((a for a, _ in flat), np.int32, len(flat)))
        self.ends.append(np.fromiter((b for _, b in flat), np.int32, len(flat)))
        self.sizes.append(per_row[~is_heading].astype(np.int32))
        self.terms.append(ids[keep].astype(self.id_type))
        self.heading_sizes.append(per_row[is_heading].astype(np.int32))
        self.heading_terms.append(ids[~keep].astype(self.id_type))

    def _row_terms(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(row, term id) of each distinct term of each text, by row then term."""
        if self.analyser.bigrams:  # bigrams span chunks: analyse each text whole
            pairs = [(r, t) for r, text in enumerate(texts) for term in self.analyser(text)
                     if (t := self.vocabulary.get(term)) is not None]
            rows = np.asarray([r for r, _ in pairs], np.int64)
            ids = np.asarray([t for _, t in pairs], np.int64)
        else:
            chunks = JOIN.join(map(prepared, texts)).split()
            ids = np.fromiter(map(self.lookup.__getitem__, chunks), np.int64, len(chunks))
            rows = np.cumsum(ids == BOUNDARY)
            several = np.flatnonzero(ids <= -3)
            if several.size:  # chunks of several terms ("word—word"): one (row, term) each
                extra = [(int(rows[i]), t) for i in several.tolist() for t in self.lookup.several[-3 - int(ids[i])]]
                rows = np.concatenate([rows, np.asarray([r for r, _ in extra], np.int64)])
                ids = np.concatenate([ids, np.asarray([t for _, t in extra], np.int64)])
            keep = ids >= 0
            rows, ids = rows[keep], ids[keep]
        keys = np.sort((rows << 32) | ids)
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.size else keys  # distinct
        return keys >> 32, (keys & 0xFFFFFFFF).astype(np.int32)

    def table(self) -> SentenceTable:
        """The accumulated table."""
        return SentenceTable(_pointer(self.counts), _joined(self.starts, np.int32), _joined(self.ends, np.int32),
                             _pointer(self.sizes), _joined(self.terms, self.id_type), _pointer(self.heading_sizes),
                             _joined(self.heading_terms, self.id_type))


def _joined(parts: list[np.ndarray], dtype: type[np.integer[Any]]) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


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
        np.concatenate([previous.heading_terms, new.heading_terms]),
    )
    rows = np.where(source >= 0, source, len(previous) + np.cumsum(source < 0) - 1)
    sentences, per_passage = _take(both.first, np.arange(len(both.starts)), rows)
    terms, per_sentence = _take(both.term_ptr, both.terms, sentences)
    headings, per_heading = _take(both.heading_ptr, both.heading_terms, rows)
    return SentenceTable(_pointer([per_passage]), both.starts[sentences], both.ends[sentences],
                         _pointer([per_sentence]), terms, _pointer([per_heading]), headings)


def _take(ptr: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values of each of `rows` (a CSR-like `ptr` into `values`), one row after another, and each row's size."""
    sizes = (ptr[rows + 1] - ptr[rows]).astype(np.int64)
    at = np.repeat(ptr[rows].astype(np.int64) - (np.cumsum(sizes) - sizes), sizes) + np.arange(int(sizes.sum()))
    return values[at], sizes
