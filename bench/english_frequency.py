"""Make retrieval/data/english_frequency.txt.gz: how common each analysed term is in English at large.

    pip install wordfreq              # only to make the table; the engine reads the table it writes
    python -m bench.english_frequency [--floor 3.0]

A line is an analysed term (the Analyser's Snowball stem) and its Zipf frequency (log10 of uses per
billion words) by wordfreq's English list, the most frequent of the words with that stem, one decimal;
terms under `--floor` are left out (read as 0). The not-found model weighs a question word the passage
lacks by how rare it is in English (retrieval/calibration.py, `subject_absent`): a help-channel question
says "keeps", "whole", "roughly", which documentation seldom writes, and lacking those matters less than
lacking "smtp" or "playlist". wordfreq's data is CC BY-SA 4.0 (retrieval/data/README.md).
"""

from __future__ import annotations

import argparse
import gzip
from importlib.metadata import version
from pathlib import Path

from retrieval.index import Weighting

OUT = Path(__file__).resolve().parent.parent / "retrieval" / "data" / "english_frequency.txt.gz"
NOTICE = """\
# Zipf frequency of the engine's analysed terms in English, from wordfreq {version}'s "en" list
# (bench/english_frequency.py; terms under {floor} left out). wordfreq by Robyn Speer; its data is
# licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/), and so is this table.
"""


def frequencies(floor: float) -> dict[str, float]:
    """Analysed term -> the Zipf frequency of its most frequent English word, for terms at `floor` or more."""
    from wordfreq import iter_wordlist, zipf_frequency

    analyser = Weighting().analyser()
    table: dict[str, float] = {}
    for word in iter_wordlist("en", "best"):  # most frequent first: a term's first word is its most frequent
        zipf = zipf_frequency(word, "en")
        if zipf < floor:
            break
        terms = analyser(word)
        if len(terms) == 1:  # a word the engine reads as one term ("e-mail" is two, "the" none)
            table.setdefault(terms[0], round(zipf, 1))
    return table


def main() -> None:
    """Write the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--floor", type=float, default=3.0, help="leave out terms rarer than this Zipf frequency")
    args = parser.parse_args()
    table = frequencies(args.floor)
    lines = [f"{term} {zipf:.1f}" for term, zipf in sorted(table.items())]
    text = NOTICE.format(version=version("wordfreq"), floor=args.floor) + "\n".join(lines) + "\n"
    OUT.write_bytes(gzip.compress(text.encode(), mtime=0))
    print(f"{len(table):,} terms written to {OUT}")


if __name__ == "__main__":
    main()
