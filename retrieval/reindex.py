"""Reindex: compare a folder with what is indexed, and build the new index (reusing what did not change)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import scipy.sparse as sp

from .index import Index, Progress, Weighting, count_terms
from .model import Document, Passage, Skipped
from .passages import MAX_WORDS, all_passages, passages_of


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
    analyser = previous.analyser
    passages: list[Passage] = []
    blocks: list[sp.csr_matrix] = []
    fresh_total = sum(1 for d in documents if d.id not in reusable)
    done = 0
    for doc in documents:
        if doc.id in reusable:
            rows = previous.passages_of(doc.id)
            passages.extend(previous.passages[i] for i in rows)
            blocks.append(previous.counts[rows[0] : rows[-1] + 1])
        else:
            new = list(passages_of(doc, max_words))
            passages.extend(new)
            blocks.append(count_terms((p.text for p in new), analyser, vocabulary))
            done += 1
            if progress:
                progress(done, fresh_total)
    width = len(vocabulary)
    counts = sp.vstack([sp.csr_matrix((b.data, b.indices, b.indptr), shape=(b.shape[0], width)) for b in blocks],
                       format="csr")
    return Index(documents, passages, counts, vocabulary, weighting)


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
        len(index), time.perf_counter() - started, report.extra,
    )
