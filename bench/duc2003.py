"""DUC 2003 task 2 (NIST, research use only): 30 news clusters of about 10 articles, each with four
human summaries of about 100 words. The data is never kept in this repository: it is read from a
folder given by `--duc` or `QA_DUC2003` (a folder holding `duc2003/`), else from a local mirror of
github:ayushoriginal/Multi-Document-Summarization, else sparse-cloned from there into a scratch
folder (its `duc2003/` only: the same repository holds DUC 2004, the unseen test, which is never
fetched). Each article is written as a `.txt` with its date marker and read with the project's reader.
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

from retrieval.documents import read_folder
from retrieval.model import Document

ENV = "QA_DUC2003"
REPOSITORY = "ayushoriginal/Multi-Document-Summarization"
URL = f"https://github.com/{REPOSITORY}.git"
MIRRORS = (Path("/work/.mirror") / REPOSITORY.replace("/", "+") / "repo",)  # where a session's fetch leaves it
DOCS = "duc2003/docs.without.headlines"
MODELS = "duc2003/detagged.duc2003.abstracts/models"
_TASK2 = re.compile(r"d3\d{4}t")  # task 2 clusters (TDT topics); d1xx are task 3/4's TREC clusters
_DOCNO_DATE = re.compile(r"[A-Z]{3}(\d{4})(\d{2})(\d{2})\.")
_ENTITY = re.compile(r"&[A-Za-z]+;")
_INDENT = re.compile(r"\n(?=[ \t]+\S)")  # AP stories start each paragraph with an indent


@dataclass
class Cluster:
    """One topic: its articles (read by the project's reader) and its human summaries."""

    name: str
    documents: list[Document]
    references: list[str]


def locate(given: Path | None, scratch: Path) -> Path:
    """A folder holding `duc2003/`: the one given, $QA_DUC2003, a mirror, or a sparse clone into `scratch`."""
    for candidate in (given, Path(os.environ[ENV]) if os.environ.get(ENV) else None):
        if candidate is not None:
            folder = candidate.parent if candidate.name == "duc2003" else candidate
            if not (folder / DOCS).is_dir():
                raise SystemExit(f"{candidate} holds no {DOCS}/")
            return folder
    for mirror in MIRRORS:
        if (mirror / "HEAD").is_file():
            archive = scratch / "duc2003.tar"
            with archive.open("wb") as out:
                # stderr kept quiet: git complains about blobs the mirror left out elsewhere in the tree
                subprocess.run(["git", "--git-dir", str(mirror), "archive", "HEAD", DOCS, MODELS], stdout=out,
                               stderr=subprocess.DEVNULL, check=True)
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="data")
            return scratch
    clone = scratch / "clone"
    try:
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--filter=blob:none", "--sparse", URL, str(clone)],
                       check=True, timeout=600)
        subprocess.run(["git", "-C", str(clone), "sparse-checkout", "set", DOCS, MODELS], check=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"DUC 2003 not found: pass --duc PATH or set {ENV} ({exc})") from exc
    return clone


def load(folder: Path) -> list[Cluster]:
    """The 30 task-2 clusters under `folder`, in name order."""
    clusters = []
    for path in sorted(p for p in (folder / DOCS).iterdir() if _TASK2.fullmatch(p.name)):
        key = path.name[1:-1].upper()  # d30003t -> 30003
        models = sorted((folder / MODELS).glob(f"D{key}.M.100.T.*.html"))
        references = [" ".join(BeautifulSoup(m.read_bytes(), "html.parser").get_text().split()) for m in models]
        with tempfile.TemporaryDirectory() as tmp:
            for article in sorted(path.iterdir()):
                name, text = _article(article.read_bytes())
                (Path(tmp) / f"{name}.txt").write_text(text, encoding="utf-8")
            documents, _ = read_folder(Path(tmp))
        clusters.append(Cluster(path.name, documents, references))
    return clusters


def _article(raw: bytes) -> tuple[str, str]:
    """An article's DOCNO and its text as a `.txt` document: a date marker, then its paragraphs."""
    soup = BeautifulSoup(raw, "html.parser")
    docno = soup.find("docno")
    name = docno.get_text().strip() if docno else "unknown"
    body = soup.find("text")
    if body is None:
        return name, ""
    tagged = body.find_all("p")
    blocks = [p.get_text() for p in tagged] if tagged else _INDENT.split(body.get_text())
    paragraphs = [" ".join(_ENTITY.sub(" ", b.replace("&AMP;", "&")).split()) for b in blocks]
    date = _DOCNO_DATE.match(name)
    marker = f"date {date[1]}-{date[2]}-{date[3]}\n\n" if date else ""
    return name, marker + "\n\n".join(p for p in paragraphs if p)
