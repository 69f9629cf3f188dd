"""Readable text with its inline marks, built piece by piece by the tree-walking parsers (rst, html)."""

from __future__ import annotations

import re

from retrieval.formats.dates import find_date
from retrieval.structure import PROSE, Block, Mark, Parsed, Section

_SPACE = re.compile(r"\s+")


class TextRun:
    """Text appended piece by piece, whitespace collapsed as it comes, with marks over its spans."""

    __slots__ = ("_parts", "_size", "_marks", "_at_space")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._marks: list[tuple[int, int, str, str]] = []
        self._at_space = True  # at the start, or after a space or newline: leading spaces are dropped

    def __len__(self) -> int:
        return self._size

    def add(self, text: str) -> None:
        """Append text as a browser shows it: runs of whitespace become one space."""
        text = _SPACE.sub(" ", text)
        if self._at_space and text.startswith(" "):
            text = text[1:]
        if text:
            self._parts.append(text)
            self._size += len(text)
            self._at_space = text.endswith(" ")

    def add_verbatim(self, text: str) -> None:
        """Append text as it is (code), keeping its line breaks."""
        if text:
            self._parts.append(text)
            self._size += len(text)
            self._at_space = text[-1].isspace()

    def newline(self) -> None:
        """End the current line (between LIST items); nothing at the very start or after a newline."""
        if self._parts and self._parts[-1].endswith(" "):
            self._parts[-1] = self._parts[-1][:-1]
            self._size -= 1
        if self._size and not self._parts[-1].endswith("\n"):
            self._parts.append("\n")
            self._size += 1
        self._at_space = True

    def separate(self, separator: str = " ") -> None:
        """Put a separator before the next piece, unless the run is empty or already ends in a space."""
        if self._size and not self._at_space and self._parts[-1][-1] not in "([{":
            self.add_verbatim(separator)
            self._at_space = separator.endswith(" ")

    def mark(self, start: int, kind: str, href: str = "") -> None:
        """Mark the text appended since `start` (a `len(run)` taken before) as `kind`."""
        if self._size > start:
            self._marks.append((start, self._size, kind, href))

    def build(self) -> tuple[str, tuple[Mark, ...]]:
        """The text, trimmed, and its marks fitted to it (empty marks dropped)."""
        raw = "".join(self._parts)
        text = raw.rstrip()
        lead = len(text) - len(text.lstrip())
        text = text[lead:]
        marks = []
        for start, end, kind, href in self._marks:
            start, end = max(start - lead, 0), min(end - lead, len(text))
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start < end:
                marks.append(Mark(start, end, kind, href))
        return text, tuple(marks)


class Outline:
    """The headings above the current point of a page, and the Section they make."""

    def __init__(self, base: tuple[str, ...] = ()) -> None:
        self._heads: list[tuple[int, str, str, str | None]] = [(0, title, "", None) for title in base]
        self.section = Section(base)

    def push(self, level: int, heading: str, anchor: str) -> None:
        """Enter a heading of `level` (1 outermost), leaving any open heading at that level or deeper."""
        while self._heads and self._heads[-1][0] >= level:
            self._heads.pop()
        self._heads.append((level, heading, anchor, heading_date(heading)))
        self._update()

    def pop(self) -> None:
        """Leave the innermost heading."""
        self._heads.pop()
        self._update()

    @property
    def depth(self) -> int:
        """The level of the innermost open heading (0 when none is open)."""
        return self._heads[-1][0] if self._heads else 0

    def _update(self) -> None:
        dates = [date for *_, date in self._heads if date]
        anchor = self._heads[-1][2] if self._heads else ""
        self.section = Section(tuple(h for _, h, _, _ in self._heads), anchor, dates[-1] if dates else None)


def heading_date(heading: str) -> str | None:
    """An ISO date written in a heading ("v1.2 (2024-03-01)", "March 1, 2024"), or None."""
    return find_date(heading)


def plain_text(text: str) -> Parsed:
    """The reading of last resort, when a parser gave up: blank-line separated paragraphs as prose."""
    blocks = []
    for paragraph in re.split(r"\n\s*\n", text):
        run = TextRun()
        run.add(paragraph)
        if len(run):
            blocks.append(Block(PROSE, run.build()[0]))
    return Parsed(None, tuple(blocks))
