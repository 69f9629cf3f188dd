"""Documentation QA (issue 10): ours next to bm25s over the same files, on ../shared/eval/docs/.

    python -m bench.docs [--corpus discordpy|fastapi|all] [--verbose] [--json PATH] [--stats]

Each corpus folder is indexed as it is through the engine's public API (read_folder, build, answer),
and each question scored with the data set's own check.matches: right first, in the top three,
unanswerable rejected, false "not found". bm25s (PyStemmer English stems, English stop words) runs in
the same process over the same .md/.rst files split naively at blank lines, markup and all. A full run
(--corpus all) writes the tables to bench/results/docs.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from retrieval.answer import answer
from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.model import Document, Skipped
from retrieval.reindex import build

DOCS = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "docs"
RESULTS = Path(__file__).resolve().parent / "results"
CORPORA = ("discordpy", "fastapi")
NAIVE_SUFFIXES = (".md", ".rst")
TOP = 3
REPEATS = 3  # warm rebuilds of both corpora; the median is reported
TARGETS = {"right first": 0.80, "in the top three": 0.90, "unanswerable rejected": 0.90}
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def load_check(path: Path = DOCS / "check.py") -> ModuleType:
    """The data set's scoring module (normalize, matches), loaded from where it lives."""
    spec = importlib.util.spec_from_file_location("docs_eval_check", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_questions(corpus: str) -> list[dict[str, Any]]:
    """The questions of one corpus, in file order."""
    with open(DOCS / "questions.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [q for q in rows if q["corpus"] == corpus]


# ---------------------------------------------------------------- the baseline


def split_naive(text: str) -> list[str]:
    """Blocks of raw text between blank lines, markup kept, empty ones dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [block.strip() for block in _BLANK_LINE.split(text) if block.strip()]


def naive_paragraphs(folder: Path) -> list[tuple[str, str]]:
    """(file relative to `folder`, paragraph) for every .md/.rst file under it, in path order."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in NAIVE_SUFFIXES)
    return [(f.relative_to(folder).as_posix(), para)
            for f in files for para in split_naive(f.read_text(encoding="utf-8", errors="replace"))]


class Bm25Paragraphs:
    """bm25s over naive paragraphs; its "quote" is a whole paragraph."""

    def __init__(self, paragraphs: Sequence[tuple[str, str]]) -> None:
        import bm25s
        import Stemmer

        self.paragraphs = list(paragraphs)
        self.stemmer = Stemmer.Stemmer("english")
        self.model = bm25s.BM25()
        if self.paragraphs:
            tokens = bm25s.tokenize([t for _, t in self.paragraphs], stopwords="en", stemmer=self.stemmer,
                                    show_progress=False)
            self.model.index(tokens, show_progress=False)

    def rank(self, question: str, k: int = TOP) -> tuple[float, list[int]]:
        """The best score and the positions of the `k` best paragraphs, best first."""
        import bm25s

        if not self.paragraphs:
            return 0.0, []
        terms = bm25s.tokenize([question], stopwords="en", stemmer=self.stemmer, return_ids=False,
                               show_progress=False)[0]
        known = [t for t in terms if t in self.model.vocab_dict]
        if not known:
            return 0.0, list(range(min(k, len(self.paragraphs))))
        scores = self.model.get_scores(known)
        order = [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
        return float(scores[order[0]]), order


def threshold_for(scores: Sequence[float], rejects: int) -> float:
    """A score threshold under which at least `rejects` of `scores` fall (exactly that many unless
    scores tie): halfway between the last rejected score and the next higher one."""
    ranked = sorted(scores)
    if rejects <= 0 or not ranked:
        return -math.inf
    last = ranked[min(rejects, len(ranked)) - 1]
    higher = [s for s in ranked if s > last]
    return (last + higher[0]) / 2 if higher else math.nextafter(last, math.inf)


# ---------------------------------------------------------------- scoring


@dataclass
class Outcome:
    """How one method did on one question."""

    answered: bool
    rank: int | None  # 1-based rank of the first of the top three that holds an expected string
    shown: list[dict[str, str]] = field(default_factory=list)  # the top three: text, source, section
    score: float | None = None  # bm25s: the best paragraph's score


def match_rank(texts: Iterable[str], expect: Sequence[str], matches: Callable[[str, list[str]], bool]) -> int | None:
    """1-based position of the first text holding an expected string, or None."""
    return next((i for i, text in enumerate(texts, 1) if expect and matches(text, list(expect))), None)


def ours(index: Index, question: dict[str, Any], matches: Callable[[str, list[str]], bool]) -> Outcome:
    """Our engine's answer to one question, scored."""
    result = answer(index, question["question"])
    quotes = list(result.quotes[:TOP])
    shown = [{"text": q.text, "source": q.source, "section": " › ".join(getattr(q, "section", ()) or ())}
             for q in quotes]
    return Outcome(bool(result.answered), match_rank((q.text for q in quotes), question["expect"], matches), shown)


def baseline(bm25: Bm25Paragraphs, question: dict[str, Any], matches: Callable[[str, list[str]], bool]) -> Outcome:
    """bm25s's top paragraphs for one question, scored; it always answers (thresholds come later)."""
    score, order = bm25.rank(question["question"])
    shown = [{"text": bm25.paragraphs[i][1], "source": bm25.paragraphs[i][0], "section": ""} for i in order]
    rank = match_rank((s["text"] for s in shown), question["expect"], matches)
    return Outcome(bool(order), rank, shown, score)


def tally(questions: Sequence[dict[str, Any]], outcomes: Sequence[Outcome],
          answered: Callable[[Outcome], bool] = lambda o: o.answered) -> dict[str, int]:
    """Counts of right first, in the top three, false not-found, unanswerable rejected."""
    counts = Counter({"answerable": 0, "right first": 0, "in the top three": 0, "false not found": 0,
                      "unanswerable": 0, "unanswerable rejected": 0})
    for q, o in zip(questions, outcomes, strict=True):
        said = answered(o)
        if q["expect"]:
            counts["answerable"] += 1
            counts["right first"] += said and o.rank == 1
            counts["in the top three"] += said and o.rank is not None
            counts["false not found"] += not said
        else:
            counts["unanswerable"] += 1
            counts["unanswerable rejected"] += not said
    return dict(counts)


# ---------------------------------------------------------------- one corpus


@dataclass
class CorpusRun:
    """Everything measured on one corpus."""

    corpus: str
    documents: int
    passages: int
    skipped: list[tuple[str, str]]
    unread: dict[str, int]  # files read_folder neither read nor listed as skipped, by extension
    read_s: float
    build_s: float
    paragraphs: int  # the baseline's
    questions: list[dict[str, Any]]
    ours: list[Outcome]
    bm25: list[Outcome]
    threshold: float
    stats: str = ""


def unread_files(folder: Path, read: Iterable[str]) -> dict[str, int]:
    """Files under `folder` that the reader passed over in silence, counted by extension."""
    seen = set(read)
    names = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return dict(Counter(Path(n).suffix.lower() or "without extension" for n in names if n not in seen))


def index_corpus(folder: Path) -> tuple[Index, list[Document], list[Skipped], float, float]:
    """(index, documents, skipped, read seconds, build seconds), through the public API."""
    started = time.perf_counter()
    documents, skipped = read_folder(folder)
    read_s = time.perf_counter() - started
    index = build(documents)
    return index, documents, skipped, read_s, time.perf_counter() - started - read_s


def run_corpus(corpus: str, check: ModuleType, stats: bool) -> CorpusRun:
    """Index one corpus, ask every question of ours and of bm25s, score both."""
    folder = DOCS / corpus
    index, documents, skipped, read_s, build_s = index_corpus(folder)
    questions = load_questions(corpus)
    ours_out = [ours(index, q, check.matches) for q in questions]
    bm25 = Bm25Paragraphs(naive_paragraphs(folder))
    bm25_out = [baseline(bm25, q, check.matches) for q in questions]
    rejected = tally(questions, ours_out)["unanswerable rejected"]
    threshold = threshold_for([o.score or 0.0 for q, o in zip(questions, bm25_out, strict=True)
                               if not q["expect"]], rejected)
    return CorpusRun(
        corpus, len(documents), len(index.passages), [(s.name, s.reason) for s in skipped],
        unread_files(folder, [d.id for d in documents] + [s.name for s in skipped]), read_s, build_s,
        len(bm25.paragraphs), questions, ours_out, bm25_out, threshold,
        corpus_stats(folder, (index, documents, skipped)) if stats else "",
    )


def corpus_stats(folder: Path, indexed: tuple[Index, list[Document], list[Skipped]] | None = None) -> str:
    """A report of what the engine makes of a folder: documents, passages, passage kinds, the
    longest passage, skipped files with reasons, and files passed over without a word."""
    index, documents, skipped = indexed or index_corpus(folder)[:3]
    passages = list(index.passages)
    kinds = Counter(getattr(p, "kind", "prose") for p in passages)
    lines = [f"{folder.name}: {len(documents)} documents, {len(passages)} passages"]
    if passages:
        lines.append("  passage kinds: " + ", ".join(
            f"{k} {n} ({n / len(passages):.0%})" for k, n in kinds.most_common()))
        longest = max(passages, key=lambda p: len(p.text))
        lines.append(f"  longest passage: {len(longest.text):,} characters ({longest.doc_id} ¶{longest.paragraph})")
    lines += [f"  skipped {s.name}: {s.reason}" for s in skipped]
    unread = unread_files(folder, [d.id for d in documents] + [s.name for s in skipped])
    if unread:
        lines.append("  not read and not listed as skipped: " + ", ".join(
            f"{n} {ext}" for ext, n in sorted(unread.items())))
    return "\n".join(lines)


def median_rebuild(corpora: Sequence[str], repeats: int = REPEATS) -> tuple[float, float]:
    """Median and best seconds to read and build every corpus in turn (the first build was earlier)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for corpus in corpora:
            index_corpus(DOCS / corpus)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


# ---------------------------------------------------------------- reporting


def _cell(n: int, total: int) -> str:
    return f"{n}/{total} ({n / total:.0%})" if total else "–"


def summary_table(run: CorpusRun) -> str:
    """The per-corpus markdown table: ours, bm25s with and without a threshold, targets."""
    qs = run.questions
    methods = [tally(qs, run.ours), tally(qs, run.bm25, lambda o: (o.score or 0.0) >= run.threshold),
               tally(qs, run.bm25, lambda o: o.answered)]
    lines = ["| measure | ours | bm25s, threshold matched | bm25s, no threshold | target | ours |",
             "|---|---:|---:|---:|---:|---|"]
    for key, total in (("right first", "answerable"), ("in the top three", "answerable"),
                       ("unanswerable rejected", "unanswerable"), ("false not found", "answerable")):
        cells = [_cell(m[key], m[total]) for m in methods]
        goal = TARGETS.get(key)
        verdict = "–" if goal is None else ("met" if methods[0][key] >= goal * methods[0][total] else "missed")
        target = "–" if goal is None else f"≥ {goal:.0%}"
        lines.append(f"| {key.replace('not found', 'not-found')} | " + " | ".join(cells)
                     + f" | {target} | {verdict} |")
    return "\n".join(lines)


def kind_table(run: CorpusRun) -> str:
    """Right first / top three by question kind (bm25s without threshold); rejected for unanswerable."""
    lines = ["| kind | n | ours right first | ours top three | ours not found | bm25s right first | bm25s top three |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for kind in sorted({q["kind"] for q in run.questions}):
        rows = [i for i, q in enumerate(run.questions) if q["kind"] == kind]
        o = [run.ours[i] for i in rows]
        b = [run.bm25[i] for i in rows]
        if kind == "unanswerable":
            lines.append(f"| {kind} | {len(rows)} | – | – | {sum(not x.answered for x in o)} | – | – |")
            continue
        lines.append(f"| {kind} | {len(rows)} | {sum(x.answered and x.rank == 1 for x in o)} | "
                     f"{sum(x.answered and x.rank is not None for x in o)} | {sum(not x.answered for x in o)} | "
                     f"{sum(x.rank == 1 for x in b)} | {sum(x.rank is not None for x in b)} |")
    return "\n".join(lines)


def corpus_section(run: CorpusRun) -> str:
    """Everything about one corpus, as markdown."""
    head = (f"### {run.corpus}: {len(run.questions)} questions; ours {run.documents} documents, "
            f"{run.passages:,} passages; bm25s {run.paragraphs:,} naive paragraphs\n\n")
    notes = []
    if run.documents == 0:
        notes.append(f"**Ours indexed no document**: read_folder took none of the files of {run.corpus}/, so every "
                     "question gets \"not found\" (unanswerable rejected is then met trivially).")
    if run.unread:
        notes.append("Files read_folder passed over without listing them as skipped: " + ", ".join(
            f"{n} {ext}" for ext, n in sorted(run.unread.items())) + ".")
    if run.skipped:
        notes.append("Skipped: " + "; ".join(f"{n} ({r})" for n, r in run.skipped) + ".")
    threshold = "none needed" if run.threshold == -math.inf else f"{run.threshold:.3f}"
    notes.append(f"Read {run.read_s:.2f} s + build {run.build_s:.2f} s (first build in this process). "
                 f"bm25s threshold: {threshold}.")
    return head + "\n\n".join(notes) + "\n\n" + summary_table(run) + "\n\nBy kind:\n\n" + kind_table(run)


def shorten(text: str, limit: int = 220) -> str:
    """One line, at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def verdict(outcome: Outcome, answerable: bool) -> str:
    """A question's outcome in a word or two."""
    if not answerable:
        return "rejected ✓" if not outcome.answered else "QUOTED ✗"
    if not outcome.answered:
        return "NOT FOUND ✗"
    return {1: "right first ✓", None: "wrong ✗"}.get(outcome.rank, f"top {outcome.rank} ~")


def print_verbose(run: CorpusRun) -> None:
    """Each question: id, kind, outcome, our first quote with its source, the expected strings."""
    for q, o, b in zip(run.questions, run.ours, run.bm25, strict=True):
        answerable = bool(q["expect"])
        bm = verdict(b, answerable) + (" (under threshold)" if (b.score or 0.0) < run.threshold else "")
        print(f"\n{q['id']:7} {q['kind']:13} ours: {verdict(o, answerable):15} bm25s: {bm}")
        print(f"  Q: {q['question']}")
        for i, shown in enumerate(o.shown[: 1 if o.rank in (None, 1) else o.rank], 1):
            where = shown["source"] + (f" › {shown['section']}" if shown["section"] else "")
            print(f"  #{i} [{where}] {shorten(shown['text'])}")
        if not o.shown:
            print("  (no quote)")
        if answerable:
            print(f"  expect ({q['source']}): " + " | ".join(q["expect"]))


def machine() -> str:
    """CPU, cores, memory, Python and library versions (bench.scale's description)."""
    from bench.scale import machine as describe

    return describe()


def report(runs: Sequence[CorpusRun], rebuild: tuple[float, float] | None, argv: Sequence[str]) -> str:
    """The whole markdown report."""
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    text = ["# Documentation QA: ours next to bm25s (issue 10)", "", f"Machine: {machine()}", "",
            f"Run: `python -m bench.docs{''.join(' ' + a for a in argv)}` on {when}.", "",
            "How: each folder of `../shared/eval/docs/` indexed as it is (`read_folder`, `reindex.build`, "
            "`answer` with default settings); a question is right first when the first quote holds one of its "
            "expected strings, in the top three when one of the first three does (`check.matches`: markup "
            "dropped, case and spaces folded), rejected when there is no quote. "
            f"bm25s {metadata.version('bm25s')} (its defaults: lucene, k1 1.5, b 0.75) with PyStemmer English "
            "stems and its English stop words, over every .md/.rst file split at blank "
            "lines, markup kept; its quote is the whole paragraph. bm25s never says \"not found\" by itself: "
            "'threshold matched' rejects a question when its best score is under the threshold that makes "
            "bm25s reject as many unanswerable questions as ours does (answerable questions under it count "
            "as false not-found); 'no threshold' answers everything. By-kind bm25s columns use no threshold.",
            ""]
    text += [corpus_section(run) + "\n" for run in runs]
    if rebuild is not None:
        text.append(f"Reindex of both corpora together (read_folder + build, warm, median of {REPEATS}): "
                    f"{rebuild[0]:.2f} s (best {rebuild[1]:.2f} s); target under 5 s: "
                    f"{'met' if rebuild[0] < 5 else 'missed'}."
                    + "".join(f" {r.corpus} indexed no document, so this figure leaves it out." for r in runs
                              if r.documents == 0))
    return "\n".join(text).rstrip() + "\n"


def dump(path: Path, runs: Sequence[CorpusRun]) -> None:
    """Per-question results of every corpus as JSON."""
    rows = [{"id": q["id"], "corpus": run.corpus, "kind": q["kind"], "question": q["question"],
             "expect": q["expect"], "source": q["source"], "ours": asdict(o),
             "bm25s": asdict(b) | {"answered_with_threshold": (b.score or 0.0) >= run.threshold}}
            for run in runs for q, o, b in zip(run.questions, run.ours, run.bm25, strict=True)]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chosen corpora, print their tables, and write them when every corpus ran."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    parser.add_argument("--verbose", action="store_true", help="print every question's outcome and first quote")
    parser.add_argument("--json", type=Path, help="write per-question results to this file")
    parser.add_argument("--stats", action="store_true", help="print what the engine makes of each corpus")
    args = parser.parse_args(args_list)
    check = load_check()
    corpora = CORPORA if args.corpus == "all" else (args.corpus,)
    runs = []
    for corpus in corpora:
        run = run_corpus(corpus, check, args.stats)
        runs.append(run)
        if args.stats:
            print(run.stats + "\n")
        if args.verbose:
            print_verbose(run)
            print()
        print(corpus_section(run) + "\n", flush=True)
    rebuild = median_rebuild(corpora) if len(corpora) == len(CORPORA) else None
    if rebuild is not None:
        print(f"Reindex of both corpora together (warm, median of {REPEATS}): {rebuild[0]:.2f} s "
              f"(best {rebuild[1]:.2f} s); target under 5 s: {'met' if rebuild[0] < 5 else 'missed'}.")
    if args.json:
        dump(args.json, runs)
    if args.corpus == "all":
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "docs.md").write_text(report(runs, rebuild, args_list), encoding="utf-8")
        print(f"written to {RESULTS / 'docs.md'}")


if __name__ == "__main__":
    main()
