"""What a summary request may ask, checked before any work: its length, its topic, and the document
it names (an indexed id, title or start of one id, never a path)."""

from __future__ import annotations

import difflib

from .errors import QuestionError, UnknownDocumentError
from .index import Index

DEFAULT_SENTENCES = 5
MAX_SENTENCES = 15
MIN_WORDS_CAP = 10
MAX_TOPIC_CHARS = 1000

def check_length(
    sentences: int | None, words: int | None, max_sentences: int | None = MAX_SENTENCES, min_words: int = MIN_WORDS_CAP
) -> None:
    """QuestionError unless 1 ≤ sentences ≤ max_sentences and words (when given) ≥ min_words; the
    engine itself takes any length, the service holds users to 1–15 sentences and at least 10 words."""
    if sentences is not None and (sentences < 1 or (max_sentences is not None and sentences > max_sentences)):
        limit = f"1 to {max_sentences}" if max_sentences is not None else "at least 1"
        raise QuestionError(f"A summary can have {limit} sentences, not {sentences}.")
    if words is not None and words < min_words:
        raise QuestionError(f"A summary needs room for at least {min_words} words, not {words}.")


def check_topic(topic: str) -> str:
    """The topic with its spaces collapsed; QuestionError when empty or too long."""
    text = " ".join(topic.split())
    if not text:
        raise QuestionError("Please name a topic to summarise: it was empty.")
    if len(text) > MAX_TOPIC_CHARS:
        raise QuestionError(f"That topic is {len(text):,} characters long; please keep it under {MAX_TOPIC_CHARS:,}.")
    return text


def find_document(index: Index, name: str) -> str:
    """The id of the indexed document called `name` (its id, its id or title in any case, or the
    start of exactly one id), else UnknownDocumentError with up to three close ids. Only the index is
    consulted, never the disk."""
    if name in index.documents:
        return name
    wanted = " ".join(name.split()).casefold()
    matches = [d.id for d in index.documents.values() if wanted in (d.id.casefold(), d.title.casefold())]
    if not matches and len(wanted) >= 3:  # the start of an id, as with short commit hashes: "004"
        matches = [d.id for d in index.documents.values() if d.id.casefold().startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    raise UnknownDocumentError(name, tuple(sorted(matches)[:3]) or closest_documents(index, wanted))


def closest_documents(index: Index, name: str, n: int = 3, cutoff: float = 0.4) -> tuple[str, ...]:
    """Ids of the documents whose id or title looks most like `name` (difflib, case-insensitive)."""
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(name.casefold()[:200])  # difflib is quadratic: a pasted essay must not stall the bot
    ranked: list[tuple[float, str]] = []
    for doc in index.documents.values():
        best = 0.0
        for label in (doc.id.casefold(), doc.title.casefold()[:200]):
            matcher.set_seq1(label)
            if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
                best = max(best, matcher.ratio())
        if best >= cutoff:
            ranked.append((best, doc.id))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return tuple(doc_id for _, doc_id in ranked[:n])


def sentence_limit(sentences: int | None, words: int | None) -> int:
    """How many sentences at most: as asked; five when no length is given; fifteen when only words are,
    so that the words decide."""
    if sentences is not None:
        return sentences
    return MAX_SENTENCES if words is not None else DEFAULT_SENTENCES
