"""The sentence splitter's rules written the direct way (retrieval/text.py before it was made faster): the
reference the fast splitter must equal, span for span (tests/test_sentences.py, `python -m bench.splitters
--check`). Each candidate end is found alone, its next start matched after it, and the sentence's text sliced
and stripped, as the rules read.
"""

from __future__ import annotations

import re

from retrieval.text import (
    _ABBREVIATIONS,
    _BEFORE_NUMBERS,
    _DOTTED,
    _INITIAL,
    _LOWER_INITIAL,
    _NEXT_START,
    _NEXT_WORD,
    _SENTENCE_END,
    _SUFFIXES,
    _ends_after_all,
    by_line,
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (retrieval.text.split_sentences's contract)."""
    return by_line(text, _line_sentences)


def _line_sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        following = _NEXT_START.match(text, end)
        if not following or _goes_on(text, start, match, following.group("first")[0].isdigit()):
            continue
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    return [s for s in (_strip(text, a, b) for a, b in spans) if s[1] > s[0]]


def _goes_on(text: str, start: int, end: re.Match[str], digit: bool) -> bool:
    if digit and ("…" in end.group() or "..." in end.group()):
        return True
    sentence = text[start:end.end()]
    if not sentence.endswith("."):
        return False
    word = sentence.rsplit(None, 1)[-1]
    bare = word.rstrip(".").lower().lstrip("(\"'“‘")
    if bare in _BEFORE_NUMBERS and digit:
        return bare not in ("no", "nos") or word.lstrip("(\"'“‘")[:1] == "N"
    if bare in _SUFFIXES:
        found = _NEXT_WORD.match(text, end.end())
        if not found:
            return True
        after = found.group(1)
        return not after[:1].isupper() or after.isupper() or text[found.end():found.end() + 1] == "."
    tail = sentence[-3:]
    abbreviation = (bare in _ABBREVIATIONS or bool(_DOTTED.search(word)) or bool(_INITIAL.search(tail))
                    or bool(_LOWER_INITIAL.search(tail)))
    return abbreviation and not _ends_after_all(text, start, end.end())


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
