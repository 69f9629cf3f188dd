"""Reindex: compare a folder with what is indexed, and build the new index (reusing what did not change)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from . import sentence_table
from .index import Index, Progress, Weighting, count_terms
from .model import Document, Passage, Skipped
from .passages import MAX_WORDS, all_passages, passages_of, searchable


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What a reindex found and did."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    passages: int = 0
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # what went wrong without undoing the reindex (the index not saved…)

    @property
    def modified(self) -> bool:
        """Whether anything indexed differs from before."""
        return bool(self.added or self.changed or self.removed)


def compare(old_hashes: dict[str, str], documents: Sequence[Document], skipped: Sequence[Skipped]) -> ReindexReport:
    """Classify each document as added, changed, unchanged; and stored ones missing now as removed."""
    seen = {d.id: d.content_hash for d in documents}
    return ReindexReport(
        added=tuple(i for i in seen if i not in old_hashes),
        changed=tuple(i for i, h in seen.items() if i in old_hashes and old_hashes[i] != h),
        removed=tuple(sorted(i for i in old_hashes if i not in seen)),
        unchanged=tuple(i for i, h in seen.items() if old_hashes.get(i) == h),
        skipped=tuple(skipped),
    )


def build(
    documents: Sequence[Document], previous: Index | None = None, weighting: Weighting = Weighting(),
    max_words: int = MAX_WORDS, progress: Progress | None = None,
) -> Index:
    """A new index over `documents`; term counts of documents unchanged since `previous` are reused,
    so only new or changed documents are tokenized. The result equals a full rebuild."""
    documents = sorted(documents, key=lambda d: d.id)
    reusable = _reusable(previous, documents, weighting)
    if previous is None or not reusable:
        return Index.build(documents, all_passages(documents, max_words), weighting, progress)
    vocabulary = dict(previous.vocabulary)
    passages: list[Passage] = []
    # Where each of the previous index's passages goes in the new one (-1: its document changed or went).
    moved = np.full(len(previous), -1, np.int32)
    fresh: list[tuple[int, sp.csc_matrix]] = []
    fresh_total = sum(1 for d in documents if d.id not in reusable)
    for doc in documents:
        start = len(passages)
        if doc.id in reusable:
            rows = previous.passages_of(doc.id)
            passages.extend(previous.passages[i] for i in rows)
            moved[rows] = np.arange(start, start + len(rows), dtype=np.int32)
        else:
            new = list(passages_of(doc, max_words))
            passages.extend(new)
            fresh.append((start, count_terms((searchable(p) for p in new), previous.analyser, vocabulary)))
            if progress:
                progress(len(fresh), fresh_total)
    counts = _merged_counts(previous.counts, moved, fresh, len(passages), len(vocabulary))
    table = sentence_table.merged(previous.sentence_table, moved, passages, previous.analyser, vocabulary)
    return Index(documents, passages, counts, vocabulary, weighting, sentences=table)


def _merged_counts(
    old: sp.csc_matrix, moved: np.ndarray, fresh: Sequence[tuple[int, sp.csc_matrix]], n_rows: int, n_terms: int
) -> sp.csc_matrix:
    """The kept postings of `old` at their new rows, and the fresh blocks' postings, as one matrix."""
    rows = moved[old.indices]
    keep = rows >= 0
    cols = np.repeat(np.arange(old.shape[1], dtype=np.int32), np.diff(old.indptr))
    parts_rows, parts_cols, parts_data = [rows[keep]], [cols[keep]], [old.data[keep]]
    for start, block in fresh:
        coo = block.tocoo()
        parts_rows.append((coo.row + start).astype(np.int32))
        parts_cols.append(coo.col.astype(np.int32))
        parts_data.append(coo.data)
    coords = (np.concatenate(parts_rows), np.concatenate(parts_cols))
    return sp.csc_matrix((np.concatenate(parts_data), coords), shape=(n_rows, n_terms), dtype=np.float32)


def _reusable(previous: Index | None, documents: Sequence[Document], weighting: Weighting) -> set[str]:
    """Ids of documents whose passages and counts can be taken from the previous index as they are."""
    if previous is None or previous.weighting != weighting:
        return set()
    return {
        d.id for d in documents
        if (old := previous.documents.get(d.id)) is not None and old.content_hash == d.content_hash
        and previous.passages_of(d.id)
    }


def timed_report(report: ReindexReport, index: Index, started: float) -> ReindexReport:
    """The report with the passage count and the time taken filled in."""
    return ReindexReport(
        report.added, report.changed, report.removed, report.unchanged, report.skipped,
        len(index), time.perf_counter() - started, report.extra, report.warnings,
    )
