"""What a format parser returns: a document's title and metadata, and its blocks of readable text,
each knowing its section. Every format (retrieval/formats/) parses into these, so passages, answers
and attribution are written once for all formats."""

from __future__ import annotations

import json
from dataclasses import dataclass

# Block kinds. A heading is never a block: its words belong to the blocks under it (Section.path).
PROSE = "prose"  # a paragraph of running text
LIST = "list"  # a list: one item a line ("\n" between items), each item quotable on its own
ROW = "row"  # one table row with its header: "Field: title · Type: string · Description: max 45"
CODE = "code"  # a code or literal block, verbatim: evidence for "how do I write", not an answer to "what is"
NOTE = "note"  # an admonition, its label first: "Warning: …"
KINDS = (PROSE, LIST, ROW, CODE, NOTE)


@dataclass(frozen=True, slots=True)
class Mark:
    """Inline formatting over `text[start:end]` of a block, kept so that renderers can show it."""

    start: int
    end: int
    kind: str  # "code", "em", "strong" or "link"
    href: str = ""  # a link's target as written (absolute, relative, or "#anchor")


@dataclass(frozen=True, slots=True)
class Section:
    """Where a block sits: the headings above it, outermost first, and the innermost one's anchor."""

    path: tuple[str, ...] = ()  # heading texts as readers see them, the page's own title included
    anchor: str = ""  # the innermost heading's anchor as the site makes it (explicit ids honoured)
    date: str | None = None  # an ISO date written in a heading of the path (change logs), innermost wins


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of readable text, as a reader of the rendered page sees it (no markup)."""

    kind: str  # one of KINDS
    text: str  # plain text; whitespace inside a line collapsed; "\n" only between LIST items
    section: Section = Section()
    marks: tuple[Mark, ...] = ()
    page: int | None = None  # PDF page, counted from 1


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed file: metadata from its front matter or first heading, and its blocks in order."""

    title: str | None
    blocks: tuple[Block, ...]
    description: str | None = None
    date: str | None = None  # ISO date (YYYY-MM-DD) from front matter or a date marker


def section_json(section: Section) -> str:
    """A section as compact JSON, for the store and the saved index ("" for no section)."""
    if section == Section():
        return ""
    return json.dumps([list(section.path), section.anchor, section.date], ensure_ascii=False, separators=(",", ":"))


def section_of_json(text: str) -> Section:
    """The section `section_json` wrote."""
    if not text:
        return Section()
    path, anchor, date = json.loads(text)
    return Section(tuple(path), anchor, date)


def marks_json(marks: tuple[Mark, ...]) -> str:
    """Inline marks as compact JSON ("" for none)."""
    if not marks:
        return ""
    return json.dumps([[m.start, m.end, m.kind, m.href] for m in marks], ensure_ascii=False, separators=(",", ":"))


def marks_of_json(text: str) -> tuple[Mark, ...]:
    """The marks `marks_json` wrote."""
    return tuple(Mark(int(a), int(b), str(k), str(h)) for a, b, k, h in json.loads(text)) if text else ()


def clip_marks(marks: tuple[Mark, ...], start: int, end: int) -> tuple[Mark, ...]:
    """The marks over `[start, end)`, clipped to it and shifted to start at 0."""
    return tuple(
        Mark(max(m.start, start) - start, min(m.end, end) - start, m.kind, m.href)
        for m in marks if m.start < end and m.end > start
    )
