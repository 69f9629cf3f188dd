"""Document folders for tests and benchmarks: copies of the seeds, and documents large enough to matter."""

from __future__ import annotations

import shutil
from pathlib import Path

from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.passages import all_passages

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def copy_seeds(folder: Path) -> Path:
    """A writable copy of the seeds at `folder`."""
    shutil.copytree(SEEDS, folder)
    return folder


def big_document(folder: Path, kilobytes: int = 1500) -> None:
    """A document of about `kilobytes` KB, so that its index holds arrays of more than 1 MiB."""
    lines = [f"Lighthouse keeper {i} logged {i * 7} passing ships and {i % 13} storms in season {i % 40}."
             for i in range(kilobytes * 1000 // 75)]
    paragraphs = ["\n".join(lines[i:i + 4]) for i in range(0, len(lines), 4)]
    (folder / "lighthouse.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")


OBSERVATORY = "The observatory telescope was built in 1887 by the brothers Carvalho.\n"
HARBOUR = "# Harbour\n\nThe harbour ferry leaves every hour for the island.\n"


def indexed(folder: Path, files: dict[str, str]) -> Index:
    """The index of `folder` once it holds these files (name: text)."""
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    documents, _ = read_folder(folder)
    return Index.build(documents, all_passages(documents))


def default_collection(folder: Path, **more: str) -> Path:
    """A small default collection (an observatory and a harbour, plus `more` files by name) at `folder`."""
    folder.mkdir()
    for name, text in {"observatory.txt": OBSERVATORY, "harbour.md": HARBOUR, **more}.items():
        (folder / name).write_text(text)
    return folder
