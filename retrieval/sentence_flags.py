"""What a sentence does, beyond the terms it holds: flags read once at build and stored in the sentence table
(retrieval/sentence_table.py), which the quote ranker's features read (retrieval/quote_ranker.py).

    POINTER   it sends the reader elsewhere: "You can read more at…", "See the … section."
    DEFAULT   it states a default: "Uses a 307 status code by default.", "Defaults to 500."
    FOLLOWS   it opens by leaning on the sentence before: "In simple terms, this means…", "Consider using X
              instead.", "Likewise, this function…" (alone it says less than with that sentence)

A build reads every sentence, so the patterns are tried only on the few sentences that hold one of their words:
the sentences of a batch are encoded and lower-cased (ASCII: the patterns' letters are) as one byte string, the
words found with `bytes.find` (a memchr-speed scan) and mapped to their sentences by the separators' positions.
FOLLOWS looks only at a sentence's opening: one search for the separator followed by an opening word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

POINTER, DEFAULT, FOLLOWS = 1, 2, 4
# In lower-cased text. A pointer names where to look, not the answer: documentation closes a passage with one.
_POINTER = re.compile(rb"\b(?:read|learn) more\b|\bmore (?:info|information|details) (?:at|in|on|about)\b|"
                      rb"\bfor more (?:info|information|details)\b|\b(?:see|check(?: out)?) (?:the )?(?:docs|"
                      rb"documentation|section|chapter|reference|tutorial|guide)\b|^\W*(?:see|check out)\b")
_DEFAULT = re.compile(rb"\bby default\b|\bdefaults? (?:to|is)\b|\bdefault value\b|\bis the default\b")
# An opening that refers back or goes on from the sentence before; after the separator (NUL) that opens each
# sentence of a batch, so that the search skips to each NUL (a literal first character) and tries only there.
_FOLLOWS = re.compile(rb"\0[^\w\0]*(?:this|these|that|those|it|its|they|such|likewise|similarly|instead|otherwise|"
                      rb"however|also|so|thus|hence|therefore|consider|then|in (?:simple terms|other words|short|"
                      rb"this case|that case|addition)|that is|as a result|for (?:example|instance))\b")
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
    opened = [m.start() for m in _FOLLOWS.finditer(b"\0" + text)]  # at the NUL before sentence r: position r
    flags[np.searchsorted(np.concatenate([[0], cuts + 1]), opened)] |= FOLLOWS
    return flags


def _flags(text: bytes) -> int:
    """The flags of one lower-cased, encoded sentence."""
    return sum(bit for bit, pattern, _ in _FLAGS if pattern.search(text)) + (FOLLOWS if _FOLLOWS.match(b"\0" + text)
                                                                               else 0)


def _found(text: bytes, word: bytes) -> Iterator[int]:
    """Where `word` occurs in `text`."""
    at = text.find(word)
    while at >= 0:
        yield at
        at = text.find(word, at + 1)
