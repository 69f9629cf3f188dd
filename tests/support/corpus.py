"""Document folders for tests and benchmarks: copies of the seeds, and documents large enough to matter."""

from __future__ import annotations

import shutil
from pathlib import Path

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
