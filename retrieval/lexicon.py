"""Word knowledge beyond the stemmer: derivationally related forms (respond ~ response, die ~ death) and
synonyms of frequent words (stage ~ phase, nation ~ country) from tables made from WordNet, how common
each word is in English (a table made from wordfreq), all shipped with the code, and typo correction
against the index's own vocabulary. None needs a network or a model download at run time. (Co-occurrence
in the index, pseudo-relevance feedback and latent similarity were measured as further sources of related
words and left out: bench/related.py, README.)"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .index import Index
from .text import STOP_WORDS

DATA = Path(__file__).resolve().parent / "data"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
MIN_TYPO_LENGTH = 4  # shorter words have too many neighbours one edit away to guess from


def _table(name: str) -> dict[str, tuple[str, ...]]:
    """A word table of retrieval/data/: each line a term, then the terms linked to it."""
    table: dict[str, tuple[str, ...]] = {}
    with open(DATA / name, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            term, *others = line.split()
            table[term] = tuple(others)
    return table


@lru_cache(maxsize=1)
def derivations() -> dict[str, tuple[str, ...]]:
    """Analysed term -> the terms of its derivationally related forms (retrieval/data/derivations.txt)."""
    return _table("derivations.txt")


@lru_cache(maxsize=1)
def synonyms() -> dict[str, tuple[str, ...]]:
    """Analysed term -> the terms of its WordNet synonyms in its most frequent sense (retrieval/data/synonyms.txt)."""
    return _table("synonyms.txt")


@lru_cache(maxsize=1)
def english_terms() -> frozenset[str]:
    """The terms of every single-word WordNet lemma (retrieval/data/english_terms.txt.gz): a question
    word with one of these is a real word that the documents lack, never read as a typo."""
    return frozenset(gzip.decompress((DATA / "english_terms.txt.gz").read_bytes()).decode().split())


@lru_cache(maxsize=1)
def english_frequency() -> dict[str, float]:
    """Analysed term -> the Zipf frequency of its commonest English word (retrieval/data/english_frequency.txt.gz,
    made by bench/english_frequency.py from wordfreq); terms rarer than once in a million words are left out."""
    text = gzip.decompress((DATA / "english_frequency.txt.gz").read_bytes()).decode()
    rows = (line.split() for line in text.splitlines() if not line.startswith("#"))
    return {term: float(zipf) for term, zipf in rows}


def rarity(term: str) -> float:
    """How rare a term is in English at large: 7 less its Zipf frequency, at least 0 (1.3 for "keep", 4 for a
    word used once in a million words, 7 for one rarer still, such as "smtp", or one the table lacks)."""
    return max(0.0, 7.0 - english_frequency().get(term, 0.0))


def known(index: Index, term: str) -> bool:
    """Whether some passage of the index holds the term."""
    tid = index.vocabulary.get(term)
    return tid is not None and bool(index.df[tid] > 0)


def related(index: Index, term: str, table: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """The terms linked to `term` in a word table (by default its derivationally related forms) that the
    index holds."""
    return tuple(t for t in (derivations() if table is None else table).get(term, ()) if known(index, t))


def expand(index: Index, required: Sequence[str], terms: Mapping[str, float], derivation_weight: float,
           synonym_weight: float) -> tuple[dict[str, tuple[str, ...]], dict[str, float]]:
    """(each required term -> its derivationally related forms, which stand in for it; each term the question
    lacks among those and the synonyms -> its retrieval weight). A synonym only helps retrieve: counted for the
    word it came from, it lost quotes in conversations and docs questions (bench/related.py). A weight of 0
    leaves a source out."""
    links = {t: found for t in required if (found := related(index, t))} if derivation_weight > 0 else {}
    similar = {t: found for t in required if (found := related(index, t, synonyms()))} if synonym_weight > 0 else {}
    added: dict[str, float] = {}
    for weight, forms in ((derivation_weight, links), (synonym_weight, similar)):
        for found in forms.values():
            added.update((r, max(added.get(r, 0.0), weight)) for r in found if r not in terms)
    return links, added


@dataclass(frozen=True, slots=True)
class Correction:
    """A question word the index does not hold, and the index word it most likely meant."""

    typed: str
    meant: str  # as a reader writes it ("permissions")
    term: str  # its analysed term


_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_VOWELS = "aeiouy"


def _keyboard() -> dict[str, str]:
    """Each letter's likely slips: the keys around it on a QWERTY keyboard, and every vowel (people
    misspell vowels: "seperate", "definately")."""
    where = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    near = {}
    for c, (r, i) in where.items():
        around = {k for k, (r2, i2) in where.items() if abs(r2 - r) <= 1 and abs(i2 - i) <= 1 and k != c}
        near[c] = "".join(sorted(around | set(_VOWELS)))
    return near


_SLIPS = _keyboard()


def edits(word: str) -> set[str]:
    """The spellings one slip away from `word`: a letter dropped, two swapped, one replaced by a key
    next to it (or any vowel), or one added that is a key next to its neighbours, a vowel, or a doubling.
    A typist's slips, not all 54n strings one edit away: a third as many to check, as many typos found."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    inserts = set()
    for a, b in splits:
        around = (a[-1:] + b[:1]) or word[:1]
        letters = set(_VOWELS) | set(around) | {k for c in around for k in _SLIPS.get(c, "")}
        inserts |= {a + c + b for c in letters}
    return ({a + b[1:] for a, b in splits if b}
            | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in _SLIPS.get(b[0], _LETTERS)}
            | inserts) - {word}


