"""Make retrieval/data/derivations.txt, english_terms.txt.gz and synonyms.txt from WordNet 3.0.

    apt-get install wordnet-base      # Debian's WordNet database, in /usr/share/wordnet
    python -m bench.wordnet_tables --synonyms retrieval/data/synonyms.txt [--senses 1]

The engine reads the tables it writes and never WordNet itself (no download, no network at run time).
A line is an analysed term (the Analyser's Snowball stem) and the stems WordNet links to it as
derivationally related forms ("+" pointers: respond ~ responsive, die ~ death) or as what a verb
causes, with that verb's forms (">" pointers: kill causes die, so kill ~ die ~ death), kept only where
the stemmer does not already join them. english_terms.txt.gz holds the terms of every single-word
WordNet lemma: what typo correction leaves alone. `--synonyms` writes single-word synset co-members,
only where the synset is among the `--senses` most frequent senses of both words that WordNet's
sense-tagged corpus (SemCor) holds: frequent words in their usual sense (stage ~ phase, nation ~
country), not server ~ waiter. One sense is what the engine ships (bench/related.py measured 1 and 2).
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import defaultdict
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

from retrieval.index import Weighting

WORDNET = Path("/usr/share/wordnet")
OUT = Path(__file__).resolve().parent.parent / "retrieval" / "data" / "derivations.txt"
WORDS = OUT.with_name("english_terms.txt.gz")
POS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # adjective position markers: "deciding(a)"
NOTICE = """\
# {what} from WordNet 3.0, as the engine's analysed terms (bench/wordnet_tables.py).
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR
# WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON UNIVERSITY MAKES NO
# REPRESENTATIONS OR WARRANTIES OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
# OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT INFRINGE ANY THIRD PARTY PATENTS,
# COPYRIGHTS, TRADEMARKS OR OTHER RIGHTS. (Full licence: /usr/share/doc/wordnet-base/copyright.)
# Each line: a term, then the terms {how}.
"""

Synset = tuple[list[str], list[tuple[str, str, str, str]]]


def synsets(folder: Path = WORDNET) -> dict[tuple[str, str], Synset]:
    """Every synset by (pos, offset): its words and its pointers (symbol, offset, pos, source/target)."""
    found: dict[tuple[str, str], Synset] = {}
    for pos, name in POS.items():
        for line in (folder / f"data.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):  # the licence header
                continue
            parts = line.split(" | ")[0].split()
            n = int(parts[3], 16)
            words = [_MARKER.sub("", parts[4 + 2 * i]).lower() for i in range(n)]
            at = 4 + 2 * n
            pointers = [tuple(parts[at + 1 + 4 * j: at + 5 + 4 * j]) for j in range(int(parts[at]))]
            found[(pos, parts[0])] = (words, pointers)  # type: ignore[assignment]
    return found


def derivation_pairs(table: dict[tuple[str, str], Synset]) -> Iterator[tuple[str, str]]:
    """(word, word) for every derivationally related form pointer."""
    for words, pointers in table.values():
        for symbol, offset, pos, source_target in pointers:
            if symbol == "+":
                target = table[("a" if pos == "s" else pos, offset)][0]
                yield words[int(source_target[:2], 16) - 1], target[int(source_target[2:], 16) - 1]


def cause_pairs(table: dict[tuple[str, str], Synset]) -> Iterator[tuple[str, str]]:
    """(verb, verb) for every cause pointer ("kill" causes "die": the caused synset's head word), and
    (verb, form) for each derivationally related form of the caused verb ("kill" ~ "death")."""
    derived: dict[str, set[str]] = defaultdict(set)
    for a, b in derivation_pairs(table):
        derived[a].add(b)
    for (pos, _), (words, pointers) in table.items():
        if pos != "v":
            continue
        for symbol, offset, _pos, _ in pointers:
            if symbol == ">":  # the caused synset's head word only: its others are loose ("go", "pass")
                caused = table[("v", offset)][0][0]
                for word in words:
                    yield word, caused
                    yield from ((word, form) for form in derived[caused])


def english_terms(folder: Path = WORDNET) -> set[str]:
    """The analysed terms of every single-word lemma WordNet has (proper names included): a question
    word whose term is here is a real word the documents lack, not a typo."""
    analyser = Weighting().analyser()
    words = {line.split()[0] for pos in POS.values()
             for line in (folder / f"index.{pos}").read_text(encoding="latin-1").splitlines()
             if not line.startswith(" ")}
    return {t for w in words if w.isalpha() and w.isascii() for t in analyser.terms([w])}


def sense_ranks(folder: Path = WORDNET) -> dict[tuple[str, str, str], int]:
    """(word, pos, synset offset) -> the sense's rank among the word's senses (0: its most frequent), for
    senses tagged in WordNet's sense-tagged corpus (SemCor): a word's rare senses are left out."""
    ranks: dict[tuple[str, str, str], int] = {}
    for pos, name in POS.items():
        for line in (folder / f"index.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split()
            count = int(parts[2])
            for rank, offset in enumerate(parts[-count:][: int(parts[-count - 1])]):
                ranks[(parts[0], pos, offset)] = rank
    return ranks


def synonym_pairs(table: dict[tuple[str, str], Synset], ranks: dict[tuple[str, str, str], int] | None = None,
                  senses: int = 1) -> Iterator[tuple[str, str]]:
    """(word, word) for every two words of one synset; with `ranks`, only where the synset is among the
    `senses` most frequent tagged senses of both words (server ~ host, not server ~ waiter)."""
    for (pos, offset), (words, _) in table.items():
        for a in words:
            for b in words:
                if a < b and (ranks is None or max(ranks.get((a, pos, offset), senses),
                                                   ranks.get((b, pos, offset), senses)) < senses):
                    yield a, b


def by_term(pairs: Iterator[tuple[str, str]]) -> dict[str, set[str]]:
    """Pairs of single words as pairs of analysed terms, both ways; pairs the analyser joins dropped."""
    analyser = Weighting().analyser()
    linked: dict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        ta, tb = analyser(a), analyser(b)
        if len(ta) == 1 and len(tb) == 1 and ta != tb and a.isalpha() and b.isalpha():
            linked[ta[0]].add(tb[0])
            linked[tb[0]].add(ta[0])
    return linked


def write(linked: dict[str, set[str]], path: Path, what: str = "Derivationally related forms",
          how: str = "derivationally related to it") -> None:
    """The table, one term a line, sorted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{term} {' '.join(sorted(others))}" for term, others in sorted(linked.items())]
    path.write_text(NOTICE.format(what=what, how=how) + "\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    """Write the derivation table (and the synonym table when asked)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--synonyms", type=Path, help="also write single-word synonyms here")
    parser.add_argument("--senses", type=int, default=1, help="synonyms of each word's N most frequent senses")
    args = parser.parse_args()
    table = synsets()
    derived = by_term(chain(derivation_pairs(table), cause_pairs(table)))
    write(derived, OUT)
    print(f"{OUT}: {len(derived):,} terms, {sum(map(len, derived.values())) // 2:,} pairs")
    terms = english_terms()
    # mtime 0: the same WordNet gives the same bytes
    WORDS.write_bytes(gzip.compress("\n".join(sorted(terms)).encode() + b"\n", mtime=0))
    print(f"{WORDS}: {len(terms):,} terms")
    if args.synonyms:
        synonyms = by_term(synonym_pairs(table, sense_ranks(), args.senses))
        write(synonyms, args.synonyms, f"Synonyms in the {args.senses} most frequent sense(s) of both words",
              "of its synonyms")
        print(f"{args.synonyms}: {len(synonyms):,} terms, {sum(map(len, synonyms.values())) // 2:,} pairs")


if __name__ == "__main__":
    main()
