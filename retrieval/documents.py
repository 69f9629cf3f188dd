"""Reading a documents folder: files to `Document`s, or to `Skipped` with a reason.

Each file type has a reader (READERS, by suffix) that turns its bytes into `structure.Parsed`; a new
format is one function in retrieval/formats/ and one line in READERS. Everything after parsing
(titles, passages, sections, answers, attribution) is shared by every format."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import multiprocessing
import os
import pickle
import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .errors import DocumentsError
from .model import Document, Skipped
from .structure import PROSE, Block, Parsed
from .text import split_sentences

log = logging.getLogger(__name__)

READER_VERSION = "2"  # bump when any reader's output changes: stored documents are then read again
MAX_BYTES = 20 * 1024 * 1024
TITLE_CHARS = 90

_DATE_MARKER = re.compile(r"\A\s*date\s+(\d{4}-\d{2}-\d{2})(?:\s+|\Z)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SkipReason(Exception):
    """Why one file cannot be used."""


def read_folder(
    folder: Path, max_bytes: int = MAX_BYTES, unchanged: Mapping[str, Document] | None = None,
) -> tuple[list[Document], list[Skipped]]:
    """Parse every supported file under `folder`; unusable files are skipped, not fatal. A file whose
    bytes hash to the content hash of its document in `unchanged` is that document, not parsed again."""
    found: list[Document | Skipped] = []
    jobs: list[tuple[int, str, bytes]] = []  # files to parse, and where their result goes
    unchanged = unchanged or {}
    for path, name in _candidates(folder):
        try:
            if path.suffix.lower() not in READERS:
                raise SkipReason("unsupported type")
            raw = _read(folder, path, max_bytes)
            known = unchanged.get(name)
            if known is not None and known.content_hash == hashlib.sha256(raw).hexdigest():
                found.append(known)
            else:
                jobs.append((len(found), name, raw))
                found.append(Skipped(name, "not parsed"))
        except SkipReason as reason:
            found.append(Skipped(name, str(reason)))
    for (at, _name, _raw), result in zip(jobs, _parse_all([(n, r) for _, n, r in jobs]), strict=True):
        found[at] = result
    return [f for f in found if isinstance(f, Document)], [f for f in found if isinstance(f, Skipped)]


PARALLEL_BYTES = 512 * 1024  # below this much to parse, starting worker processes costs more than it saves


def _parse_all(jobs: list[tuple[str, bytes]]) -> list[Document | Skipped]:
    """Each file parsed, in order: in worker processes when there is enough to parse (the parsers are
    pure Python and hold the GIL), else here."""
    workers = min(os.cpu_count() or 1, 4)
    if workers > 1 and len(jobs) >= 8 and sum(len(raw) for _, raw in jobs) >= PARALLEL_BYTES:
        try:
            # spawn, not fork: the caller is a thread of a process with an event loop and other threads.
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                return list(pool.map(parse_or_skip, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
        except (OSError, BrokenProcessPool, pickle.PicklingError) as exc:
            log.warning("parsing in worker processes failed (%s); parsing here", exc)
    return [parse_or_skip(job) for job in jobs]


def parse_or_skip(job: tuple[str, bytes]) -> Document | Skipped:
    """One file parsed, or skipped with its reason; a parser's own failure skips the file, never the folder."""
    name, raw = job
    try:
        return parse_document(name, raw)
    except SkipReason as reason:
        return Skipped(name, str(reason))
    except Exception as exc:  # a parser bug on one strange file must not stop a reindex
        log.warning("could not parse %s: %r", name, exc)
        return Skipped(name, f"it could not be parsed ({type(exc).__name__})")


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
        if not any(p.startswith(".") for p in Path(name).parts):  # hidden files and folders (.git) are not documents
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
    reader = READERS.get(Path(name).suffix.lower(), read_text)
    parsed = reader(raw)
    blocks = tuple(b for b in parsed.blocks if b.text.strip())
    if not blocks:
        raise SkipReason("it is empty")
    paragraphs = tuple(b.text for b in blocks)
    plain = all(b.kind == PROSE and b.section.path == () and b.marks == () and b.page is None for b in blocks)
    return Document(
        id=name,
        title=parsed.title or make_title(paragraphs[0], name),
        date=parsed.date,
        paragraphs=paragraphs,
        content_hash=hashlib.sha256(raw).hexdigest(),
        blocks=() if plain else blocks,  # plain text keeps no block objects: paragraphs say it all
        description=parsed.description,
    )


def read_text(raw: bytes) -> Parsed:
    """Plain text: paragraphs separated by blank lines, an optional leading `date YYYY-MM-DD` marker."""
    text = decode(raw).replace("\r\n", "\n").replace("\r", "\n")
    date, text = _date_marker(text)
    return Parsed(None, tuple(Block(PROSE, p) for p in split_paragraphs(text)), date=date)


def read_markdown(raw: bytes) -> Parsed:
    """Markdown (CommonMark with tables, front matter, admonitions)."""
    from .formats.markdown import parse_markdown  # imported when used: a start over .txt files needs none

    return parse_markdown(decode(raw))


def read_mdx(raw: bytes) -> Parsed:
    """MDX: Markdown with imports, exports and JSX components (their text kept)."""
    from .formats.markdown import parse_markdown

    return parse_markdown(decode(raw), mdx=True)


def read_rst(raw: bytes) -> Parsed:
    """reStructuredText, with Sphinx's roles and directives shown as Sphinx shows them."""
    from .formats.rst import parse_rst

    return parse_rst(decode(raw))


def read_html(raw: bytes) -> Parsed:
    """HTML: the page's main content, without navigation."""
    from .formats.html import parse_html

    return parse_html(decode(raw))


def read_pdf(raw: bytes) -> Parsed:
    """PDF: the text of each page."""
    from .formats.pdf import parse_pdf

    try:
        return parse_pdf(raw)
    except ValueError as exc:
        raise SkipReason(f"it cannot be read as a PDF ({exc})") from exc


READERS: dict[str, Callable[[bytes], Parsed]] = {
    ".txt": read_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".mdx": read_mdx,
    ".rst": read_rst,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
}


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
