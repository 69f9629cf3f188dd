"""reStructuredText (Sphinx documentation) to structure.Parsed, through docutils' own parser.

Plain docutils does not know Sphinx's roles and directives. Roles are rendered the way Sphinx shows
them by a custom inliner (no global state); Sphinx's directives are registered once, at import, with
docutils' directive registry (the only global docutils offers for them). Directives nobody knows keep
their content: docutils reports them with their source, which is parsed again without the directive line.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable

from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser, roles, states
from docutils.utils import new_document, unescape

from retrieval.formats import sphinx
from retrieval.formats.runs import Outline, TextRun, heading_date, plain_text
from retrieval.structure import CODE, LIST, NOTE, PROSE, ROW, Block, Parsed

_SETTINGS = get_default_settings(Parser)
_SETTINGS.report_level = 5  # nothing is printed ...
_SETTINGS.halt_level = 5  # ... and nothing raises
_SETTINGS.file_insertion_enabled = False  # no `.. include::`, no csv-table :file:/:url:
_SETTINGS.raw_enabled = False
_SETTINGS.syntax_highlight = "none"  # code stays one text node; Pygments is not needed
_SETTINGS.auto_id_prefix = "id"  # duplicate section titles get "id1", "id2", as in Sphinx
_SETTINGS.warning_stream = False


class _Inliner(states.Inliner):
    """docutils' inliner, but Sphinx's roles (and any unknown role) render as Sphinx shows them."""

    def interpreted(self, rawsource, text, role, lineno):
        name = role.lower()
        if name in sphinx.ROLES or name.rpartition(":")[2] in sphinx.ROLES:
            return [sphinx.role_node(name, unescape(text), rawsource)], []
        role_fn, _ = roles.role(role, self.language, lineno, self.reporter)
        if role_fn is None:
            return [sphinx.role_node(name, unescape(text), rawsource)], []
        return super().interpreted(rawsource, text, role, lineno)


# docutils builds its inline patterns from vars(type(self)), so the subclass needs the base's strings.
for _name, _value in vars(states.Inliner).items():
    if isinstance(_value, str) and not _name.startswith("__"):
        setattr(_Inliner, _name, _value)


def parse_rst(text: str) -> Parsed:
    """Parse reStructuredText into a title and blocks of readable text, each with its section."""
    try:
        document = _doctree(text)
        walker = _Walker(document)
        walker.walk(document)
    except Exception:  # noqa: BLE001 - docutils has crashed on odd input; the text is still worth reading
        return plain_text(text)
    return Parsed(walker.title, tuple(walker.blocks), walker.description, walker.date)


def _doctree(text: str) -> nodes.document:
    """The document tree as parsed, before transforms (so targets and reports stay where written)."""
    document = new_document("<rst>", copy.copy(_SETTINGS))
    Parser(inliner=_Inliner()).parse(text, document)
    return document


_ADMONITIONS = {
    "attention": "Attention", "caution": "Caution", "danger": "Danger", "error": "Error", "hint": "Hint",
    "important": "Important", "note": "Note", "tip": "Tip", "warning": "Warning",
}  # fmt: skip
_SKIPPED = (
    nodes.comment, nodes.substitution_definition, nodes.raw, nodes.pending, nodes.image, nodes.transition,
    nodes.title, nodes.subtitle, nodes.label, nodes.rubric, nodes.docinfo, nodes.meta, nodes.attribution,
)  # fmt: skip
_SILENT = (nodes.target, nodes.section, nodes.comment, nodes.substitution_definition, nodes.system_message,
           nodes.pending, nodes.raw, sphinx.module_marker)  # fmt: skip
_DEFERRED = (nodes.literal_block, nodes.doctest_block, nodes.math_block, nodes.table, nodes.Admonition,
             sphinx.desc, sphinx.versioned, nodes.section, nodes.system_message)  # fmt: skip


class _Walker:
    """Walks a doctree in reading order, emitting blocks under the sections that hold them."""

    def __init__(self, document: nodes.document, depth: int = 0) -> None:
        self.blocks: list[Block] = []
        self.title: str | None = None
        self.description: str | None = None
        self.date: str | None = None
        self._document = document
        self._depth = depth  # unknown directives re-parsed inside unknown directives
        self._outline = Outline()
        self._labels: list[str] = []  # explicit targets waiting for the next section
        self._module = ""  # the current Sphinx module, for object anchors (`discord.on_ready`)
        self._objects: list[str] = []  # enclosing classes, for attribute anchors

    # ---------------------------------------------------------------- the tree

    def walk(self, node: nodes.Element) -> None:
        """Visit every child of `node` in order."""
        children = list(node.children)
        first = children[0] if children else None
        if isinstance(node, nodes.document) and isinstance(first, nodes.field_list):
            self._metadata(first)
            children = children[1:]
        for child in children:
            self.visit(child)

    def visit(self, node: nodes.Node) -> None:
        """Emit the blocks of one body element (and of everything inside it)."""
        if not isinstance(node, _SILENT):
            self._labels.clear()  # a label belongs to what follows it: here, not to a later section
        if isinstance(node, _SKIPPED) or not isinstance(node, nodes.Element):
            return
        handler = getattr(self, "_visit_" + node.tagname, None)
        if handler is not None:
            handler(node)
        elif isinstance(node, nodes.Admonition):
            self._note(node, _ADMONITIONS.get(node.tagname, node.tagname.title()))
        else:
            self.walk(node)

    def _emit(self, kind: str, run: TextRun) -> None:
        text, marks = run.build()
        if text:
            self.blocks.append(Block(kind, text, self._outline.section, marks))

    def _collect(self, kind: str, fill: Callable[[TextRun, list[nodes.Node]], None]) -> None:
        """Emit one block filled by `fill`, then the code blocks, notes and tables it put aside."""
        run, deferred = TextRun(), list[nodes.Node]()
        fill(run, deferred)
        self._emit(kind, run)
        for child in deferred:
            self.visit(child)

    # ---------------------------------------------------------------- sections and objects

    def _visit_section(self, node: nodes.Element) -> None:
        run = TextRun()
        if node.children and isinstance(node[0], nodes.title):
            self._inline(node[0], run)
        heading = run.build()[0]
        if self._labels:
            anchor = nodes.make_id(self._labels[0])
        else:
            anchor = node["ids"][0] if node["ids"] else nodes.make_id(heading)
        self._labels.clear()
        if self.title is None and heading:
            self.title = heading
        self._outline.push(self._outline.depth + 1, heading, anchor)
        self.walk(node)
        self._outline.pop()

    def _visit_desc(self, node: nodes.Element) -> None:
        """A Sphinx object description: a sub-section headed by its signature."""
        heading, name = node["signature"], node["name"]
        if name and node["objtype"] not in sphinx.UNANCHORED:
            anchor = ".".join(part for part in (self._module, *self._objects, name) if part)
        else:
            anchor = self._outline.section.anchor
        self._outline.push(self._outline.depth + 1, heading, anchor)
        container = node["objtype"] in sphinx.CONTAINERS and name
        if container:
            self._objects.append(name)
        self.walk(node)
        if container:
            self._objects.pop()
        self._outline.pop()

    def _visit_module_marker(self, node: nodes.Element) -> None:
        self._module = node["module"]
        self._objects = []

    def _visit_target(self, node: nodes.Element) -> None:
        if not node.get("refuri") and not node.get("refname") and node["names"] and not node.children:
            self._labels.extend(node["names"])

    def _metadata(self, fields: nodes.Element) -> None:
        """A field list opening the file is its metadata (Sphinx shows none of it)."""
        for field in fields.children:
            if not isinstance(field, nodes.field) or len(field.children) < 2:
                continue
            name = field.children[0].astext().strip().lower()
            value = " ".join(field.children[1].astext().split())
            if name == "date":
                self.date = heading_date(value)
            elif name in ("description", "abstract", "summary") and value:
                self.description = value

    # ---------------------------------------------------------------- text blocks

    def _visit_paragraph(self, node: nodes.Element) -> None:
        run = TextRun()
        self._inline(node, run)
        self._emit(PROSE, run)

    def _visit_line_block(self, node: nodes.Element) -> None:
        run = TextRun()
        self._flow(node, run, [])
        self._emit(PROSE, run)

    def _visit_literal_block(self, node: nodes.Element) -> None:
        run = TextRun()
        run.add_verbatim(node.astext())
        self._emit(CODE, run)

    _visit_doctest_block = _visit_literal_block
    _visit_math_block = _visit_literal_block

    def _note(self, node: nodes.Element, label: str, empty: str = "") -> None:
        """`Label: text of the body`, code and tables inside put after it; `Label.` (`empty`) alone."""
        body = [child for child in node.children if not isinstance(child, nodes.title)]

        def fill(run: TextRun, deferred: list[nodes.Node]) -> None:
            run.add(label)
            if any(child.astext().strip() for child in body if not isinstance(child, _DEFERRED)):
                run.add(": ")
                for child in body:
                    self._flow_one(child, run, deferred)
            else:
                run.add(empty)

        self._collect(NOTE, fill)

    def _visit_admonition(self, node: nodes.Element) -> None:
        title = node[0].astext() if node.children and isinstance(node[0], nodes.title) else "Note"
        self._note(node, " ".join(title.split()))

    def _visit_labelled(self, node: nodes.Element) -> None:
        self._note(node, node["label"])

    def _visit_versioned(self, node: nodes.Element) -> None:
        self._note(node, node["label"], empty=".")

    # ---------------------------------------------------------------- lists

    def _visit_bullet_list(self, node: nodes.Element) -> None:
        self._collect(LIST, lambda run, deferred: self._items(node, run, deferred))

    _visit_enumerated_list = _visit_bullet_list

    def _items(self, node: nodes.Element, run: TextRun, deferred: list[nodes.Node]) -> None:
        """Each list item on its own line; nested lists continue on further lines."""
        for item in node.children:
            run.newline()
            if isinstance(item, nodes.Element):
                for child in item.children:
                    self._item_part(child, run, deferred)

    def _item_part(self, node: nodes.Node, run: TextRun, deferred: list[nodes.Node]) -> None:
        if isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            self._items(node, run, deferred)
            run.newline()
        elif isinstance(node, nodes.definition_list):
            self._definitions(node, run, deferred)
            run.newline()
        else:
            self._flow_one(node, run, deferred)

    def _visit_definition_list(self, node: nodes.Element) -> None:
        self._collect(LIST, lambda run, deferred: self._definitions(node, run, deferred))

    def _definitions(self, node: nodes.Element, run: TextRun, deferred: list[nodes.Node]) -> None:
        """`term (classifier) – definition`, one a line; lists in a definition on further lines."""
        for item in node.children:
            run.newline()
            for child in item.children if isinstance(item, nodes.Element) else ():
                if isinstance(child, nodes.term):
                    self._inline(child, run)
                elif isinstance(child, nodes.classifier):
                    run.add(" (")
                    self._inline(child, run)
                    run.add(")")
                elif isinstance(child, nodes.definition):
                    if child.children and not isinstance(child[0], (nodes.bullet_list, nodes.enumerated_list)):
                        run.add(" – ")
                    for part in child.children:
                        self._item_part(part, run, deferred)

    def _visit_field_list(self, node: nodes.Element) -> None:
        self._collect(LIST, lambda run, deferred: self._fields(node, run, deferred))

    def _fields(self, node: nodes.Element, run: TextRun, deferred: list[nodes.Node]) -> None:
        """Sphinx's info fields read as Sphinx shows them: `member (Member) – The member who joined.`"""
        types = sphinx.field_types(node)
        for name, body in _pairs(node):
            label = sphinx.field_label(name.astext())
            if label is None:
                continue
            run.newline()
            run.add(label)
            argument = sphinx.field_argument(name.astext())
            if argument in types:
                run.add(" (")
                self._flow_one(types[argument], run, deferred)
                run.add(")")
            if body.astext().strip():
                run.add(" – ")
                self._flow(body, run, deferred)

    def _visit_option_list(self, node: nodes.Element) -> None:
        run = TextRun()
        for options, description in _pairs(node):
            run.newline()
            run.add(options.astext())
            run.add(" – ")
            self._flow(description, run, None)
        self._emit(LIST, run)

    # ---------------------------------------------------------------- tables

    def _visit_table(self, node: nodes.Element) -> None:
        """One ROW block per body row, each cell after its column's header."""
        for group in node.children:
            if not isinstance(group, nodes.tgroup):
                continue
            head = [row for part in group.children if isinstance(part, nodes.thead) for row in part.children]
            rows = [row for part in group.children if isinstance(part, nodes.tbody) for row in part.children]
            if not head and len(rows) > 1 and _looks_like_header(rows[0]):
                head, rows = rows[:1], rows[1:]  # a grid table whose first row was never marked as header
            header = [" ".join(cell.astext().split()) if cell else "" for cell in _cells(head[-1])] if head else []
            for row in rows or head:
                self._row(_cells(row), header if rows else [])

    def _row(self, cells: list[nodes.Element | None], header: list[str]) -> None:
        run = TextRun()
        for index, cell in enumerate(cells):
            if cell is None or not cell.astext().strip():
                continue
            run.separate(" · ")
            if index < len(header) and header[index]:
                run.add(header[index] + ": ")
            self._flow(cell, run, None)
        self._emit(ROW, run)

    # ---------------------------------------------------------------- reports

    def _visit_system_message(self, node: nodes.Element) -> None:
        """An unknown directive: its content is still text the page shows, so read it."""
        blocks = [child for child in node.children if isinstance(child, nodes.literal_block)]
        if not blocks or not node.astext().startswith("Unknown directive type") or self._depth > 8:
            return
        body = textwrap.dedent("\n".join(blocks[0].astext().split("\n")[1:]))
        lines = body.split("\n")
        while lines and lines[0].startswith(":"):  # the directive's options
            lines.pop(0)
        inner = _Walker(_doctree("\n".join(lines)), self._depth + 1)
        inner._outline, inner._module = self._outline, self._module
        inner.walk(inner._document)
        self.blocks.extend(inner.blocks)

    # ---------------------------------------------------------------- inline text

    def _flow(self, node: nodes.Element, run: TextRun, deferred: list[nodes.Node] | None) -> None:
        """The text of a body element's children on one line, code blocks and notes put aside."""
        for child in node.children:
            self._flow_one(child, run, deferred)

    def _flow_one(self, node: nodes.Node, run: TextRun, deferred: list[nodes.Node] | None) -> None:
        if isinstance(node, _SKIPPED) or not isinstance(node, nodes.Element):
            return
        if deferred is not None and isinstance(node, _DEFERRED):
            deferred.append(node)
        elif isinstance(node, nodes.TextElement):
            run.separate()
            self._inline(node, run)
        else:
            self._flow(node, run, deferred)

    def _inline(self, node: nodes.Element, run: TextRun, depth: int = 0) -> None:
        """Append the readable text of inline markup, marking code, emphasis, strong text and links."""
        for child in node.children:
            if isinstance(child, nodes.Text):
                run.add(child.astext())
            elif isinstance(child, (nodes.footnote_reference, nodes.citation_reference, nodes.system_message,
                                    nodes.raw, nodes.comment)):  # fmt: skip
                continue
            elif isinstance(child, nodes.substitution_reference):
                self._substitute(child, run, depth)
            elif isinstance(child, nodes.image):
                run.add(child.get("alt", ""))
            elif isinstance(child, nodes.Element):
                kind, href = _mark_of(child, self._document)
                start = len(run)
                self._inline(child, run, depth)
                if kind:
                    run.mark(start, kind, href)

    def _substitute(self, node: nodes.Element, run: TextRun, depth: int) -> None:
        """A substitution's definition in place of its reference; undefined ones read as their name."""
        definition = self._document.substitution_defs.get(node.get("refname", ""))
        if definition is not None and depth < 4:
            self._inline(definition, run, depth + 1)
        else:
            run.add(node.astext())


