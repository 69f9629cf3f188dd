"""The saved index: a passage table and arrays mapped from a folder of `.npy` files, equal to the index saved."""

from __future__ import annotations

import json
import mmap
import os
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval import persist, text
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
    path = tmp_path / "index"
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
    again = tmp_path / "again"
    persist.save(loaded, again, persist.fingerprint(documents))
    reloaded = persist.load(again, documents, persist.fingerprint(documents), weighting)
    assert list(reloaded.passages) == passages


def test_a_file_of_other_documents_or_settings_is_refused(tmp_path: Path,
                                                         seeds: tuple[list[Document], list[Passage]]) -> None:
    documents, passages = seeds
    path = tmp_path / "index"
    persist.save(Index.build(documents, passages), path, persist.fingerprint(documents))
    with pytest.raises(IndexFileError, match="other settings or data"):
        persist.load(path, documents[1:], persist.fingerprint(documents[1:]), Weighting())
    with pytest.raises(IndexFileError, match="other settings or data"):
        persist.load(path, documents, persist.fingerprint(documents), Weighting(k1=2.0))


def test_a_file_of_an_older_analyser_is_refused(tmp_path: Path, seeds: tuple[list[Document], list[Passage]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Terms change with the analyser (CamelCase parts came with version 4): its version is in the file."""
    documents, passages = seeds
    path = tmp_path / "index"
    with monkeypatch.context() as patch:
        patch.setattr(text, "ANALYSER_VERSION", "3")
        persist.save(Index.build(documents, passages), path, persist.fingerprint(documents))
    with pytest.raises(IndexFileError, match="other settings or data"):
        persist.load(path, documents, persist.fingerprint(documents), Weighting())


def _is_mapped(array: np.ndarray) -> bool:
    """Whether the array's memory is a mapping of a file."""
    base: object = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    return isinstance(base, mmap.mmap)


def _rewrite(path: Path, **changes: np.ndarray) -> None:
    """The same index with some arrays replaced, saved the way `persist.save` saves (checksums made anew)."""
    arrays = {name: np.array(array) for name, array in persist.read(path).items()}
    arrays.update(changes)
    persist.write_arrays(path, arrays)


def test_arrays_that_do_not_fit_together_are_refused(tmp_path: Path,
                                                    seeds: tuple[list[Document], list[Passage]]) -> None:
    """Same parameters, inconsistent arrays (a row index past the last passage would make the scoring
    kernel read out of bounds): refused, never served."""
    documents, passages = seeds
    path = tmp_path / "index"
    corpus = persist.fingerprint(documents)
    persist.save(Index.build(documents, passages), path, corpus)
    data = persist.read(path)
    indices, weights = data["indices"].copy(), data["weights"]
    indices[-1] = len(passages) + 5
    _rewrite(path, indices=indices)
    with pytest.raises(IndexFileError, match="do not fit together"):
        persist.load(path, documents, corpus, Weighting())
    persist.save(Index.build(documents, passages), path, corpus)
    _rewrite(path, weights=weights[:-1])
    with pytest.raises(IndexFileError, match="do not fit together"):
        persist.load(path, documents, corpus, Weighting())


def test_objects_pickles_and_strange_names_are_refused(tmp_path: Path,
                                                    seeds: tuple[list[Document], list[Passage]]) -> None:
    """Nothing in a saved index is unpickled or read from outside its folder, whatever index.json says."""
    documents, passages = seeds
    path = tmp_path / "index"
    corpus = persist.fingerprint(documents)
    persist.save(Index.build(documents, passages), path, corpus)
    folder = Path(os.path.realpath(path))
    manifest = json.loads((folder / "index.json").read_text())

    def refused(match: str, **entry: object) -> None:
        changed = json.loads(json.dumps(manifest))
        changed["arrays"].update(entry)
        (folder / "index.json").write_text(json.dumps(changed))
        with pytest.raises(IndexFileError, match=match):
            persist.load(path, documents, corpus, Weighting())

    terms = manifest["arrays"]["terms"]
    np.save(folder / "terms.npy", np.array(["a", None], dtype=object), allow_pickle=True)
    refused("damaged: Object arrays cannot be loaded", terms=terms)  # numpy refuses to unpickle it
    refused("terms holds objects", terms=terms | {"dtype": "|O", "shape": [2]})
    (tmp_path / "outside.npy").write_bytes((folder / "idf.npy").read_bytes())
    refused("a name no saved index gives", **{"../outside": manifest["arrays"]["idf"]})
    refused("damaged", terms=terms | {"crc32": []})  # fewer checksums than chunks: bytes left unchecked
    (folder / "index.json").write_text(json.dumps(manifest | {"container": 99}))
    with pytest.raises(IndexFileError, match="layout"):
        persist.load(path, documents, corpus, Weighting())


def test_stop_words_are_scikit_learns() -> None:
    """Read from scikit-learn's own module without importing sklearn: the same list."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    assert frozenset(ENGLISH_STOP_WORDS) <= STOP_WORDS
    assert STOP_WORDS - frozenset(ENGLISH_STOP_WORDS) == {"s", "t", "did", "does", "doing"}


def test_npy_headers_are_parsed_one_thread_at_a_time(tmp_path: Path, seeds: tuple[list[Document], list[Passage]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy parses a .npy header with `ast.literal_eval`, not thread-safe in CPython 3.11 (a start died with
    "AST constructor recursion depth mismatch" once in ten test runs): the loading threads take turns."""
    documents, passages = seeds
    path = tmp_path / "index"
    persist.save(Index.build(documents, passages), path, persist.fingerprint(documents))
    real_load, inside, overlaps = np.load, [0], []

    def load(*args: object, **kwargs: object) -> object:
        inside[0] += 1
        overlaps.append(inside[0])
        time.sleep(0.005)  # widens the window in which another thread could enter (only without the lock)
        try:
            return real_load(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            inside[0] -= 1

    monkeypatch.setattr(np, "load", load)
    arrays = persist.read(path)
    assert len(overlaps) >= 10 and max(overlaps) == 1, overlaps  # before: up to 4 threads inside at once
    assert {"counts", "weights", "text", "sentence_terms"} <= arrays.keys()  # read in full, and verified
