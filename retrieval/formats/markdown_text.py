"""Text helpers for the Markdown reader: a buffer that collapses whitespace while keeping inline
marks' offsets right, text out of raw HTML, heading anchors as MkDocs and GitHub make them, dates
written in headings or front matter, and the front matter itself."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from html.parser import HTMLParser

import yaml

from retrieval.formats.dates import find_date
from retrieval.structure import Mark


class TextBuffer:
    """Readable text built piece by piece: runs of whitespace become one space (never leading or
    trailing), "\\n" only where `newline()` puts it, and marks opened and closed around pieces."""

    __slots__ = ("_parts", "_len", "_space", "_nl", "_open", "_marks")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self._space = False  # a space is owed before the next word
        self._nl = True  # at the start of the text or of a line
        self._open: list[tuple[int, str, str]] = []
        self._marks: list[tuple[int, int, str, str]] = []  # Mark fields; Marks are made once, at the end

    def __len__(self) -> int:
        return self._len

    def _write(self, s: str) -> None:
        self._parts.append(s)
        self._len += len(s)
        self._nl = False

    def _settle(self) -> None:
        # Spaces are written lazily, only once a word follows, so none is ever trailing.
        if self._space and not self._nl:
            self._write(" ")
        self._space = False

    def add(self, s: str) -> None:
        """Append text, collapsing its whitespace."""
        if not s:
            return
        words = s.split()
        if not words:
            self._space = True
            return
        if s[0].isspace():
            self._space = True
        self._settle()
        self._write(" ".join(words))
        self._space = s[-1].isspace()

    def space(self) -> None:
        """Owe a space before the next word (between paragraphs of one block)."""
        self._space = True

    def newline(self) -> None:
        """Start a new line unless at the start of one (between list items)."""
        self._space = False
        if not self._nl:
            self._parts.append("\n")
            self._len += 1
            self._nl = True

    def open(self, kind: str, href: str = "") -> None:
        """Open a mark at the current position."""
        self._settle()
        self._open.append((self._len, kind, href))

    def close(self, kind: str) -> None:
        """Close the innermost open mark of this kind, keeping it if it covers any text."""
        for i in range(len(self._open) - 1, -1, -1):
            start, open_kind, href = self._open[i]
            if open_kind == kind:
                del self._open[i]
                if self._len > start:
                    self._marks.append((start, self._len, kind, href))
                return

    def extend(self, other: TextBuffer) -> None:
        """Append another buffer's text and marks (a table cell into its row)."""
        text = other.text()
        if not text:
            return
        self._settle()
        offset = self._len
        self._write(text)
        self._marks.extend((start + offset, end + offset, kind, href) for start, end, kind, href in other._marks)

    def text(self) -> str:
        """The text so far, without a trailing line break."""
        return "".join(self._parts).rstrip("\n")

    def sorted_marks(self, text: str) -> tuple[Mark, ...]:
        """Marks trimmed to the words they cover, in reading order."""
        kept = []
        for start, end, kind, href in self._marks:
            end = min(end, len(text))
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                kept.append((start, -end, kind, href))
        kept.sort()
        return tuple(Mark(start, -neg_end, kind, href) for start, neg_end, kind, href in kept)


# Tags after which rendered HTML starts a new box: their text must not run into the next word.
_BREAKING_TAGS = frozenset(
    "address article aside blockquote br dd details div dl dt figcaption figure footer h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript"})


