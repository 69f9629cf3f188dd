"""What makes a summary read in order: a sentence that opens by pointing back ("He said…", "However, …",
"This visit…") needs the sentence before it in its document, and sentences are shown by their
documents' dates, then by their place in the document.

A sentence *dangles* when its first word (after opening quotes or brackets) is a third-person or
demonstrative pronoun, or when it opens with a discourse connective. A pronoun followed by a
capitalised word is a name, not a pronoun ("He Xintong said…"), and "This limit…" under a heading or
title that names a limit points at it, not at a sentence (summary_pool.passage_rows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_PRONOUNS = frozenset("""he she it they him her them his hers its their theirs this that these those such""".split())
_CONNECTIVES = frozenset(
    """but however and also yet still so thus therefore hence meanwhile moreover furthermore nevertheless
    nonetheless instead besides otherwise then later afterwards consequently accordingly likewise similarly
    indeed additionally or nor""".split()
)
_PHRASES = (
    "in addition", "as a result", "on the other hand", "at the same time", "even so", "for example",
    "for instance", "in contrast", "by contrast", "in turn", "after that", "in response", "despite this",
    "because of this", "as well",
)
_DETERMINERS = frozenset("this that these those such".split())
_WORDS = re.compile(r"[A-Za-z]+")  # "It's" opens with "It"
_OPENING = "\"'“‘`([«"


def dangles(sentence: str) -> bool:
    """Whether a sentence opens with an unresolved pronoun or a discourse connective."""
    words = _WORDS.findall(sentence.lstrip().lstrip(_OPENING)[:60])
    if not words:
        return False
    first = words[0].lower()
    if first in _PRONOUNS:
        return not (len(words) > 1 and words[1][0].isupper() and words[1] != "I")
    if first in _CONNECTIVES:
        return True
    opening = " ".join(w.lower() for w in words[:4])
    return any(opening == p or opening.startswith(p + " ") for p in _PHRASES)


def opening_noun(sentence: str) -> str | None:
    """The word after an opening "This", "That", "These", "Those" or "Such" used as a determiner ("This
    limit is…"), which the heading above the sentence may name; else None."""
    words = _WORDS.findall(sentence.lstrip().lstrip(_OPENING)[:60])
    if len(words) > 1 and words[0].lower() in _DETERMINERS and words[1].islower():
        return words[1]
    return None


def predecessors(documents: Sequence[int], dangling: Sequence[bool]) -> list[int]:
    """For each row (in document order), the row it depends on: the previous row of its document when it
    dangles, -2 when it dangles with nothing before it (never to be chosen), else -1."""
    found = []
    for i, (doc, d) in enumerate(zip(documents, dangling, strict=True)):
        if not d:
            found.append(-1)
        else:
            found.append(i - 1 if i and documents[i - 1] == doc else -2)
    return found


def needs(row: int, before: Sequence[int]) -> list[int]:
    """The rows that must come with `row`: itself and the chain of rows it depends on (empty when it
    depends on a row that does not exist)."""
    chain = [row]
    while before[chain[-1]] >= 0:
        chain.append(before[chain[-1]])
    return [] if before[chain[-1]] == -2 else chain
