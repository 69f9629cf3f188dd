"""Our sentence splitter (retrieval/text.py) against pysbd, a well-kept rule-based one.

    python -m bench.splitters [--show N]

Gold: hand-written hard cases (abbreviations, initials, titles before names and names that end a
sentence, quotes, decimals, code-ish words), each with its right split; a splitter scores a case when
it gives exactly those sentences.
Corpora: every prose paragraph of the seeds, the SQuAD articles and the two documentation sets, read
with the project's readers. No gold split exists for them, so the figures are where the two splitters
agree and disagree (a boundary is the offset where a sentence starts), and `--show N` prints N
disagreements of each corpus, drawn with a fixed seed, for a person to judge.
Speed: seconds to split every paragraph, each splitter alone, and ours written the direct way
(bench/splitter_reference.py, the rules before they were made fast), with the paragraphs where the two
differ (there must be none).
Everything is printed and written to bench/results/splitters.md.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.splitter_reference import split_sentences as reference
from retrieval.documents import READERS, SkipReason, parse_document
from retrieval.structure import NOTE, PROSE
from retrieval.text import split_sentences

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
RESULTS = Path(__file__).resolve().parent / "results"
CORPORA = {
    "seeds": ROOT / "seeds",
    "SQuAD": EVAL / "squad" / "docs",
    "docs: discord.py": EVAL / "docs" / "discordpy",
    "docs: FastAPI": EVAL / "docs" / "fastapi",
}
Splitter = Callable[[str], list[tuple[int, int]]]

GOLD: list[tuple[str, list[str]]] = [
    ("The council met on Monday. It voted to close the bridge.",
     ["The council met on Monday.", "It voted to close the bridge."]),
    ("Mr. Smith and Dr. Jones arrived at 5 p.m. on Friday.", ["Mr. Smith and Dr. Jones arrived at 5 p.m. on Friday."]),
    ("They left at 5 p.m. The hall was empty by six.", ["They left at 5 p.m.", "The hall was empty by six."]),
    ("Sen. John McCain spoke first. Gov. Ann Richards replied.",
     ["Sen. John McCain spoke first.", "Gov. Ann Richards replied."]),
    ("The opposition criticised strongman Hun Sen. Hun Sen complained on Monday that talks had stalled.",
     ["The opposition criticised strongman Hun Sen.", "Hun Sen complained on Monday that talks had stalled."]),
    ("Aid was promised by Hun Sen. The king agreed to the plan.",
     ["Aid was promised by Hun Sen.", "The king agreed to the plan."]),
    ("Texas Gov. George W. Bush campaigned in Iowa. He won.",
     ["Texas Gov. George W. Bush campaigned in Iowa.", "He won."]),
    ("Gen. Augusto Pinochet was arrested in London on Oct. 16. Chile protested.",
     ["Gen. Augusto Pinochet was arrested in London on Oct. 16.", "Chile protested."]),
    ("He flew to Salt Lake City. \" Salt Lake is lovely in winter, he said.",
     ["He flew to Salt Lake City. \"", "Salt Lake is lovely in winter, he said."]),
    ("\"We will win,\" she said. \"Nobody doubts it.\"", ["\"We will win,\" she said.", "\"Nobody doubts it.\""]),
    ("He said it was over. “We are done.” Then he left.",
     ["He said it was over.", "“We are done.”", "Then he left."]),
    ("He paused. ``We will rebuild,'' he added.", ["He paused.", "``We will rebuild,'' he added."]),
    ("The shares rose 3.5 percent to $12.75. Trading was light.",
     ["The shares rose 3.5 percent to $12.75.", "Trading was light."]),
    ("Is it safe? Engineers say yes! Traffic resumes today.",
     ["Is it safe?", "Engineers say yes!", "Traffic resumes today."]),
    ("She works for Acme Inc. The firm makes brakes.", ["She works for Acme Inc.", "The firm makes brakes."]),
    ("Acme Inc. makes brakes for trains.", ["Acme Inc. makes brakes for trains."]),
    ("He moved to the U.S. in 1990.", ["He moved to the U.S. in 1990."]),
    ("He moved to the U.S. The move was hard.", ["He moved to the U.S.", "The move was hard."]),
    ("J. R. R. Tolkien wrote it. Readers loved it.", ["J. R. R. Tolkien wrote it.", "Readers loved it."]),
    ("Bring tools, e.g. a hammer and nails.", ["Bring tools, e.g. a hammer and nails."]),
    ("Use the file config.py for settings. Restart after editing.",
     ["Use the file config.py for settings.", "Restart after editing."]),
    ("Version 2.0 added slash commands. See the changelog.",
     ["Version 2.0 added slash commands.", "See the changelog."]),
    ("Call bot.run() to start. It blocks until the bot closes.",
     ["Call bot.run() to start.", "It blocks until the bot closes."]),
    ("The limit is 2000 characters (see the docs). Longer messages fail.",
     ["The limit is 2000 characters (see the docs).", "Longer messages fail."]),
    ("Wait... the vote was delayed. Nobody knew why.", ["Wait... the vote was delayed.", "Nobody knew why."]),
    ("They met St. Louis officials. No. 3 on the list was absent.",
     ["They met St. Louis officials.", "No. 3 on the list was absent."]),
    ("Prices rose (again). Buyers waited.", ["Prices rose (again).", "Buyers waited."]),
    ("It opened in Jan. 2024 after delays.", ["It opened in Jan. 2024 after delays."]),
    ("He cited Vol. 2 of the report. It was damning.", ["He cited Vol. 2 of the report.", "It was damning."]),
    ("The ministry said so. 40 people were hurt.", ["The ministry said so.", "40 people were hurt."]),
]


def ours(text: str) -> list[tuple[int, int]]:
    """The project's splitter."""
    return split_sentences(text)


