"""Term counting for indexing: the analyser's terms of many passages, as a sparse count matrix.

The analyser tokenizes with a Unicode regex, which costs ~300 ns a token in Python. Indexing instead
splits each UTF-8 encoded passage at ASCII whitespace and punctuation (bytes.translate and bytes.split
run in C) and looks each chunk up in a dictionary from chunk to term id, so the regex, lower case, the
stop-word test and the stemmer run once per distinct chunk, not once per token. Chunks keep their case,
which CamelCase parts need ("HybridCommand" and "hybridcommand" are two chunks). The terms are the
analyser's own: a chunk is resolved with the same tokenizer and `Analyser.terms`, and a token never
spans a split point, since tokens hold no whitespace and no ASCII punctuation but the apostrophe.
A batch of texts is encoded, translated and split in one call each (`prepared_batch`).
"""

from __future__ import annotations

import ctypes
import string
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, cast

import numpy as np
import scipy.sparse as sp

from .text import Analyser, has_camel, normal_tokens, sigmas_in_context

Progress = Callable[[int, int], None]

# Characters that can never be part of a token: mapped to a space so that split() separates them.
# NUL too, so that the chunk b"\0" can only be the boundary put between two passages.
_SEPARATORS = bytes.maketrans(
    (sep := b"\0" + string.punctuation.replace("'", "").encode()), b" " * len(sep)
)
_SEPARATORS_BUT_NUL = bytes.maketrans(sep[1:], b" " * (len(sep) - 1))  # for texts joined with NULs
JOIN = b" \0 "  # put between two texts analysed in one split: its chunk is BOUNDARY
_BATCH = 512  # passages counted per numpy pass: bounds the temporary arrays (~4 MB)
BOUNDARY = -1  # the chunk between two texts
_NO_TERM = -2  # a chunk with no index term (stop words, punctuation)


def prepared(text: str) -> bytes:
    """Text as the analyser reads it (NFKC, each capital sigma in its context's lower case), UTF-8, with
    every separator a space."""
    normal = text if text.isascii() else sigmas_in_context(unicodedata.normalize("NFKC", text))
    return normal.encode().translate(_SEPARATORS)


class ChunkTerms(dict[bytes, int]):
    """Chunk of `prepared` text -> its term id; -2 for none, -3 - i for several (`several[i]`). With
    `grow`, a new term gets the next id; without, terms the vocabulary lacks are left out."""

    def __init__(self, analyser: Analyser, vocabulary: Mapping[str, int], grow: bool = True) -> None:
        super().__init__({JOIN.strip(): BOUNDARY})
        self.analyser = analyser
        self.vocabulary = vocabulary
        self.grow = grow
        self.several: list[list[int]] = []

    def __missing__(self, chunk: bytes) -> int:
        lowered = chunk.lower()  # ASCII letters only
        if lowered != chunk and chunk.isascii() and not has_camel(chunk):  # "The" is "the": resolved once
            value = self[chunk] = self[lowered]
            return value
        # Each chunk is resolved once, so the analyser's per-word stem cache would only fill up here.
        terms = [t for t in self.analyser.term_of_each(normal_tokens(chunk.decode())) if t is not None]
        if self.grow:  # counting: the vocabulary is the caller's dict, grown here
            grown = cast(dict[str, int], self.vocabulary)
            found: list[int | None] = [grown.setdefault(t, len(grown)) for t in terms]
        else:
            found = [self.vocabulary.get(t) for t in terms]
        ids = [t for t in found if t is not None]
        if len(ids) == 1:
            value = ids[0]
        elif not ids:
            value = _NO_TERM
        else:
            self.several.append(ids)
            value = -3 - (len(self.several) - 1)
        self[chunk] = value
        return value


def count_terms(
    texts: Iterable[str], analyser: Analyser, vocabulary: dict[str, int], progress: Progress | None = None,
    total: int = 0,
) -> sp.csc_matrix:
    """Term counts of `texts` by term (CSC, float32); new terms are appended to `vocabulary`."""
    if analyser.bigrams:  # bigrams span chunks: count them the plain way
        return _count_plain(texts, analyser, vocabulary).tocsc()
    counter = Counter(analyser, vocabulary)
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == _BATCH:
            counter.add(*terms_by_row(batch, counter.lookup), len(batch))
            batch = []
            if progress:
                progress(counter.rows, total)
    if batch:
        counter.add(*terms_by_row(batch, counter.lookup), len(batch))
    return counter.matrix()


class Counter:
    """Term counts of rows (passages), added batch by batch and laid out by term at the end; new terms
    are appended to `vocabulary` as `lookup` meets them."""

    def __init__(self, analyser: Analyser, vocabulary: dict[str, int]) -> None:
        self.lookup = ChunkTerms(analyser, vocabulary)
        self.vocabulary = vocabulary
        self.blocks: list[_Block] = []
        self.rows = 0

    def add(self, rows: np.ndarray, ids: np.ndarray, n_rows: int) -> None:
        """Count the terms `ids` of the next `n_rows` rows; `rows[i]` (0 to n_rows - 1) is the row of `ids[i]`."""
        self.blocks.append(_block(rows, ids, n_rows))
        self.rows += n_rows

    def matrix(self) -> sp.csc_matrix:
        """The counts of every row added, by term (CSC, float32); the waiting batches are freed as they go."""
        self.lookup.clear()  # a large corpus's chunk dictionary need not outlive the counting
        trim_heap()  # the batches' freed temporaries, before the matrix is laid out beside the blocks
        stacked = _stack_by_term(self.blocks, len(self.vocabulary))
        trim_heap()
        return stacked


