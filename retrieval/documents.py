"""Reading a documents folder: files to `Document`s, or to `Skipped` with a reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .errors import DocumentsError
from .model import Document, Skipped
from .text import split_sentences

SUFFIXES = (".txt", ".md")
MAX_BYTES = 20 * 1024 * 1024
TITLE_CHARS = 90

_DATE_MARKER = re.compile(r"\A\s*date\s+(\d{4}-\d{2}-\d{2})(?:\s+|\Z)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SkipReason(Exception):
    """Why one file cannot be used."""


def read_folder(folder: Path, max_bytes: int = MAX_BYTES) -> tuple[list[Document], list[Skipped]]:
    """Parse every .txt and .md file under `folder`; unusable files are skipped, not fatal."""
    documents: list[Document] = []
    skipped: list[Skipped] = []
    for path, name in _candidates(folder):
        try:
            documents.append(parse_document(name, _read(folder, path, max_bytes)))
        except SkipReason as reason:
            skipped.append(Skipped(name, str(reason)))
    return documents, skipped


def _candidates(folder: Path) -> Iterator[tuple[Path, str]]:
    """Document files under `folder`, sorted, with their names relative to it."""
    if not folder.exists():
        if folder.is_symlink():  # exists() is False for a dangling link or a link loop
            raise DocumentsError(f"The documents folder {str(folder)!r} is a link that leads nowhere.")
        raise DocumentsError(f"The documents folder {str(folder)!r} does not exist.")
    if not folder.is_dir():
        raise DocumentsError(f"{str(folder)!r} is not a folder.")
    try:
        found = sorted(
            (Path(root) / f for root, _dirs, files in os.walk(folder, followlinks=False) for f in files),
        )
        os.listdir(folder)  # os.walk swallows a permission error on the top folder
    except OSError as exc:
        raise DocumentsError(f"The documents folder {str(folder)!r} cannot be read: {exc.strerror}.") from exc
    for path in found:
        name = path.relative_to(folder).as_posix()
        if path.suffix.lower() in SUFFIXES and not any(p.startswith(".") for p in Path(name).parts):
            yield path, name


def _read(folder: Path, path: Path, max_bytes: int) -> bytes:
    """The file's bytes, after the checks that need no decoding."""
    try:
        real = path.resolve(strict=True)
        if not real.is_relative_to(folder.resolve()):
            raise SkipReason("it is a link leading outside the documents folder")
        if not real.is_file():
            raise SkipReason("it is not a regular file")
        size = real.stat().st_size
        if size > max_bytes:
            raise SkipReason(f"it is larger than the limit of {_size(max_bytes)} ({_size(size)})")
        return real.read_bytes()
    except OSError as exc:
        raise SkipReason(f"it cannot be read ({exc.strerror or exc})") from exc
    except RuntimeError as exc:  # Path.resolve raises this (not OSError) for a symbolic link loop
        raise SkipReason("it is a symbolic link loop") from exc


def _size(n: int) -> str:
    """A byte count for people: 512 bytes, 20 KiB, 1.5 MiB."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB".replace(".0 MiB", " MiB")


def decode(raw: bytes) -> str:
    """UTF-8 text (a BOM tolerated), or SkipReason for binary and other encodings."""
    if b"\x00" in raw[:8192]:
        raise SkipReason("it is a binary file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipReason(f"it is not valid UTF-8 (byte {exc.start})") from exc
    if len(_CONTROL.findall(text[:8192])) > 8:
        raise SkipReason("it is a binary file")
    return text


def parse_document(name: str, raw: bytes) -> Document:
    """A `Document` from a file's name and bytes; SkipReason when it cannot be used."""
    text = decode(raw).replace("\r\n", "\n").replace("\r", "\n")
    date, text = _date_marker(text)
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        raise SkipReason("it is empty")
    return Document(
        id=name,
        title=make_title(paragraphs[0], name),
        date=date,
        paragraphs=tuple(paragraphs),
        content_hash=hashlib.sha256(raw).hexdigest(),
    )


def _date_marker(text: str) -> tuple[str | None, str]:
    """The leading `date YYYY-MM-DD` marker, if valid, and the text without it."""
    match = _DATE_MARKER.match(text)
    if not match:
        return None, text
    try:
        dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None, text
    return match.group(1), text[match.end() :]


def split_paragraphs(text: str) -> list[str]:
    """Blocks separated by blank lines; one paragraph a line where the file has no blank lines."""
    text = _CONTROL.sub(" ", text)
    blocks = _BLANK_LINE.split(text.strip())
    if len(blocks) == 1:
        blocks = blocks[0].split("\n")
    return [p for p in (" ".join(b.split()) for b in blocks) if p]


def make_title(first_paragraph: str, name: str) -> str:
    """The headline when the first paragraph is one, else its first sentence, shortened."""
    if is_heading(first_paragraph):
        return first_paragraph
    spans = split_sentences(first_paragraph)
    sentence = first_paragraph[spans[0][0] : spans[0][1]] if spans else first_paragraph
    if len(sentence) <= TITLE_CHARS:
        return sentence.rstrip(".")
    cut = sentence[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:")
    return (cut or Path(name).stem) + "…"


def is_heading(paragraph: str) -> bool:
    """A short line with no closing punctuation: a headline or a section title."""
    return len(paragraph) <= 120 and len(paragraph.split()) <= 16 and paragraph[-1] not in ".!?:;,\"”'’"
