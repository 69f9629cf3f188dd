"""HTML to structure.Parsed: the page's main content (not its navigation), walked with BeautifulSoup over lxml."""

from __future__ import annotations

import re
from collections.abc import Callable

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from retrieval.formats.runs import Outline, TextRun, heading_date, plain_text
from retrieval.structure import CODE, LIST, NOTE, PROSE, ROW, Block, Parsed

_INLINE = set(
    "a abbr b bdi bdo big br cite code data del dfn em font i img ins kbd label mark q s samp small span strike "
    "strong sub sup time tt u var wbr".split()
)
_MARKS = {"code": "code", "kbd": "code", "samp": "code", "tt": "code", "var": "code", "em": "em", "i": "em",
          "cite": "em", "dfn": "em", "strong": "strong", "b": "strong"}  # fmt: skip
_DROPPED = ["script", "style", "noscript", "form", "template", "svg", "iframe", "button", "select", "input",
            "textarea", "nav", "canvas", "object", "embed", "link", "meta"]  # fmt: skip
_BOILERPLATE = {"sidebar", "sphinxsidebar", "sidebars", "menu", "toc", "breadcrumb", "breadcrumbs", "navbar",
                "navigation", "skiplink"}
_NOTE_LABELS = {"note": "Note", "warning": "Warning", "tip": "Tip", "important": "Important", "danger": "Danger",
                "caution": "Caution", "attention": "Attention", "hint": "Hint", "error": "Error", "info": "Info",
                "seealso": "See also", "todo": "Todo", "success": "Success", "example": "Example"}  # fmt: skip
_NOT_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)
_TOKEN = re.compile(r"[a-z0-9]+")


def parse_html(text: str) -> Parsed:
    """Parse an HTML page's main content into a title and blocks of readable text, each with its section."""
    try:
        soup = BeautifulSoup(text, "lxml")
        root = _main(soup)
        _strip(root)
        page_title = _text(soup.title) if soup.title else ""
        walker = _Walker(() if root.find("h1") or not page_title else (page_title,))
        walker.container(root)
    except RecursionError:  # nesting deeper than Python's stack; the text is still worth reading
        return plain_text(BeautifulSoup(text, "lxml").get_text("\n\n"))
    description = _meta(soup, 'meta[name="description"]', 'meta[property="og:description"]')
    return Parsed(walker.title or page_title or None, tuple(walker.blocks), description, _date(soup))


def _main(soup: BeautifulSoup) -> Tag:
    """The element holding the page's own content: <main>, role=main, a lone <article>, else <body>."""
    found = soup.select_one("main") or soup.select_one("[role=main]")
    if found is not None:
        return found
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


def _strip(root: Tag) -> None:
    """Drop what is not the page's text: scripts, navigation, sidebars, site header and footer, ¶ links."""
    in_body = root.name in ("body", "[document]")
    boilerplate = _BOILERPLATE | {"footer"} if in_body else _BOILERPLATE
    doomed = root.find_all(_DROPPED) + root.find_all(["footer", "aside"])
    if in_body:
        doomed += root.find_all("header")
    doomed += [tag for tag in root.find_all(True) if tag.get("hidden") is not None or tag.get("aria-hidden") == "true"]
    doomed += root.find_all("a", class_="headerlink")
    doomed += [tag for tag in root.find_all(True) if _tokens(tag) & boilerplate]
    for tag in doomed:
        if tag.name == "aside" and _admonition(tag):
            continue  # <aside class="admonition warning"> is content
        if not tag.decomposed and tag is not root:
            tag.decompose()


def _tokens(tag: Tag) -> set[str]:
    """The words of a tag's class and id ("md-sidebar--primary" → md, sidebar, primary)."""
    classes = tag.get("class")
    words = [str(word) for word in classes] if isinstance(classes, list) else [str(classes or "")]
    words.append(str(tag.get("id") or ""))
    return set(_TOKEN.findall(" ".join(words).lower()))


def _text(tag: Tag | None) -> str:
    return " ".join(tag.get_text(" ").split()) if tag is not None else ""


def _meta(soup: BeautifulSoup, *selectors: str) -> str | None:
    """The content of the first <meta> matching one of the CSS selectors, whitespace collapsed."""
    for selector in selectors:
        tag = soup.select_one(selector)
        content = " ".join(str(tag.get("content") or "").split()) if tag is not None else ""
        if content:
            return content
    return None


def _date(soup: BeautifulSoup) -> str | None:
    """The publication date the page declares, as an ISO date."""
    content = _meta(soup, 'meta[property="article:published_time"]', 'meta[name="date"]', 'meta[name="dc.date"]')
    return heading_date(content[:10]) if content else None