def prepared_batch(texts: Sequence[str]) -> bytes:
    """`JOIN.join(map(prepared, texts))`, encoded and translated in one pass for all texts (a separator
    between two texts, a space, ends every context that lower case looks at). NFKC stays per text: only the
    few that are not ASCII need it, and CPython normalises a long string far slower than its parts."""
    joined = " \0 ".join(texts)
    if joined.count("\0") != max(len(texts) - 1, 0):  # a text holds a NUL, which must read as a space
        return JOIN.join(map(prepared, texts))
    if not joined.isascii():
        joined = sigmas_in_context(" \0 ".join([t if t.isascii() else unicodedata.normalize("NFKC", t)
                                                for t in texts]))
    return joined.encode().translate(_SEPARATORS_BUT_NUL)


def terms_by_row(texts: Sequence[str], lookup: ChunkTerms) -> tuple[np.ndarray, np.ndarray]:
    """(row, term id) of every term of each of `texts`, its row being its position in `texts`: repeats kept,
    in text order (but for the terms of chunks of several, which come last)."""
    chunks = prepared_batch(texts).split()
    ids = np.fromiter(map(lookup.__getitem__, chunks), np.int64, len(chunks))
    del chunks  # a bytes object per token: the largest temporary of a batch
    rows = np.cumsum(ids == BOUNDARY)
    multi = ids <= -3
    if multi.any():  # chunks with several terms ("word—word"): expand them
        extra = [(r, t) for r, i in zip(rows[multi].tolist(), ids[multi].tolist(), strict=True)
                 for t in lookup.several[-3 - i]]
        rows = np.concatenate([rows, np.asarray([r for r, _ in extra], np.int64)])
        ids = np.concatenate([ids, np.asarray([t for _, t in extra], np.int64)])
    keep = ids >= 0
    return rows[keep], ids[keep]


def trim_heap() -> None:
    """Hand freed heap memory back to the system (glibc): many small temporaries otherwise stay in
    the process as free heap, interleaved with arrays that live on, on top of what a build keeps."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _Block(NamedTuple):
    """One batch's counts by passage, compact while the batches wait to be stacked: each posting's term
    (16 bits while the vocabulary fits) and count (mostly 8), so a block costs ~3 bytes a posting, and
    nothing per term of the vocabulary (which may have a million terms)."""

    terms: np.ndarray  # term of each posting, passage by passage, terms ascending within a passage
    counts: np.ndarray
    lengths: np.ndarray  # postings of each passage


def _stack_by_term(blocks: list[_Block], n_terms: int) -> sp.csc_matrix:
    """The blocks' rows one after another, as one CSC matrix; each block is freed once copied."""
    totals = np.zeros(n_terms, np.int64)
    for b in blocks:
        per_term = np.bincount(b.terms)
        totals[: per_term.size] += per_term
    indptr = np.zeros(n_terms + 1, np.int64)
    np.cumsum(totals, out=indptr[1:])
    nnz = int(indptr[-1])
    n_rows = sum(b.lengths.size for b in blocks)
    index_type = np.int32 if max(nnz, n_rows) < 2**31 else np.int64
    indices = np.empty(nnz, index_type)
    data = np.empty(nnz, np.float32)
    free = indptr[:-1].copy()  # the next free slot of each column
    first_row = 0
    blocks.reverse()
    while blocks:
        b = blocks.pop()
        # By term, rows ascending within each: a stable sort (radix, for 16-bit terms) of the passage-major
        # postings. Each block's rows come after the earlier blocks' within every column: rows stay sorted.
        order = np.argsort(b.terms, kind="stable")
        per_term = np.bincount(b.terms)
        width = per_term.size
        dest = np.repeat(free[:width] - (np.cumsum(per_term) - per_term), per_term) + np.arange(order.size)
        rows = np.repeat(np.arange(first_row, first_row + b.lengths.size, dtype=index_type), b.lengths)
        indices[dest] = rows[order]
        data[dest] = b.counts[order]
        free[:width] += per_term
        first_row += b.lengths.size
    return sp.csc_matrix((data, indices, indptr.astype(index_type)), shape=(first_row, n_terms))


def _block(rows: np.ndarray, ids: np.ndarray, n_rows: int) -> _Block:
    """Counts of a batch's (row, term id) pairs, compact."""
    width = int(ids.max()) + 1 if ids.size else 1
    pairs = rows * width + ids
    pairs.sort()  # row by row, terms ascending within each
    first = np.flatnonzero(np.diff(pairs, prepend=-1))  # each distinct (row, term) once
    counts = np.diff(first, append=pairs.size)
    pairs = pairs[first]
    top = int(counts.max()) if counts.size else 0
    return _Block(
        (pairs % width).astype(np.uint16 if width <= 2**16 else np.int32),
        counts.astype(np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32),
        np.bincount(pairs // width, minlength=n_rows).astype(np.int32),
    )


def _count_plain(texts: Iterable[str], analyser: Analyser, vocabulary: dict[str, int]) -> sp.csr_matrix:
    """Term counts, one analyser call a text (the reference the fast path must equal)."""
    indptr, indices = [0], []
    for text in texts:
        row = sorted(vocabulary.setdefault(t, len(vocabulary)) for t in analyser(text))
        indices.extend(row)
        indptr.append(len(indices))
    ids = np.asarray(indices, np.int64)
    data = np.ones(ids.size, np.float32)
    matrix = sp.csr_matrix((data, ids, np.asarray(indptr)), shape=(len(indptr) - 1, len(vocabulary)))
    matrix.sum_duplicates()
    return matrix
