"""Every answer of the evaluation sets, recorded to compare two versions of the answer path quote by quote.

    python -m bench.answer_check record OUT.json      # answers of this checkout
    python -m bench.answer_check compare OLD.json NEW.json

Records, for each question of SQuAD, TREC-QA news, the documentation sets (discord.py, FastAPI) and the
seeds (asked with the SQuAD questions), asked alone and as a follow-up of the previous question: the
quotes (text, start, source), their scores, the confidence and the not-found model's features. `compare`
prints how many differ and the first few differences. Run `record` on the old and the new code.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from retrieval.answer import AnswerSettings, answer, deliberate
from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.passages import all_passages

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SETS = {  # name: (documents folder, questions file, corpus filter)
    "squad": (EVAL / "squad" / "docs", EVAL / "squad" / "questions.jsonl", None),
    "trecqa": (EVAL / "trecqa_news" / "docs", EVAL / "trecqa_news" / "questions.jsonl", None),
    "discordpy": (EVAL / "docs" / "discordpy", EVAL / "docs" / "questions.jsonl", "discordpy"),
    "fastapi": (EVAL / "docs" / "fastapi", EVAL / "docs" / "questions.jsonl", "fastapi"),
    "seeds": (SEEDS, EVAL / "squad" / "questions.jsonl", None),
}


def _questions(path: Path, corpus: str | None, limit: int) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [r["question"] for r in rows if corpus is None or r.get("corpus") == corpus][:limit]


def record(limit: int) -> dict[str, list[object]]:
    """Each set's answers, alone and as follow-ups, in question order."""
    found: dict[str, list[object]] = {}
    for name, (folder, path, corpus) in SETS.items():
        documents, _ = read_folder(folder)
        index = Index.build(documents, all_passages(documents))
        qs = _questions(path, corpus, limit)
        rows: list[object] = []
        for i, q in enumerate(qs):
            for history in ((), (qs[i - 1],)) if i else ((),):
                result, evidence = deliberate(index, q, history, AnswerSettings())
                final = answer(index, q, history)
                rows.append({
                    "q": q, "history": list(history),
                    "quotes": [[x.text, x.start, x.source, x.score] for x in result.quotes],
                    "closest": list(result.closest), "confidence": final.confidence,
                    "answered": final.answered, "evidence": list(evidence.vector()) if evidence else None,
                })
        found[name] = rows
        print(f"{name}: {len(rows)} answers", flush=True)
    return found


def compare(old: dict[str, list[dict[str, object]]], new: dict[str, list[dict[str, object]]]) -> int:
    """Print the differences; how many answers differ in their quotes or decision."""
    differ = 0
    for name, rows in old.items():
        quotes = scores = decided = 0
        for a, b in zip(rows, new[name], strict=True):
            texts_a = [q[:3] for q in a["quotes"]]  # type: ignore[attr-defined]
            texts_b = [q[:3] for q in b["quotes"]]  # type: ignore[attr-defined]
            if texts_a != texts_b or a["closest"] != b["closest"]:
                quotes += 1
                if quotes <= 3:
                    print(f"  {name}: {a['q']!r} {a['history']}\n    old {texts_a}\n    new {texts_b}")
            elif a != b:
                scores += 1
            if a["answered"] != b["answered"]:
                decided += 1
        print(f"{name}: {len(rows)} answers; quotes differ {quotes}, only scores/evidence differ {scores}, "
              f"answered/not-found differs {decided}")
        differ += quotes + decided
    return differ


def main(argv: Sequence[str] | None = None) -> None:
    """Record or compare."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mode", choices=("record", "compare"))
    parser.add_argument("files", nargs="+")
    parser.add_argument("--limit", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.mode == "record":
        Path(args.files[0]).write_text(json.dumps(record(args.limit)), encoding="utf-8")
    else:
        old, new = (json.loads(Path(f).read_text(encoding="utf-8")) for f in args.files[:2])
        raise SystemExit(1 if compare(old, new) else 0)


if __name__ == "__main__":
    main()
