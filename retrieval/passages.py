"""Documents to passages: paragraphs, long ones split at sentence boundaries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

import numpy as np

from .model import Document, Passage
from .text import split_sentences

MAX_WORDS = 300


def passages_of(document: Document, max_words: int = MAX_WORDS) -> Iterator[Passage]:
    """The passages of one document, in order."""
    for number, paragraph in enumerate(document.paragraphs, start=1):
        for part, text in enumerate(split_long(paragraph, max_words), start=1):
            yield Passage(doc_id=document.id, paragraph=number, text=text, part=part)


def all_passages(documents: Iterable[Document], max_words: int = MAX_WORDS) -> list[Passage]:
    """The passages of every document, in document order."""
    return [p for d in documents for p in passages_of(d, max_words)]


def split_long(paragraph: str, max_words: int) -> list[str]:
    """The paragraph itself, or consecutive runs of whole sentences of about `max_words` words."""
    if len(paragraph.split()) <= max_words:
        return [paragraph]
    parts: list[str] = []
    start = words = 0
    spans = split_sentences(paragraph)
    for i, (a, b) in enumerate(spans):
        n = len(paragraph[a:b].split())
        if words and words + n > max_words:
            parts.append(paragraph[start : spans[i - 1][1]])
            start, words = a, 0
        words += n
    parts.append(paragraph[start:])
    return parts


class PassageTable(Sequence[Passage]):
    """Passages by column (document, paragraph, part, UTF-8 text): what a saved index maps from
    disk, so that a start with a million passages makes no Python object per passage."""

    def __init__(self, doc_ids: Sequence[str], doc_of: np.ndarray, paragraph: np.ndarray, part: np.ndarray,
                 text: np.ndarray, offsets: np.ndarray) -> None:
        self.doc_ids = list(doc_ids)
        self.doc_of, self.paragraph, self.part = doc_of, paragraph, part
        self.text, self.offsets = text, offsets

    @classmethod
    def of(cls, passages: Sequence[Passage]) -> PassageTable:
        """The table of `passages`; each document's passages must be consecutive."""
        doc_ids = list(dict.fromkeys(p.doc_id for p in passages))
        number = {d: i for i, d in enumerate(doc_ids)}
        encoded = [p.text.encode() for p in passages]
        offsets = np.zeros(len(passages) + 1, np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(
            doc_ids,
            np.fromiter((number[p.doc_id] for p in passages), np.int32, len(passages)),
            np.fromiter((p.paragraph for p in passages), np.int32, len(passages)),
            np.fromiter((p.part for p in passages), np.int32, len(passages)),
            np.frombuffer(b"".join(encoded), np.uint8),
            offsets,
        )

    def __len__(self) -> int:
        return len(self.doc_of)

    @overload
    def __getitem__(self, i: int) -> Passage: ...

    @overload
    def __getitem__(self, i: slice) -> list[Passage]: ...

    def __getitem__(self, i: int | slice) -> Passage | list[Passage]:
        """The passage at `i`, made when asked for."""
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        text = self.text[self.offsets[i] : self.offsets[i + 1]].tobytes().decode()
        return Passage(self.doc_ids[self.doc_of[i]], int(self.paragraph[i]), text, int(self.part[i]))

    def doc_rows(self) -> dict[str, range]:
        """Each document's passage positions."""
        starts = np.flatnonzero(np.diff(self.doc_of, prepend=-1)).tolist()
        ends = [*starts[1:], len(self)]
        return {self.doc_ids[self.doc_of[a]]: range(a, b) for a, b in zip(starts, ends, strict=True)}


def doc_rows(passages: Sequence[Passage]) -> Mapping[str, Sequence[int]]:
    """Each document's passage positions, in order."""
    if isinstance(passages, PassageTable):
        return passages.doc_rows()
    rows: dict[str, list[int]] = {}
    for i, p in enumerate(passages):
        rows.setdefault(p.doc_id, []).append(i)
    return rows
