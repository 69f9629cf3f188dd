"""Synthetic corpora of any size made from real text, shared by the scale and load benchmarks.

Sentences of the SQuAD evaluation documents (split with the engine's own sentence splitter) are
recombined by a seeded RNG into passages of 3–6 sentences, grouped into documents of about ten
passages. The same seed and size always give the same corpus, so separate processes (one per method
measured) index exactly the same text without passing it around.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from retrieval.documents import make_title, read_folder
from retrieval.model import Document, Passage
from retrieval.passages import MAX_WORDS, all_passages
from retrieval.text import split_sentences

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "squad"
PASSAGES_PER_DOC = (8, 12)  # inclusive range: documents of about ten passages
SENTENCES_PER_PASSAGE = (3, 6)  # inclusive range


@dataclass(frozen=True)
class Corpus:
    """Documents (sorted by id) and their passages, in the engine's own order."""

    documents: list[Document]
    passages: list[Passage]


@lru_cache(maxsize=1)
def sentences(folder: Path = SQUAD / "docs") -> tuple[str, ...]:
    """Every sentence of the folder's documents, in file and reading order (at least three words)."""
    documents, _ = read_folder(folder)
    found: list[str] = []
    for doc in documents:
        for paragraph in doc.paragraphs:
            found.extend(paragraph[a:b] for a, b in split_sentences(paragraph))
    return tuple(s for s in found if len(s.split()) >= 3)


def questions(n: int, path: Path = SQUAD / "questions.jsonl") -> list[str]:
    """`n` real questions, in file order, cycled when `n` is larger than the file."""
    with open(path, encoding="utf-8") as fh:
        pool = [json.loads(line)["question"] for line in fh if line.strip()]
    return list(itertools.islice(itertools.cycle(pool), n))


def file_bytes(paragraphs: tuple[str, ...]) -> bytes:
    """The bytes of a document file holding `paragraphs` (blank lines between them)."""
    return ("\n\n".join(paragraphs) + "\n").encode()


def make_document(doc_id: str, paragraphs: tuple[str, ...]) -> Document:
    """A `Document` exactly as `read_folder` would parse the file `write_folder` writes for it."""
    return Document(
        id=doc_id, title=make_title(paragraphs[0], doc_id), date=None, paragraphs=paragraphs,
        content_hash=hashlib.sha256(file_bytes(paragraphs)).hexdigest(),
    )


def doc_id(number: int) -> str:
    """The file name of the `number`-th document; zero-padded so that ids sort in number order."""
    return f"doc{number:07d}.txt"


def _passage_texts(n: int, rng: np.random.Generator, pool: tuple[str, ...]) -> Iterator[str]:
    """`n` passages of 3–6 pool sentences each, trimmed to at most MAX_WORDS words so that the
    engine keeps every passage whole (no paragraph is split) and the count stays exactly `n`."""
    words = np.fromiter((len(s.split()) for s in pool), dtype=np.int64, count=len(pool))
    lo, hi = SENTENCES_PER_PASSAGE
    lengths = rng.integers(lo, hi + 1, size=n)
    picks = rng.integers(0, len(pool), size=int(lengths.sum()))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    totals = np.add.reduceat(words[picks], starts) if n else np.empty(0, np.int64)
    picks_list = picks.tolist()
    for a, b, total in zip(starts.tolist(), ends.tolist(), totals.tolist(), strict=True):
        chosen = picks_list[a:b]
        while total > MAX_WORDS and len(chosen) > 1:
            total -= int(words[chosen.pop()])
        yield " ".join([pool[i] for i in chosen])


def make_corpus(n_passages: int, seed: int = 0) -> Corpus:
    """A deterministic corpus of exactly `n_passages` passages in documents of ~10 passages."""
    pool = sentences()
    rng = np.random.default_rng(seed)
    texts = _passage_texts(n_passages, rng, pool)
    lo, hi = PASSAGES_PER_DOC
    sizes = rng.integers(lo, hi + 1, size=n_passages // lo + 1).tolist()
    documents: list[Document] = []
    left = n_passages
    for number, size in enumerate(sizes):
        if left <= 0:
            break
        take = min(size, left)
        left -= take
        documents.append(make_document(doc_id(number), tuple(itertools.islice(texts, take))))
    passages = all_passages(documents)
    assert len(passages) == n_passages, (len(passages), n_passages)
    return Corpus(documents, passages)


def changed_document(doc: Document, marker: str = "Zorblaxian") -> Document:
    """`doc` with its first passage replaced by a new one holding a word no other passage has."""
    first = f"The {marker} archive was opened in 2031. " + doc.paragraphs[-1]
    return make_document(doc.id, (first, *doc.paragraphs[1:]))


def write_folder(corpus: Corpus, folder: Path) -> None:
    """Write each document as a file of `folder`, paragraphs separated by blank lines."""
    folder.mkdir(parents=True, exist_ok=True)
    for doc in corpus.documents:
        (folder / doc.id).write_bytes(file_bytes(doc.paragraphs))
