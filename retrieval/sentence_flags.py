"""What a sentence does, beyond the terms it holds: flags read once at build and stored in the sentence table
(retrieval/sentence_table.py), which the quote ranker's features read (retrieval/quote_ranker.py).

    POINTER   it sends the reader elsewhere: "You can read more at…", "See the … section."
    DEFAULT   it states a default: "Uses a 307 status code by default.", "Defaults to 500."

A build reads every sentence, so the patterns are tried only on the few sentences that hold one of their words:
the sentences of a batch are encoded and lower-cased (ASCII: the patterns' letters are) as one byte string, the
words found with `bytes.find` (a memchr-speed scan) and mapped to their sentences by the separators' positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

POINTER, DEFAULT = 1, 2
# In lower-cased text. A pointer names where to look, not the answer: documentation closes a passage with one.
_POINTER = re.compile(rb"\b(?:read|learn) more\b|\bmore (?:info|information|details) (?:at|in|on|about)\b|"
                      rb"\bfor more (?:info|information|details)\b|\b(?:see|check(?: out)?) (?:the )?(?:docs|"
                      rb"documentation|section|chapter|reference|tutorial|guide)\b|^\W*(?:see|check out)\b")
_DEFAULT = re.compile(rb"\bby default\b|\bdefaults? (?:to|is)\b|\bdefault value\b|\bis the default\b")
# Each flag's pattern, and words one of which every match holds.
_FLAGS = ((POINTER, _POINTER, (b"more", b"see", b"check")), (DEFAULT, _DEFAULT, (b"default",)))


def sentence_flags(sentences: Sequence[str]) -> np.ndarray:
    """The flags of each sentence (uint8)."""
    flags = np.zeros(len(sentences), np.uint8)
    text = "\0".join(sentences).encode().lower()  # the patterns' letters are ASCII: bytes lower-case them fast
    cuts = np.flatnonzero(np.frombuffer(text, np.uint8) == 0)
    if len(cuts) != max(len(sentences) - 1, 0):  # a sentence holds a NUL: read them one by one
        for i, sentence in enumerate(sentences):
            flags[i] = _flags(sentence.encode().lower())
        return flags
    starts, ends = np.concatenate([[0], cuts + 1]).tolist(), [*cuts.tolist(), len(text)]
    for bit, pattern, words in _FLAGS:
        found = [at for word in words for at in _found(text, word)]
        for r in np.unique(np.searchsorted(cuts, found)).tolist():  # a sentence's position: the cuts before it
            if pattern.search(text[starts[r] : ends[r]]):
                flags[r] |= bit
    return flags


def _flags(text: bytes) -> int:
    """The flags of one lower-cased, encoded sentence."""
    return sum(bit for bit, pattern, _ in _FLAGS if pattern.search(text))


def _found(text: bytes, word: bytes) -> Iterator[int]:
    """Where `word` occurs in `text`."""
    at = text.find(word)
    while at >= 0:
        yield at
        at = text.find(word, at + 1)
