"""PDF to structure.Parsed with pypdf: each page's paragraphs as prose blocks that know their page.

pypdf gives a page's text in reading order (columns one after the other) but no paragraphs; they are
found from where each line sits: a paragraph ends where the next line is further down than the line
spacing, jumps back up (a new column), or changes font size (a heading).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from pypdf import PdfReader

from retrieval.structure import PROSE, Block, Parsed, Section

_HYPHENATED = re.compile(r"[^\W\d_]-$")  # "exam-" at a line's end, to be joined with "ple"
_GAP = 1.6  # a gap wider than this many normal line spacings ends a paragraph
_MAX_TITLE = 120  # a first line longer than this is prose, not a title


@dataclass
class _Line:
    text: str = ""
    y: float | None = None
    size: float = 0.0


@dataclass
class _Page:
    lines: list[_Line] = field(default_factory=lambda: [_Line()])

    def visit(self, text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        """pypdf's visitor: collect each line's text with where it sits and how big it is."""
        for number, piece in enumerate(text.split("\n")):
            if number:
                self.lines.append(_Line())
            line = self.lines[-1]
            if piece.strip() and line.y is None:
                line.y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                line.size = abs(size * (tm[3] * cm[3] or 1.0))
            line.text += piece


def parse_pdf(raw: bytes) -> Parsed:
    """Parse a PDF's text into prose blocks, one per paragraph, each with its page; ValueError if unreadable."""
    reader = _open(raw)
    meta_title, date = _metadata(reader)
    pages: list[list[str]] = []
    for page in reader.pages:
        pages.append(_page_paragraphs(page))
    first = next((paragraph for paragraph in pages[0]), "") if pages else ""
    title = meta_title or (first if 0 < len(first) <= _MAX_TITLE else None)
    section = Section((title,) if title else ())
    blocks = [
        Block(PROSE, paragraph, Section(section.path, f"page={number}"), page=number)
        for number, paragraphs in enumerate(pages, start=1)
        for paragraph in paragraphs
    ]
    return Parsed(title, tuple(blocks), None, date)


def _open(raw: bytes) -> PdfReader:
    """A reader over the PDF, decrypted if it only has an empty user password; ValueError otherwise."""
    try:
        reader = PdfReader(io.BytesIO(raw))
        encrypted = reader.is_encrypted
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on a damaged file
        raise ValueError(f"damaged PDF ({exc.__class__.__name__})") from exc
    if encrypted:
        try:
            opened = bool(reader.decrypt(""))
        except Exception:  # noqa: BLE001 - an unsupported cipher is as unreadable as a password
            opened = False
        if not opened:
            raise ValueError("encrypted PDF (needs a password)")
    try:
        len(reader.pages)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"damaged PDF ({exc.__class__.__name__})") from exc
    return reader


def _metadata(reader: PdfReader) -> tuple[str | None, str | None]:
    """The title and creation date the PDF declares, if any."""
    try:
        meta = reader.metadata
        title = " ".join(str(meta.title or "").split()) if meta else ""
        created = meta.creation_date if meta else None
    except Exception:  # noqa: BLE001 - malformed metadata is no reason to skip the text
        return None, None
    return title or None, created.date().isoformat() if created else None


def _page_paragraphs(page: object) -> list[str]:
    """A page's paragraphs; a page whose text cannot be extracted has none."""
    collected = _Page()
    try:
        text = page.extract_text(visitor_text=collected.visit)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - one bad page should not lose the others
        return []
    lines = [line for line in collected.lines if line.text.strip()]
    if not lines and text.strip():
        lines = [_Line(piece) for piece in text.split("\n") if piece.strip()]
    paragraphs = [_join(group) for group in _group(lines)]
    return [paragraph for paragraph in paragraphs if paragraph and not paragraph.isdigit()]  # page numbers


def _group(lines: list[_Line]) -> list[list[str]]:
    """Lines grouped into paragraphs by their vertical gaps, column jumps and font sizes."""
    ys = [line.y for line in lines]
    steps = sorted(a - b for a, b in zip(ys, ys[1:], strict=False) if a is not None and b is not None and a > b)
    spacing = steps[len(steps) // 4] if steps else 0.0  # the page's usual line spacing (most steps are)
    groups: list[list[str]] = []
    previous: _Line | None = None
    for line in lines:
        if previous is None or _breaks(previous, line, spacing):
            groups.append([])
        groups[-1].append(line.text)
        previous = line
    return groups


def _breaks(previous: _Line, line: _Line, spacing: float) -> bool:
    if previous.y is None or line.y is None or spacing <= 0:
        return False
    step = previous.y - line.y
    if step < -spacing / 2:  # back up the page: the next column
        return True
    if abs(previous.size - line.size) > 0.5:
        return True
    return step > spacing * _GAP


def _join(lines: list[str]) -> str:
    """A paragraph's lines as one line: words hyphenated at a line's end are joined again."""
    text = ""
    for line in lines:
        line = " ".join(line.split())
        if not line:
            continue
        if _HYPHENATED.search(text) and line[0].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return text
