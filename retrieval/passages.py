"""Documents to passages: paragraphs, long ones split at sentence boundaries."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

import numpy as np

from .model import Document, Passage
from .structure import CODE, KINDS, Section, clip_marks, marks_json, marks_of_json, section_json, section_of_json
from .text import split_sentences

_WORD = re.compile(r"\S+")

MAX_WORDS = 300
MAX_CHARS = 3000  # a hard bound whatever the words: a 1 MB line with no sentence end must not be one passage


def passages_of(document: Document, max_words: int = MAX_WORDS) -> Iterator[Passage]:
    """The passages of one document, in order: each block (or paragraph) whole, or in parts."""
    if not document.blocks:
        for number, paragraph in enumerate(document.paragraphs, start=1):
            for part, (a, b) in enumerate(split_spans(paragraph, max_words), start=1):
                yield Passage(doc_id=document.id, paragraph=number, text=paragraph[a:b], part=part)
        return
    for number, block in enumerate(document.blocks, start=1):
        for part, (a, b) in enumerate(split_spans(block.text, max_words, whole_lines=block.kind == CODE), start=1):
            yield Passage(document.id, number, block.text[a:b], part, block.kind, block.section,
                          clip_marks(block.marks, a, b), block.page)


def searchable(passage: Passage) -> str:
    """The text a passage is found by: its section's headings, then its own words (a heading is
    context for the passages under it, never a passage of its own)."""
    if not passage.section.path:
        return passage.text
    return " ".join(passage.section.path) + "\n" + passage.text


def all_passages(documents: Iterable[Document], max_words: int = MAX_WORDS) -> list[Passage]:
    """The passages of every document, in document order."""
    return [p for d in documents for p in passages_of(d, max_words)]


def split_long(paragraph: str, max_words: int) -> list[str]:
    """The paragraph itself, or consecutive runs of whole sentences of about `max_words` words."""
    return [paragraph[a:b] for a, b in split_spans(paragraph, max_words)]


def split_spans(
    text: str, max_words: int, max_chars: int = MAX_CHARS, whole_lines: bool = False
) -> list[tuple[int, int]]:
    """Spans of `text`: all of it, or consecutive runs of whole sentences (lines, for code) within
    `max_words` words and `max_chars` characters; a sentence longer than `max_chars` alone is cut into
    word windows, so that no passage is unbounded."""
    if len(text) <= max_chars and len(text.split()) <= max_words:
        return [(0, len(text))]
    units = line_spans(text) if whole_lines else split_sentences(text)
    pieces: list[tuple[int, int]] = []
    start = end = words = -1
    for a, b in (w for u in units for w in _windows(text, u, max_words, max_chars)):
        n = len(text[a:b].split())
        if start >= 0 and (words + n > max_words or b - start > max_chars):
            pieces.append((start, end))
            start = -1
        if start < 0:
            start, words = a, 0
        end, words = b, words + n
    if start >= 0:
        pieces.append((start, end))
    return pieces or [(0, len(text))]


def line_spans(text: str) -> list[tuple[int, int]]:
    """The non-empty lines of `text`, as spans."""
    spans, at = [], 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((at, at + len(line)))
        at += len(line) + 1
    return spans


def _windows(text: str, span: tuple[int, int], max_words: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """The span itself, or (longer than `max_chars`) consecutive word windows of it within both bounds."""
    a, b = span
    if b - a <= max_chars:  # a sentence of many words stays whole: only the hard bound cuts one
        yield span
        return
    start = end = -1
    words = 0
    for match in _WORD.finditer(text, a, b):
        wa, wb = match.span()
        if wb - wa > max_chars:  # one "word" over the bound (a long run without spaces): cut it
            if start >= 0:
                yield start, end
                start = -1
            for c in range(wa, wb, max_chars):
                yield c, min(c + max_chars, wb)
            continue
        if start >= 0 and (words >= max_words or wb - start > max_chars):
            yield start, end
            start = -1
        if start < 0:
            start, words = wa, 0
        end, words = wb, words + 1
    if start >= 0:
        yield start, end


class PassageTable(Sequence[Passage]):
    """Passages by column (document, paragraph, part, kind, section, page, UTF-8 text and marks): what a
    saved index maps from disk, so that a start with a million passages makes no Python object per passage."""

    COLUMNS = ("doc_of", "paragraph", "part", "kind", "section_of", "page", "text", "offsets", "marks",
               "mark_offsets")

    def __init__(self, doc_ids: Sequence[str], sections: Sequence[Section], columns: Mapping[str, np.ndarray]) -> None:
        self.doc_ids = list(doc_ids)
        self.sections = list(sections)
        self.doc_of, self.paragraph, self.part = columns["doc_of"], columns["paragraph"], columns["part"]
        self.kind, self.section_of, self.page = columns["kind"], columns["section_of"], columns["page"]
        self.text, self.offsets = columns["text"], columns["offsets"]
        self.marks, self.mark_offsets = columns["marks"], columns["mark_offsets"]

    @classmethod
    def of(cls, passages: Sequence[Passage]) -> PassageTable:
        """The table of `passages`; each document's passages must be consecutive."""
        n = len(passages)
        doc_ids = list(dict.fromkeys(p.doc_id for p in passages))
        number = {d: i for i, d in enumerate(doc_ids)}
        sections = list(dict.fromkeys([Section(), *(p.section for p in passages)]))
        section_number = {s: i for i, s in enumerate(sections)}
        kinds = {k: i for i, k in enumerate(KINDS)}
        text, offsets = _encoded(p.text for p in passages)
        marks, mark_offsets = _encoded(marks_json(p.marks) for p in passages)
        return cls(doc_ids, sections, {
            "doc_of": np.fromiter((number[p.doc_id] for p in passages), np.int32, n),
            "paragraph": np.fromiter((p.paragraph for p in passages), np.int32, n),
            "part": np.fromiter((p.part for p in passages), np.int32, n),
            "kind": np.fromiter((kinds[p.kind] for p in passages), np.uint8, n),
            "section_of": np.fromiter((section_number[p.section] for p in passages), np.int32, n),
            "page": np.fromiter((p.page or 0 for p in passages), np.int32, n),
            "text": text, "offsets": offsets, "marks": marks, "mark_offsets": mark_offsets,
        })

    def columns(self) -> dict[str, np.ndarray]:
        """Every column as an array (documents and sections as UTF-8 blobs), for saving."""
        found = {name: getattr(self, name) for name in self.COLUMNS}
        found["doc_ids"] = np.frombuffer("\0".join(self.doc_ids).encode(), np.uint8)
        found["sections"] = np.frombuffer("\n".join(section_json(s) for s in self.sections).encode(), np.uint8)
        return found

    @classmethod
    def from_columns(cls, arrays: Mapping[str, np.ndarray]) -> PassageTable:
        """The table `columns()` gave (ValueError when something is missing)."""
        missing = [c for c in (*cls.COLUMNS, "doc_ids", "sections") if c not in arrays]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
        doc_ids = arrays["doc_ids"].tobytes().decode().split("\0") if arrays["doc_ids"].size else []
        sections = [section_of_json(t) for t in arrays["sections"].tobytes().decode().split("\n")]
        return cls(doc_ids, sections, {c: arrays[c] for c in cls.COLUMNS})

    def fits(self, documents: set[str]) -> bool:
        """Whether the columns fit together: the answer path trusts every table it reads."""
        n = len(self.doc_of)
        return (
            all(len(getattr(self, c)) == n for c in ("paragraph", "part", "kind", "section_of", "page"))
            and self.offsets.shape == (n + 1,) and int(self.offsets[0]) == 0
            and int(self.offsets[-1]) == self.text.size and bool(np.all(np.diff(self.offsets) >= 0))
            and self.mark_offsets.shape == (n + 1,) and int(self.mark_offsets[0]) == 0
            and int(self.mark_offsets[-1]) == self.marks.size and bool(np.all(np.diff(self.mark_offsets) >= 0))
            and (n == 0 or (int(self.doc_of.max()) < len(self.doc_ids) and int(self.doc_of.min()) >= 0
                            and int(self.section_of.max()) < len(self.sections) and int(self.section_of.min()) >= 0
                            and int(self.kind.max()) < len(KINDS)))
            and set(self.doc_ids) <= documents and (n > 0 or not documents)
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
        marks = self.marks[self.mark_offsets[i] : self.mark_offsets[i + 1]].tobytes().decode()
        return Passage(self.doc_ids[self.doc_of[i]], int(self.paragraph[i]), text, int(self.part[i]),
                       KINDS[self.kind[i]], self.sections[self.section_of[i]], marks_of_json(marks),
                       int(self.page[i]) or None)

    def doc_rows(self) -> dict[str, range]:
        """Each document's passage positions."""
        starts = np.flatnonzero(np.diff(self.doc_of, prepend=-1)).tolist()
        ends = [*starts[1:], len(self)]
        return {self.doc_ids[self.doc_of[a]]: range(a, b) for a, b in zip(starts, ends, strict=True)}


def doc_rows(passages: Sequence[Passage]) -> Mapping[str, Sequence[int]]:
    """Each document's passage positions, in order."""
    if isinstance(passages, PassageTable):
        return passages.doc_rows()
    rows: dict[str, range | list[int]] = {}
    for i, p in enumerate(passages):
        found = rows.get(p.doc_id)
        if found is None:
            rows[p.doc_id] = range(i, i + 1)
        elif isinstance(found, range) and found.stop == i:  # consecutive, as a document's passages are
            rows[p.doc_id] = range(found.start, i + 1)  # a million passages then make no int objects
        else:
            if isinstance(found, range):
                found = rows[p.doc_id] = list(found)
            found.append(i)
    return rows


def _encoded(texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Texts as one UTF-8 byte array and the offsets of each (n + 1 of them)."""
    encoded = [t.encode() for t in texts]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), offsets