class HtmlText(HTMLParser):
    """The text a reader sees in a piece of raw HTML: tags, comments, scripts and styles dropped.
    It also notes `<div class="termy">` openings and `</div>` closings (FastAPI's terminal boxes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.divs: list[str] = []  # div events in order: "termy" or "div" opened, "/div" closed
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self._skip += 1
        elif tag in _BREAKING_TAGS:
            self.parts.append(" ")
        if tag == "div":
            classes = next((v or "" for k, v in attrs if k == "class"), "")
            self.divs.append("termy" if "termy" in classes.split() else "div")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKING_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BREAKING_TAGS:
            self.parts.append(" ")
        if tag == "div":
            self.divs.append("/div")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(source: str) -> HtmlText:
    """Parse raw HTML into its text (`"".join(result.parts)`) and its div events."""
    parser = HtmlText()
    try:
        parser.feed(source)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup: keep what was read
        pass
    return parser


class _TagAttrs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs = {k: v or "" for k, v in attrs}


def tag_attrs(source: str) -> dict[str, str]:
    """The attributes of one HTML start tag such as `<a href="…" target="_blank">`."""
    parser = _TagAttrs()
    try:
        parser.feed(source)
        parser.close()
    except (AssertionError, ValueError):
        pass
    return parser.attrs


def tag_name(source: str) -> str:
    """The element name of an inline HTML tag such as `<br/>` or `</abbr>` (lowercase)."""
    i = 2 if source.startswith("</") else 1
    j = i
    while j < len(source) and (source[j].isalnum() or source[j] == "-"):
        j += 1
    return source[i:j].lower()


# python-markdown's toc extension (MkDocs' default anchors): markdown/extensions/toc.py slugify/unique.
_NOT_SLUG = re.compile(r"[^\w\s-]")
_SLUG_SEPARATORS = re.compile(r"[-\s]+")
_IDCOUNT = re.compile(r"^(.*)_([0-9]+)$")


def mkdocs_slug(value: str) -> str:
    """The anchor MkDocs (python-markdown toc, default settings) makes from a heading's text."""
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    value = _NOT_SLUG.sub("", value).strip().lower()
    return _SLUG_SEPARATORS.sub("-", value)


class MkDocsAnchors:
    """Anchors as python-markdown's toc makes them for a page: ids written in the page reserved
    first, then each heading's slug made unique with `_1`, `_2`… (markdown/extensions/toc.py)."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self._last: dict[str, str] = {}  # slug -> its latest anchor: resumes the `_n` walk there

    def reserve(self, anchor: str) -> None:
        """Note an explicit id (`{ #id }`), which slugs must not take."""
        self.used.add(anchor)

    def make(self, text: str) -> str:
        """The anchor of a heading without an explicit id."""
        slug = mkdocs_slug(text)
        anchor = self._last.get(slug, slug)
        while anchor in self.used or not anchor:
            m = _IDCOUNT.match(anchor)
            anchor = f"{m.group(1)}_{int(m.group(2)) + 1}" if m else f"{anchor}_1"
        self.used.add(anchor)
        self._last[slug] = anchor
        return anchor


def github_slug(value: str) -> str:
    """The anchor github-slugger makes (GitHub, Docusaurus, most MDX sites): lowercase, characters
    other than letters, marks, digits, connectors, spaces and hyphens removed, each space a hyphen."""
    kept = (c for c in value.lower() if c in " -" or unicodedata.category(c)[0] in "LMN" or c == "_")
    return "".join(kept).replace(" ", "-")


class GithubAnchors:
    """Anchors as github-slugger makes them for a page: `x`, `x-1`, `x-2`… for repeated headings."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def reserve(self, anchor: str) -> None:
        """Explicit ids (`{#id}`) are not known to the slugger: nothing to do."""

    def make(self, text: str) -> str:
        """The anchor of a heading without an explicit id."""
        anchor = original = github_slug(text)
        while anchor in self._seen:
            self._seen[original] += 1
            anchor = f"{original}-{self._seen[original]}"
        self._seen[anchor] = 0
        return anchor


def iso_date(value: object) -> str | None:
    """A front matter date (YAML date, datetime, or a string holding a date) as ISO YYYY-MM-DD."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return find_date(value)
    return None


def front_matter(source: str) -> dict[str, object]:
    """A page's YAML front matter as a mapping; empty when it is broken or not a mapping."""
    try:
        data = yaml.safe_load(source)
    except Exception:  # broken YAML is common in the wild; the page is still readable
        return {}
    return data if isinstance(data, dict) else {}


def scalar(value: object) -> str | None:
    """A front matter value as one line of text, or None when it is empty or not a scalar."""
    text = " ".join(str(value).split()) if isinstance(value, str | int | float) else ""
    return text or None
