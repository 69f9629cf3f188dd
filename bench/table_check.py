"""What a build makes, recorded to compare two versions of the build array by array.

    python -m bench.table_check record OUT.json [--sizes 10000,100000]   # the build of this checkout
    python -m bench.table_check compare OLD.json NEW.json

Records, for the seeds, SQuAD, TREC-QA news, the two documentation sets and synthetic corpora of the
given sizes (bench/corpus.py): a digest of every array of the sentence table, of the term counts (CSC
indptr, indices, data), of the weights and of the vocabulary in id order, and a digest of the sentence
spans of every paragraph each corpus's reader gives (the splitter on its own). `compare` prints, for
each corpus, the arrays that differ. Run `record` on the old and the new code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.corpus import make_corpus
from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.passages import all_passages
from retrieval.text import split_sentences

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
FOLDERS = {
    "seeds": Path(__file__).resolve().parent.parent / "seeds",
    "squad": EVAL / "squad" / "docs",
    "trecqa": EVAL / "trecqa_news" / "docs",
    "discordpy": EVAL / "docs" / "discordpy",
    "fastapi": EVAL / "docs" / "fastapi",
}


def digest(array: np.ndarray) -> str:
    """The dtype, shape and bytes of an array, hashed."""
    found = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    found.update(np.ascontiguousarray(array).tobytes())
    return found.hexdigest()[:16]


def of_index(index: Index) -> dict[str, str]:
    """Digests of what a build made."""
    found = {name: digest(a) for name, a in index.sentence_table.arrays().items()}
    found |= {f"counts.{k}": digest(getattr(index.counts, k)) for k in ("indptr", "indices", "data")}
    found["weights"] = digest(index.weights.data)
    found["vocabulary"] = hashlib.sha256("\n".join(index.vocabulary).encode()).hexdigest()[:16]
    return found


def of_splitter(texts: Sequence[str]) -> str:
    """The sentence spans of every text, hashed."""
    found = hashlib.sha256()
    for text in texts:
        found.update(json.dumps(split_sentences(text)).encode())
    return found.hexdigest()[:16]


def record(sizes: Sequence[int]) -> dict[str, dict[str, str]]:
    """Each corpus's digests."""
    found: dict[str, dict[str, str]] = {}
    for name, folder in FOLDERS.items():
        documents, _ = read_folder(folder)
        passages = all_passages(documents)
        paragraphs = [b.text for d in documents for b in d.blocks] or [p for d in documents for p in d.paragraphs]
        found[name] = of_index(Index.build(documents, passages)) | {
            "splitter": of_splitter(paragraphs), "passage splitter": of_splitter([p.text for p in passages])}
        print(f"{name}: {len(passages):,} passages", flush=True)
    for size in sizes:
        corpus = make_corpus(size)
        found[f"synthetic {size}"] = of_index(Index.build(corpus.documents, corpus.passages))
        print(f"synthetic: {size:,} passages", flush=True)
    return found


def compare(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> int:
    """Print what differs; the number of differing digests."""
    differing = 0
    for name in old.keys() | new.keys():
        a, b = old.get(name, {}), new.get(name, {})
        wrong = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        differing += len(wrong)
        print(f"{name}: {len(a.keys() & b.keys()) - len(wrong)} equal" + (f", differ: {', '.join(wrong)}" if wrong
                                                                          else ""))
    return differing


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out")
    rec.add_argument("--sizes", default="10000")
    cmp = sub.add_parser("compare")
    cmp.add_argument("old")
    cmp.add_argument("new")
    args = parser.parse_args(argv)
    if args.command == "record":
        sizes = [int(s) for s in args.sizes.split(",") if s]
        Path(args.out).write_text(json.dumps(record(sizes), indent=1, sort_keys=True), encoding="utf-8")
    else:
        old, new = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (args.old, args.new))
        raise SystemExit(1 if compare(old, new) else 0)


if __name__ == "__main__":
    main()