def _mark_of(node: nodes.Node, document: nodes.document) -> tuple[str, str]:
    """The mark an inline element gives its text, and a link's target."""
    if isinstance(node, nodes.literal):
        return "code", ""
    if isinstance(node, (nodes.emphasis, nodes.title_reference)):
        return "em", ""
    if isinstance(node, nodes.strong):
        return "strong", ""
    if isinstance(node, nodes.reference):
        href = node.get("refuri", "")
        if not href and node.get("refname"):
            target_id = document.nameids.get(node["refname"])
            target = document.ids.get(target_id) if target_id else None
            href = target.get("refuri", "") if target is not None else ""
        return ("link", href) if href else ("", "")
    return "", ""


def _looks_like_header(row: nodes.Node) -> bool:
    """Short capitalised plain-text cells ("Before", "Discord Class"): a header the author did not mark."""
    cells = _cells(row)
    for cell in cells:
        if cell is None or any(isinstance(node, nodes.Inline) for node in cell.findall()):
            return False
        words = cell.astext().split()
        if not words or len(words) > 4 or not words[0][0].isupper():
            return False
    return bool(cells)


def _pairs(node: nodes.Element) -> list[tuple[nodes.Element, nodes.Element]]:
    """The (name, body) of each field, or (options, description) of each option list item."""
    pairs = []
    for item in node.children:
        if not isinstance(item, nodes.Element):
            continue
        parts = [part for part in item.children if isinstance(part, nodes.Element)]
        if len(parts) >= 2:
            pairs.append((parts[0], parts[1]))
    return pairs


def _cells(row: nodes.Node) -> list[nodes.Element | None]:
    """A row's cells by column, spanned columns left empty so that headers stay aligned."""
    cells: list[nodes.Element | None] = []
    for entry in row.children:
        if isinstance(entry, nodes.entry):
            cells.append(entry)
            cells.extend([None] * int(entry.get("morecols", 0)))
    return cells


