"""Markdown, `.markdown` and MDX pages read as structured documents: markdown-it's token stream
(retrieval/formats/markdown_syntax.py) walked into readable blocks, each under its section.

Headings become section paths, never blocks. Paragraphs are PROSE, each top-level list one LIST
(an item a line), each table body row a ROW carrying its header, code CODE (verbatim), and
admonitions of every docs dialect (`!!! note`, `/// tip | Title`, `> [!NOTE]`, `> **Warning**`)
NOTE blocks that start with their label. Inline code, emphasis and links survive as marks."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from markdown_it.token import Token

from retrieval.formats.dates import find_date
from retrieval.formats.markdown_inline import (
    CALLOUTS,
    admonition_label,
    callout_label,
    explicit_id,
    plain,
    render_inline,
    table_rows,
)
from retrieval.formats.markdown_syntax import drop_templates, parser
from retrieval.formats.markdown_text import (
    GithubAnchors,
    MkDocsAnchors,
    TextBuffer,
    front_matter,
    html_text,
    iso_date,
    scalar,
)
from retrieval.structure import CODE, LIST, NOTE, PROSE, ROW, Block, Parsed, Section

log = logging.getLogger(__name__)
_WORD = re.compile(r"[^\W_]")  # a letter or digit


def parse_markdown(text: str, *, mdx: bool = False) -> Parsed:
    """Read a Markdown (or, with mdx=True, an MDX) page into its title, metadata and blocks."""
    try:
        return _Reader(text, mdx).parsed()
    except Exception:  # a reader must never take indexing down; an unreadable page has no blocks
        log.warning("markdown: could not read a page; indexing it without blocks", exc_info=True)
        return Parsed(None, ())


def _readable(text: str) -> bool:
    """Whether a block says anything: a lone "@" or "—" left by markup does not."""
    return _WORD.search(text) is not None


class _Note:
    """An open admonition: its label, and the NOTE text gathered from its paragraphs so far."""

    __slots__ = ("label", "buf")

    def __init__(self, label: TextBuffer) -> None:
        self.label = label
        self.buf: TextBuffer | None = None


class _Reader:
    """One page's walk over markdown-it tokens; blocks come out in reading order."""

    def __init__(self, text: str, mdx: bool) -> None:
        self.md = parser(mdx)
        self.env: dict[str, object] = {}
        self.mdx = mdx
        self.tokens = self.md.parse(text.lstrip("\ufeff"), self.env)
        meta = front_matter(self.tokens[0].content) if self.tokens and self.tokens[0].type == "front_matter" else {}
        self.description = scalar(meta.get("description"))
        self.date = iso_date(meta.get("date"))
        first_h1 = self._prepare_headings()
        self.title = scalar(meta.get("title")) or first_h1
        self.base: tuple[str, ...] = (self.title,) if self.title and first_h1 is None else ()
        self.blocks: list[Block] = []
        self.headings: list[tuple[int, str, str, str | None]] = []  # level, text, anchor, date
        self.components: list[tuple[str, str | None, bool]] = []  # open MDX components: title, date, callout?
        self.ctx: list[object] = []  # open containers: "list", "quote", "tab" or a _Note
        self.list_buf: TextBuffer | None = None
        self.list_depth = 0
        self.divs: list[bool] = []  # open raw-HTML divs: is each a FastAPI termy box?
        self.section = Section(self.base, "", find_date(self.title or "") if self.base else None)
        self.list_section = self.section

    def _prepare_headings(self) -> str | None:
        """Read every heading's text and explicit id first, as python-markdown's toc does (explicit ids
        are reserved before slugs are made); returns the first level-1 heading's text."""
        first_h1 = None
        self.anchors = GithubAnchors() if self.mdx else MkDocsAnchors()
        for i, tok in enumerate(self.tokens[:-1]):
            if tok.type != "heading_open":
                continue
            inline = self.tokens[i + 1]
            explicit = explicit_id(inline.content)
            children = inline.children or []
            if explicit:
                attrs = inline.content[explicit[1] :].rstrip()
                last = children[-1] if children else None
                if last is not None and last.type == "text" and last.content.rstrip().endswith(attrs):
                    last.content = last.content.rstrip()[: -len(attrs)]  # most headings: no re-parse
                else:
                    children = self.md.parseInline(inline.content[: explicit[1]], self.env)[0].children or []
                self.anchors.reserve(explicit[0])
            inline.meta = {"text": plain(children), "id": explicit[0] if explicit else ""}
            if first_h1 is None and tok.tag == "h1" and inline.meta["text"]:
                first_h1 = inline.meta["text"]
        return first_h1

    def parsed(self) -> Parsed:
        """Walk the tokens once and return the page."""
        handlers = {
            "heading_open": self._heading,
            "paragraph_open": self._paragraph,
            "bullet_list_open": self._list_open,
            "ordered_list_open": self._list_open,
            "bullet_list_close": self._list_close,
            "ordered_list_close": self._list_close,
            "fence": self._code,
            "code_block": self._code,
            "table_open": self._table,
            "blockquote_open": self._quote,
            "container_block_open": self._container,
            "admonition_open": self._admonition,
            "html_block": self._html,
            "jsx_block_open": self._component,
        }
        closes = ("blockquote_close", "container_block_close", "admonition_close")
        i, tokens = 0, self.tokens
        while i < len(tokens):
            tok = tokens[i]
            handler = handlers.get(tok.type)
            if handler is not None:
                i = handler(tokens, i)
                continue
            if tok.type == "list_item_open" and self.list_buf is not None:
                self.list_buf.newline()
            elif tok.type in closes:
                self._close()
            elif tok.type == "jsx_block_close" and self.components:
                if self.components.pop()[2]:
                    self._close()
                self._update_section()
            i += 1
        self._flush_list()
        return Parsed(self.title, tuple(self.blocks), self.description, self.date)

    # Emitting blocks, in reading order.

    def _emit(self, kind: str, buf: TextBuffer) -> None:
        text = buf.text()
        if _readable(text):
            self._flush_list()
            self._flush_notes()
            self.blocks.append(Block(kind, text, self.section, buf.sorted_marks(text)))

    def _flush_list(self) -> None:
        buf = self.list_buf
        if buf is not None and len(buf):
            text = buf.text()
            if _readable(text):
                self.blocks.append(Block(LIST, text, self.list_section, buf.sorted_marks(text)))
            self.list_buf, self.list_section = TextBuffer(), self.section

    def _flush_notes(self) -> None:
        for c in self.ctx:
            if isinstance(c, _Note) and c.buf is not None:
                buf, c.buf = c.buf, None
                self._emit(NOTE, buf)

    def _target(self) -> TextBuffer | None:
        """Where running text goes: the open list's current item, the open admonition, or (None) a
        PROSE block of its own."""
        for c in reversed(self.ctx):
            if c == "list" and self.list_buf is not None:
                self._flush_notes()
                self.list_buf.space()
                return self.list_buf
            if isinstance(c, _Note):
                self._flush_list()
                if c.buf is None:
                    c.buf = TextBuffer()
                    c.buf.extend(c.label)
                    label = c.label.text()
                    c.buf.add(" " if label[-1:] in ".!?:" else ": ")
                c.buf.space()
                return c.buf
        return None

    def _text(self, fill: TextBuffer) -> None:
        target = self._target()
        if target is None:
            self._emit(PROSE, fill)
        else:
            target.extend(fill)

    # Token handlers: each returns the index of the next token to read.

    def _heading(self, tokens: Sequence[Token], i: int) -> int:
        self._flush_list()
        self._flush_notes()
        level, meta = int(tokens[i].tag[1:]), tokens[i + 1].meta or {}
        text = str(meta.get("text", ""))
        anchor = str(meta.get("id", ""))
        if not anchor:
            anchor = self.anchors.make(text)
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, text, anchor, find_date(text)))
        self._update_section()
        return i + 3

    def _update_section(self) -> None:
        path = self.base + tuple(h[1] for h in self.headings if h[1]) + tuple(c[0] for c in self.components if c[0])
        base_date = find_date(self.base[0]) if self.base else None
        dates = [d for d in (base_date, *(h[3] for h in self.headings), *(c[1] for c in self.components)) if d]
        anchor = self.headings[-1][2] if self.headings else ""
        self.section = Section(path, anchor, dates[-1] if dates else None)
        if self.list_buf is not None and not len(self.list_buf):
            self.list_section = self.section

    def _paragraph(self, tokens: Sequence[Token], i: int) -> int:
        if tokens[i + 1].content.startswith(":::"):  # mkdocstrings' "::: package.Class": text the site generates
            return i + 3
        # "**Note**: …" (MDX: "<Note>…</Note>") standing alone is an admonition too, unless a list or
        # an admonition holds it.
        alone = not any(c == "list" or isinstance(c, _Note) for c in self.ctx)
        label = None
        if alone:
            inline = tokens[i + 1]
            label = callout_label(inline) if self.mdx else admonition_label(inline, self.md, self.env, colon=True)
        if label:
            self._open(label)
        target = self._target()  # rendered straight into a list or admonition: no copy
        buf = TextBuffer() if target is None else target
        render_inline(tokens[i + 1].children or [], buf)
        if target is None:
            self._emit(PROSE, buf)
        if label:
            self._close()
        return i + 3

    def _list_open(self, tokens: Sequence[Token], i: int) -> int:
        self.ctx.append("list")
        self.list_depth += 1
        if self.list_buf is None:
            self.list_buf, self.list_section = TextBuffer(), self.section
        return i + 1

    def _list_close(self, tokens: Sequence[Token], i: int) -> int:
        self._close()
        self.list_depth -= 1
        if self.list_depth == 0:
            self._flush_list()
            self.list_buf = None
        return i + 1

    def _code(self, tokens: Sequence[Token], i: int) -> int:
        content = tokens[i].content
        if any(self.divs) and "<" in content:  # a FastAPI terminal box colours its output with HTML
            content = "".join(html_text(content).parts)
        text = content.rstrip().lstrip("\n")
        if text.strip():
            self._flush_list()
            self._flush_notes()
            self.blocks.append(Block(CODE, text, self.section))
        return i + 1

    def _table(self, tokens: Sequence[Token], i: int) -> int:
        rows, after = table_rows(tokens, i)
        for row in rows:
            self._emit(ROW, row)
        return after

    def _quote(self, tokens: Sequence[Token], i: int) -> int:
        label = None
        if i + 2 < len(tokens) and tokens[i + 1].type == "paragraph_open":
            label = admonition_label(tokens[i + 2], self.md, self.env)
        self._open(label)
        return i + 1

    def _open(self, label: str | TextBuffer | None, kind: str = "quote") -> None:
        if label is None:
            self.ctx.append(kind)
            return
        self._flush_notes()
        if isinstance(label, str):
            buf = TextBuffer()
            buf.add(label)
            label = buf
        self.ctx.append(_Note(label))

    def _close(self) -> None:
        c = self.ctx.pop() if self.ctx else None
        if isinstance(c, _Note) and c.buf is not None:
            self._emit(NOTE, c.buf)

    def _container(self, tokens: Sequence[Token], i: int) -> int:
        kind, _, title = tokens[i].info.strip().partition("|")
        words = kind.split()
        if not words or words[0].lower() == "tab":  # tabs hold ordinary content
            self._open(None, "tab")
            return i + 1
        label = TextBuffer()
        if title.strip():
            render_inline(self.md.parseInline(title.strip(), self.env)[0].children or [], label)
        self._open(label if len(label) else words[0].capitalize())
        return i + 1

    def _admonition(self, tokens: Sequence[Token], i: int) -> int:
        label = TextBuffer()
        nxt = i + 1
        if nxt + 1 < len(tokens) and tokens[nxt].type == "admonition_title_open":
            render_inline(tokens[nxt + 1].children or [], label)
            nxt += 3
        tag = str((tokens[i].meta or {}).get("tag", "")) or "note"
        self._open(label if len(label) else tag.capitalize())
        return nxt

    def _html(self, tokens: Sequence[Token], i: int) -> int:
        read = html_text(tokens[i].content)
        for event in read.divs:
            if event == "/div":
                if self.divs:
                    self.divs.pop()
            else:
                self.divs.append(event == "termy")
        buf = TextBuffer()
        text = "".join(read.parts)
        buf.add(drop_templates(text) if not self.mdx and "{" in text else text)
        if len(buf):
            self._text(buf)
        return i + 1

    def _component(self, tokens: Sequence[Token], i: int) -> int:
        """An MDX component around Markdown: a callout (`<Warning>`) is an admonition; a titled one
        (`<Accordion title="…">`) adds its title to the section path of what it holds."""
        meta = tokens[i].meta or {}
        name, title = str(meta.get("name", "")), " ".join(str(meta.get("title", "")).split())
        callout = name.lower() in CALLOUTS
        if callout:
            self._open(title or name)
        self.components.append(("" if callout else title, find_date(title) if title else None, callout))
        self._update_section()
        return i + 1