def _admonition(tag: Tag) -> tuple[str, Tag | None] | None:
    """An admonition's label and the element that shows it (`div.admonition.warning` → "Warning"), or None."""
    tokens = _tokens(tag)
    if tag.name == "blockquote":
        first = tag.find(["strong", "b"])
        label = _text(first).rstrip(":").strip() if isinstance(first, Tag) else ""
        if label.lower() in _NOTE_LABELS and _text(tag).startswith(_text(first)):
            return label, first  # > **Note**: …
        return None
    if not tokens & {"admonition", "callout", "alert"}:
        return None
    title = tag.find(class_=["admonition-title", "markdown-alert-title", "callout-title"])
    if isinstance(title, Tag) and _text(title):
        return _text(title), title
    label = next((label for token, label in _NOTE_LABELS.items() if token in tokens), "Note")
    return label, None


def _slug(heading: str) -> str:
    """An anchor as static site generators make it: lower case, words joined by hyphens."""
    return "-".join(re.sub(r"[^\w\s-]", "", heading.lower()).split())


class _Walker:
    """Walks the content in reading order, emitting blocks under the headings that precede them."""

    def __init__(self, base: tuple[str, ...]) -> None:
        self.blocks: list[Block] = []
        self.title: str | None = None
        self._outline = Outline(base)

    def _emit(self, kind: str, run: TextRun) -> None:
        text, marks = run.build()
        if text:
            self.blocks.append(Block(kind, text, self._outline.section, marks))

    def _collect(self, kind: str, fill: Callable[[TextRun, list[Tag]], None]) -> None:
        """Emit one block filled by `fill`, then the code blocks, notes and tables it put aside."""
        run, deferred = TextRun(), list[Tag]()
        fill(run, deferred)
        self._emit(kind, run)
        for child in deferred:
            self.block(child)

    def container(self, tag: Tag) -> None:
        """A tag holding blocks and loose text: loose text between blocks is a paragraph of its own."""
        run = TextRun()
        for child in tag.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _NOT_TEXT):
                    run.add(str(child))
            elif isinstance(child, Tag) and child.name in _INLINE:
                self._piece(child, run)
            elif isinstance(child, Tag):
                self._emit(PROSE, run)
                run = TextRun()
                self.block(child)
        self._emit(PROSE, run)

    def block(self, tag: Tag) -> None:
        """Emit the blocks of one block-level tag."""
        name = tag.name
        note = _admonition(tag) if name in ("div", "aside", "blockquote", "section") else None
        if note:
            self._note(tag, *note)
        elif name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading(tag, int(name[1]))
        elif name == "p":
            run = TextRun()
            self._inline(tag, run)
            self._emit(PROSE, run)
        elif name in ("ul", "ol", "menu"):
            self._list(tag)
        elif name == "dl":
            self._definitions(tag)
        elif name == "table":
            self._table(tag)
        elif name == "pre":
            run = TextRun()
            run.add_verbatim(tag.get_text().strip("\n"))
            self._emit(CODE, run)
        elif name not in ("hr", "br", "img", "head", "title"):
            self.container(tag)

    # ---------------------------------------------------------------- headings

    def _heading(self, tag: Tag, level: int) -> None:
        run = TextRun()
        self._inline(tag, run)
        heading = run.build()[0]
        if not heading:
            return
        if level == 1 and self.title is None:
            self.title = heading
        self._outline.push(level, heading, _anchor(tag) or _slug(heading))

    # ---------------------------------------------------------------- lists, notes, tables

    def _list(self, tag: Tag) -> None:
        self._collect(LIST, lambda run, deferred: self._items(tag, run, deferred))

    def _items(self, tag: Tag, run: TextRun, deferred: list[Tag]) -> None:
        for item in tag.find_all("li", recursive=False):
            run.newline()
            self._flow(item, run, deferred, lines=True)

    def _definitions(self, tag: Tag) -> None:
        """`term – definition` lines; a definition list of anchored terms (API docs) is sub-sections instead."""
        if any(dt.get("id") for dt in tag.find_all("dt", recursive=False)):
            level, pushed = self._outline.depth + 1, False
            for child in tag.find_all(["dt", "dd"], recursive=False):
                if child.name == "dd":
                    self.container(child)
                elif _text(child):
                    self._outline.push(level, _text(child), str(child.get("id") or self._outline.section.anchor))
                    pushed = True
            if pushed:
                self._outline.pop()
            return
        self._collect(LIST, lambda run, deferred: self._dl_items(tag, run, deferred))

    def _dl_items(self, tag: Tag, run: TextRun, deferred: list[Tag]) -> None:
        for child in tag.find_all(["dt", "dd"], recursive=False):
            if child.name == "dt":
                run.newline()
                self._inline(child, run)
            elif _text(child):
                run.add(" – ")
                self._flow(child, run, deferred, lines=True)

    def _note(self, tag: Tag, label: str, title: Tag | None) -> None:
        """`Label: text of the body`, code and tables inside put after it."""
        if title is not None:
            after = title.next_sibling
            if isinstance(after, NavigableString) and after.lstrip().startswith(":"):
                after.replace_with(after.lstrip()[1:])  # **Note**: text
            title.decompose()

        def fill(run: TextRun, deferred: list[Tag]) -> None:
            run.add(label)
            if _text(tag):
                run.add(": ")
                self._flow(tag, run, deferred, lines=False)

        self._collect(NOTE, fill)

    def _table(self, tag: Tag) -> None:
        """One ROW block per body row, each cell after its column's header."""
        rows = [row for row in tag.find_all("tr") if row.find_parent("table") is tag]
        header: list[str] = []
        if len(rows) > 1 and (rows[0].find_parent("thead") or all(c.name == "th" for c in _cells(rows[0]) if c)):
            header = [_text(cell) if cell else "" for cell in _cells(rows[0])]
            rows = rows[1:]
        for row in rows:
            run = TextRun()
            for index, cell in enumerate(_cells(row)):
                if cell is None or not _text(cell):
                    continue
                run.separate(" · ")
                if index < len(header) and header[index]:
                    run.add(header[index] + ": ")
                self._flow(cell, run, None, lines=False)
            self._emit(ROW, run)

    # ---------------------------------------------------------------- inline text

    def _flow(self, tag: Tag, run: TextRun, deferred: list[Tag] | None, lines: bool) -> None:
        """A tag's text on the current line; nested lists on further lines (`lines`), code and notes put aside."""
        for child in tag.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _NOT_TEXT):
                    run.add(str(child))
            elif not isinstance(child, Tag):
                continue
            elif child.name in _INLINE:
                self._piece(child, run)
            elif deferred is not None and (child.name in ("pre", "table") or _admonition(child)):
                deferred.append(child)
            elif child.name in ("ul", "ol") and lines:
                self._items(child, run, deferred if deferred is not None else [])
                run.newline()
            else:
                run.separate()
                self._flow(child, run, deferred, lines)
                run.separate()

    def _inline(self, tag: Tag, run: TextRun) -> None:
        """Append the text of a tag's children, marking code, emphasis, strong text and links."""
        for child in tag.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _NOT_TEXT):
                    run.add(str(child))
            elif isinstance(child, Tag):
                self._piece(child, run)

    def _piece(self, tag: Tag, run: TextRun) -> None:
        """Append one inline tag's text with its mark."""
        if tag.name == "img":
            siblings = tag.parent.children if tag.parent is not None else iter(())
            if any(isinstance(node, NavigableString) and node.strip() for node in siblings):
                run.add(str(tag.get("alt") or ""))  # an image within text (an emoji, an icon) reads as its alt
            return
        if tag.name == "br":
            run.add(" ")
            return
        start = len(run)
        if tag.name not in _INLINE:
            run.separate()
        self._inline(tag, run)
        if tag.name in _MARKS:
            run.mark(start, _MARKS[tag.name])
        elif tag.name == "a" and tag.get("href"):
            run.mark(start, "link", str(tag["href"]))


def _anchor(tag: Tag) -> str:
    """A heading's anchor as the page has it: its id, an id inside it, or its section's id."""
    if tag.get("id"):
        return str(tag["id"])
    inner = tag.find(lambda t: t.get("id") or (t.name == "a" and t.get("name")))
    if isinstance(inner, Tag):
        return str(inner.get("id") or inner.get("name"))
    parent = tag.parent
    if isinstance(parent, Tag) and parent.get("id") and parent.find(True) is tag:
        return str(parent["id"])  # Sphinx: <section id="x"><h2>…
    return ""


def _cells(row: Tag) -> list[Tag | None]:
    """A row's cells by column, spanned columns left empty so that headers stay aligned."""
    cells: list[Tag | None] = []
    for cell in row.find_all(["td", "th"], recursive=False):
        cells.append(cell)
        span = str(cell.get("colspan") or "1")
        cells.extend([None] * (int(span) - 1 if span.isdigit() and 0 < int(span) < 100 else 0))
    return cells