def correct(index: Index, token: str, others: Sequence[str] = ()) -> Correction | None:
    """The index word one edit away from a question word the index lacks that most often shares a
    passage with the question's other terms `others`, the most frequent one among equals; None when the
    word is known to the index or to English, too short, not a plain word, or has no such neighbour."""
    return choose(index, token, neighbours(index, token), others)


def _plain(token: str) -> bool:
    """Whether a word is one that may be a typo: long enough, of ASCII letters only, and no stop word."""
    return len(token) >= MIN_TYPO_LENGTH and token.isalpha() and token.isascii() and token not in STOP_WORDS


def suspects(index: Index, tokens: Sequence[str]) -> list[int]:
    """The positions of the words that `neighbours` may take for typos (plain words whose term neither the
    index nor English holds), read for a whole question at once: one batch of stems, not a call a word."""
    plain = [i for i, t in enumerate(tokens) if _plain(t)]
    terms = index.analyser.term_of_each([tokens[i] for i in plain])
    english = english_terms()
    return [i for i, term in zip(plain, terms, strict=True)
            if term is not None and not known(index, term) and term not in english]


MIN_PART = 3  # the shortest part a word typed joined is read as ("autoshardedclient": auto, sharded, client)
MAX_JOINED = 40  # longer "words" are no identifiers typed joined: not read as parts


def joined(index: Index, word: str) -> list[str] | None:
    """The words, each known and at least MIN_PART letters, that a word the index lacks is made of when typed
    joined ("hybridcommand", "quickbooks" for documents that write HybridCommand, QuickBooks), the first held
    in a passage with the others, as a CamelCase word's parts are; the shortest first word that leads to a
    whole split; None when there are none."""
    return _split(index, word, {}) if len(word) <= MAX_JOINED else None


def _split(index: Index, word: str, seen: dict[str, list[str] | None]) -> list[str] | None:
    """`joined` of a word or of the tail of one, each tail tried once (`seen`)."""
    if word in seen:
        return seen[word]
    seen[word] = None
    analyser = index.analyser
    heads = [word[:i] for i in range(MIN_PART, len(word) - MIN_PART + 1)]
    for head, term in zip(heads, analyser.term_of_each(heads), strict=True):
        if term is None or not known(index, term):
            continue
        tail = word[len(head):]
        tail_term = analyser.terms([tail])
        rest = [tail] if tail_term and known(index, tail_term[0]) else _split(index, tail, seen)
        if rest and _together(index, index.vocabulary[term], [index.vocabulary[t] for t in analyser.terms(rest)]):
            seen[word] = [head, *rest]
            break
    return seen[word]


def neighbours(index: Index, token: str) -> dict[str, tuple[int, str]]:
    """The index terms one edit away from a question word that may be a typo: term -> (its document
    frequency, the first spelling that reads as it); empty when the word is not taken for a typo."""
    if not _plain(token):
        return {}
    analyser = index.analyser
    own = analyser.terms([token])
    if not own or known(index, own[0]) or own[0] in english_terms():
        return {}
    found: dict[str, tuple[int, str]] = {}
    candidates = sorted(edits(token))
    vocabulary, df = index.vocabulary, index.df
    for candidate, term in zip(candidates, analyser.term_of_each(candidates), strict=True):
        tid = vocabulary.get(term) if term is not None else None
        if tid is not None and term is not None and df[tid] > 0 and term not in found:
            found[term] = (int(df[tid]), candidate)
    return found


def choose(index: Index, token: str, found: dict[str, tuple[int, str]], others: Sequence[str]) -> Correction | None:
    """Of a word's `neighbours`, the one most often in a passage with the terms `others`, then the most frequent."""
    if not found:
        return None
    vocabulary = index.vocabulary
    context = [vocabulary[t] for t in others if known(index, t)]
    term = max(sorted(found), key=lambda t: (_together(index, vocabulary[t], context), found[t][0]))
    return Correction(token, found[term][1], term)


def _together(index: Index, tid: int, others: Sequence[int]) -> int:
    """How many passages hold the term `tid` and one of the terms `others` ("Stev Witkof": steve, not step)."""
    if not others:
        return 0
    w = index.weights
    rows = w.indices[w.indptr[tid]:w.indptr[tid + 1]]
    near = np.concatenate([w.indices[w.indptr[o]:w.indptr[o + 1]] for o in others])
    return int(np.isin(rows, near).sum())
