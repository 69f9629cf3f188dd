"""The saved index: a passage table and arrays mapped from one `.npz`, equal to the index that was saved."""

from __future__ import annotations

import mmap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from retrieval import persist
from retrieval.documents import read_folder
from retrieval.errors import IndexFileError
from retrieval.index import Index, Weighting
from retrieval.model import Document, Passage
from retrieval.passages import PassageTable, all_passages
from retrieval.text import STOP_WORDS

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
QUESTIONS = ["Who is Steve Witkoff?", "How many Palestinian prisoners will be released?", "Qatar delegation",
             "Netanyahu Trump White House meeting", "zzzz unknown words"]


@pytest.fixture(scope="module")
def seeds() -> tuple[list[Document], list[Passage]]:
    documents, _ = read_folder(SEEDS)
    return documents, all_passages(documents)


def test_table_gives_back_every_passage(seeds: tuple[list[Document], list[Passage]]) -> None:
    _, passages = seeds
    odd = [Passage("ü.txt", 1, "Ünïcödé — “quoted” 🎉"), Passage("ü.txt", 2, ""), Passage("z.txt", 1, "z", part=2)]
    table = PassageTable.of([*passages, *odd])
    assert len(table) == len(passages) + 3
    assert list(table) == [*passages, *odd]
    assert table[-1] == odd[-1] and table[1:3] == passages[1:3]
    with pytest.raises(IndexError):
        table[len(table)]
    rows = table.doc_rows()
    assert rows["ü.txt"] == range(len(passages), len(passages) + 2)
    assert sum(len(r) for r in rows.values()) == len(table)


@pytest.mark.parametrize("weighting", [Weighting(), Weighting(tf="log", idf="smooth", norm="l2", query="idf")],
                         ids=["bm25", "cosine"])
def test_loaded_index_equals_the_saved_one(tmp_path: Path, seeds: tuple[list[Document], list[Passage]],
                                           weighting: Weighting, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(persist, "_MAP_FROM", 0)  # map every array, small as the seeds' are
    documents, passages = seeds
    built = Index.build(documents, passages, weighting)
    path = tmp_path / "index.npz"
    persist.save(built, path, persist.fingerprint(documents))
    loaded = persist.load(path, documents, persist.fingerprint(documents), weighting)

    assert isinstance(loaded.passages, PassageTable) and list(loaded.passages) == passages
    assert loaded.vocabulary == built.vocabulary
    for array in (loaded.weights.data, loaded.counts.data, loaded.weights.indices, loaded.passages.text):
        assert _is_mapped(array)  # mapped from the file, not read into memory (nor copied since)
    assert (loaded.weights != built.weights).nnz == 0 and (loaded.counts != built.counts).nnz == 0
    np.testing.assert_array_equal(loaded.idf, built.idf)
    for q in QUESTIONS:
        assert loaded.search(loaded.query_vector(q), 10) == built.search(built.query_vector(q), 10)
    for d in documents:
        assert loaded.passages_of(d.id) == built.passages_of(d.id)
    # Saving a loaded index (its passages already a table) gives the same file contents again.
    again = tmp_path / "again.npz"
    persist.save(loaded, again, persist.fingerprint(documents))
    reloaded = persist.load(again, documents, persist.fingerprint(documents), weighting)
    assert list(reloaded.passages) == passages


def test_a_file_of_other_documents_or_settings_is_refused(tmp_path: Path,
                                                         seeds: tuple[list[Document], list[Passage]]) -> None:
    documents, passages = seeds
    path = tmp_path / "index.npz"
    persist.save(Index.build(documents, passages), path, persist.fingerprint(documents))
    with pytest.raises(IndexFileError, match="other settings or data"):
        persist.load(path, documents[1:], persist.fingerprint(documents[1:]), Weighting())
    with pytest.raises(IndexFileError, match="other settings or data"):
        persist.load(path, documents, persist.fingerprint(documents), Weighting(k1=2.0))


def _is_mapped(array: np.ndarray) -> bool:
    """Whether the array's memory is a mapping of a file."""
    base: object = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    return isinstance(base, mmap.mmap)


def _rewrite(path: Path, **changes: np.ndarray) -> None:
    """The same archive with some arrays replaced, written the way `persist.save` writes."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def test_arrays_that_do_not_fit_together_are_refused(tmp_path: Path,
                                                    seeds: tuple[list[Document], list[Passage]]) -> None:
    """Same parameters, inconsistent arrays (a row index past the last passage would make the scoring
    kernel read out of bounds): refused, never served."""
    documents, passages = seeds
    path = tmp_path / "index.npz"
    corpus = persist.fingerprint(documents)
    persist.save(Index.build(documents, passages), path, corpus)
    with np.load(path) as data:
        indices, weights = data["indices"].copy(), data["weights"]
    indices[-1] = len(passages) + 5
    _rewrite(path, indices=indices)
    with pytest.raises(IndexFileError, match="do not fit together"):
        persist.load(path, documents, corpus, Weighting())
    persist.save(Index.build(documents, passages), path, corpus)
    _rewrite(path, weights=weights[:-1])
    with pytest.raises(IndexFileError, match="do not fit together"):
        persist.load(path, documents, corpus, Weighting())


def test_a_compressed_or_pickled_archive_is_refused(tmp_path: Path,
                                                   seeds: tuple[list[Document], list[Passage]]) -> None:
    documents, passages = seeds
    path = tmp_path / "index.npz"
    corpus = persist.fingerprint(documents)
    persist.save(Index.build(documents, passages), path, corpus)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    np.savez_compressed(path, **arrays)
    assert zipfile.ZipFile(path).infolist()[0].compress_type == zipfile.ZIP_DEFLATED
    with pytest.raises(IndexFileError, match="compressed"):
        persist.load(path, documents, corpus, Weighting())
    arrays["terms"] = np.array(["a", None], dtype=object)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(IndexFileError, match="objects"):
        persist.load(path, documents, corpus, Weighting())


def test_stop_words_are_scikit_learns() -> None:
    """Read from scikit-learn's own module without importing sklearn: the same list."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    assert frozenset(ENGLISH_STOP_WORDS) <= STOP_WORDS
    assert STOP_WORDS - frozenset(ENGLISH_STOP_WORDS) == {"s", "t", "did", "does", "doing"}
