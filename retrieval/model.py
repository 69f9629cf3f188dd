"""The engine's values: frozen dataclasses shared by every module."""

from __future__ import annotations

from dataclasses import dataclass, field

from .structure import PROSE, Block, Mark, Section


@dataclass(frozen=True, slots=True)
class Document:
    """One file of the documents folder, parsed."""

    id: str  # the file name, relative to the folder: stable across reindexes
    title: str
    date: str | None  # ISO date from a leading `date YYYY-MM-DD` marker
    paragraphs: tuple[str, ...]
    content_hash: str
    blocks: tuple[Block, ...] = ()  # structured formats: the parsed blocks (paragraphs are their texts)
    description: str | None = None  # from front matter

    @property
    def text(self) -> str:
        """The document's text, paragraphs separated by blank lines."""
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not indexed, and why."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrievable unit: a paragraph, or a part of a long one."""

    doc_id: str
    paragraph: int  # counted from 1, for people
    text: str
    part: int = 1  # a long paragraph is split at sentence boundaries into parts
    kind: str = PROSE  # structure.KINDS
    section: Section = Section()
    marks: tuple[Mark, ...] = ()  # inline formatting, offsets within `text`
    page: int | None = None  # PDF page


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage and its retrieval score."""

    passage: int  # position in the index's passage list
    score: float


@dataclass(frozen=True, slots=True)
class Quote:
    """Verbatim sentences that answer a question, within their passage."""

    text: str
    passage: str
    start: int  # where `text` starts in `passage`
    source: str
    title: str
    paragraph: int
    date: str | None  # the section's date (change logs) or else the document's
    score: float
    kind: str = PROSE
    section: tuple[str, ...] = ()  # heading path, outermost first (may start with the title)
    anchor: str = ""  # the innermost heading's anchor
    marks: tuple[Mark, ...] = ()  # inline formatting, offsets within `passage`
    page: int | None = None  # PDF page
    url: str | None = None  # a link to the source (QA_SOURCE_URL), filled in by the service

    @property
    def end(self) -> int:
        """Where `text` ends in `passage`."""
        return self.start + len(self.text)


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to a question: quotes, best first, or none when not found."""

    question: str
    quotes: tuple[Quote, ...]
    closest: tuple[str, ...] = ()  # titles of the nearest documents, for a not-found reply
    context_used: bool = False  # whether earlier turns of the conversation shaped retrieval
    corrected: tuple[tuple[str, str], ...] = ()  # (as typed, as searched for) for each word read as a typo
    confidence: float | None = None  # the not-found model's probability that the documents answer it

    @property
    def answered(self) -> bool:
        """Whether the documents answer the question."""
        return bool(self.quotes)


@dataclass(frozen=True, slots=True)
class SummarySentence:
    """One verbatim sentence of a summary, with its source."""

    text: str
    source: str
    title: str
    paragraph: int
    date: str | None
    also_in: tuple[str, ...] = ()  # other documents that say the same


@dataclass(frozen=True, slots=True)
class Summary:
    """An extractive summary of a document, a topic or the collection."""

    kind: str  # "document", "topic" or "collection"
    subject: str
    sentences: tuple[SummarySentence, ...] = field(default_factory=tuple)
