"""Documents to passages: paragraphs, long ones split at sentence boundaries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