def pysbd_splitter() -> Splitter:
    """pysbd's English segmenter, its spans with surrounding space trimmed."""
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)

    def run(text: str) -> list[tuple[int, int]]:
        spans = []
        for span in segmenter.segment(text):
            a, b = span.start, span.end
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
            if b > a:
                spans.append((a, b))
        return spans

    return run


def paragraphs(folder: Path) -> tuple[list[str], int]:
    """Every prose or note paragraph of a folder's documents as the project reads them, and how many
    files no reader of this checkout could read."""
    found: list[str] = []
    unread = 0
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in READERS or not path.is_file():
            continue
        try:
            doc = parse_document(path.name, path.read_bytes())
        except (SkipReason, ImportError):  # ImportError: a format whose reader this checkout lacks
            unread += 1
            continue
        found += [b.text for b in doc.blocks if b.kind in (PROSE, NOTE)] if doc.blocks else list(doc.paragraphs)
    return found, unread


def gold(splitter: Splitter) -> tuple[int, list[str]]:
    """Gold cases split exactly right, and the texts of those split wrong."""
    wrong = [text for text, want in GOLD if [text[a:b] for a, b in splitter(text)] != want]
    return len(GOLD) - len(wrong), wrong


def starts(spans: Sequence[tuple[int, int]]) -> set[int]:
    """Where sentences after the first begin."""
    return {a for a, _ in spans[1:]}


def compare(texts: Sequence[str], pysbd: Splitter) -> dict[str, object]:
    """Boundaries each splitter finds, those they share, time of each, and the disagreements."""
    timing = {}
    results = {}
    for name, splitter in (("ours", ours), ("pysbd", pysbd), ("reference", reference)):
        started = time.perf_counter()
        results[name] = [splitter(t) for t in texts]
        timing[name] = time.perf_counter() - started
    unlike = sum(a != b for a, b in zip(results["ours"], results["reference"], strict=True))
    both = only_ours = only_pysbd = 0
    disagreements: list[tuple[str, int, str]] = []
    for text, a, b in zip(texts, results["ours"], results["pysbd"], strict=True):
        mine, theirs = starts(a), starts(b)
        both += len(mine & theirs)
        only_ours += len(mine - theirs)
        only_pysbd += len(theirs - mine)
        disagreements += [(text, at, "ours") for at in mine - theirs] + [(text, at, "pysbd") for at in theirs - mine]
    return {"paragraphs": len(texts), "both": both, "only ours": only_ours, "only pysbd": only_pysbd,
            "ours s": timing["ours"], "pysbd s": timing["pysbd"], "reference s": timing["reference"],
            "unlike the reference": unlike, "disagreements": disagreements}


def show(disagreements: Sequence[tuple[str, int, str]], n: int, seed: int = 14) -> list[str]:
    """`n` disagreements drawn with a fixed seed: who splits, and the text around the boundary."""
    sample = random.Random(seed).sample(list(disagreements), min(n, len(disagreements)))
    return [f"- {who} splits: …{text[max(0, at - 70):at]}‖{text[at:at + 50]}…" for text, at, who in sample]


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print, and write bench/results/splitters.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print N disagreements of each corpus")
    args = parser.parse_args(argv)
    pysbd = pysbd_splitter()
    lines = ["### Sentence splitting: ours against pysbd", "",
             f"Gold: {len(GOLD)} hand-written hard cases, exactly right:", ""]
    for name, splitter in (("ours", ours), ("pysbd", pysbd)):
        right, wrong = gold(splitter)
        lines.append(f"- {name}: {right}/{len(GOLD)}" + (f" (wrong: {'; '.join(w[:50] for w in wrong)})" if wrong
                                                          else ""))
    lines += ["", "| corpus | paragraphs | boundaries both | only ours | only pysbd | ours s | pysbd s | ours written "
              "the direct way s | paragraphs split unlike it |", "|---|---|---|---|---|---|---|---|---|"]
    shown: list[str] = []
    for corpus, folder in CORPORA.items():
        if not folder.is_dir():
            lines.append(f"| {corpus} | (not found: {folder}) | | | | | | | |")
            continue
        texts, unread = paragraphs(folder)
        found = compare(texts, pysbd)
        corpus += f" ({unread} files unread)" if unread else ""
        lines.append(f"| {corpus} | {found['paragraphs']} | {found['both']} | {found['only ours']} | "
                     f"{found['only pysbd']} | {found['ours s']:.3f} | {found['pysbd s']:.2f} | "
                     f"{found['reference s']:.3f} | {found['unlike the reference']} |")
        if args.show:
            disagreements = found["disagreements"]
            assert isinstance(disagreements, list)
            shown += ["", f"{corpus}:", *show(disagreements, args.show)]
    text = "\n".join(lines)
    print(text + "\n".join(shown), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "splitters.md").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
