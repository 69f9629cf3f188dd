"""Inline Markdown made readable: markdown-it inline tokens rendered as plain text with marks, table
rows with their header, admonition labels found in blockquotes and paragraphs, heading attributes."""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from retrieval.formats.markdown_syntax import scan_jsx_tag
from retrieval.formats.markdown_text import SKIPPED_TAGS, TextBuffer, tag_attrs, tag_name

ALERTS = frozenset({"note", "tip", "important", "warning", "caution"})  # GitHub's > [!NOTE]
LABELS = frozenset("note tip hint info important warning caution attention danger error".split())
CALLOUTS = LABELS | {"check"}  # MDX callout components (Mintlify, Docusaurus): <Warning>…</Warning>
_MARKS = {"em_open": "em", "strong_open": "strong", "link_open": "link"}
_CLOSES = {"em_close": "em", "strong_close": "strong", "link_close": "link"}
_HTML_MARKS = {"code": "code", "kbd": "code", "em": "em", "i": "em", "dfn": "em", "strong": "strong", "b": "strong"}
_BREAKS = frozenset("br p div td th tr li summary details table hr".split())  # inline HTML that parts words


def render_inline(children: Sequence[Token], buf: TextBuffer, marks: bool = True) -> None:
    """Render inline tokens as readable text into `buf`, with marks for code, emphasis and links."""
    skipping = 0  # inside an inline <script> or <style>
    for tok in children:
        kind = tok.type
        if kind in ("text", "text_special"):
            if not skipping:
                buf.add(tok.content)
        elif kind in ("softbreak", "hardbreak"):
            buf.space()
        elif kind == "code_inline":
            if marks:
                buf.open("code")
            buf.add(tok.content)
            if marks:
                buf.close("code")
        elif kind in _MARKS:
            if marks:
                buf.open(_MARKS[kind], str(tok.attrGet("href") or ""))
        elif kind in _CLOSES:
            if marks:
                buf.close(_CLOSES[kind])
        elif kind == "image":  # its alt text
            render_inline(tok.children or [], buf, marks=False)
        elif kind == "mdx_expression":
            if tok.content[1:-1].strip() in ("' '", '" "', "` `", "'\\n'"):  # JSX's explicit space {' '}
                buf.space()
        elif kind in ("html_inline", "jsx_inline"):
            name = tag_name(tok.content)
            if name in SKIPPED_TAGS:
                skipping = max(0, skipping + (-1 if tok.content.startswith("</") else 1))
            elif name in _BREAKS:
                buf.space()
            elif name in _HTML_MARKS and marks:
                (buf.close if tok.content.startswith("</") else buf.open)(_HTML_MARKS[name])
            elif name == "a" and marks and kind == "html_inline":
                if tok.content.startswith("</"):
                    buf.close("link")
                else:
                    buf.open("link", tag_attrs(tok.content).get("href", ""))
        # Other tags, components and expressions are dropped: only the text around them is read.


def plain(children: Sequence[Token]) -> str:
    """Inline tokens as plain text, without marks (headings, table headers)."""
    buf = TextBuffer()
    render_inline(children, buf, marks=False)
    return buf.text()


def table_rows(tokens: Sequence[Token], i: int) -> tuple[list[TextBuffer], int]:
    """The body rows of the table opened at `tokens[i]`, each "Header: cell · Header: cell" (empty
    cells left out), and the index after the table."""
    header: list[str] = []
    rows: list[list[Token]] = []
    in_head = False
    j = i + 1
    while j < len(tokens) and tokens[j].type != "table_close":
        tok = tokens[j]
        if tok.type in ("thead_open", "thead_close"):
            in_head = tok.type == "thead_open"
        elif tok.type == "tr_open" and not in_head:
            rows.append([])
        elif tok.type == "inline" and in_head:
            header.append(plain(tok.children or []))
        elif tok.type == "inline" and rows:
            rows[-1].append(tok)
        j += 1
    out = []
    for row in rows:
        buf = TextBuffer()
        for k, inline in enumerate(row):
            cell = TextBuffer()
            render_inline(inline.children or [], cell)
            if len(cell):
                buf.add(" · " if len(buf) else "")
                buf.add(f"{header[k]}: " if k < len(header) and header[k] else "")
                buf.extend(cell)
        out.append(buf)
    return out, j + 1


def admonition_label(inline: Token, md: MarkdownIt, env: dict[str, object], colon: bool = False) -> str | None:
    """The label of a paragraph written as an admonition: `[!NOTE]` (GitHub), `**Warning**: …` or
    `**Note**` alone on its line (with `colon`, only `**Note**: …`). The label is taken out of the
    paragraph's inline tokens; None for an ordinary paragraph ("**Note** that…")."""
    start = inline.content.lstrip()
    close = start.find("]")
    if not colon and start.startswith("[!") and start[2:close].lower() in ALERTS:
        after = start[close + 1 :]
        inline.children = md.parseInline(after, env)[0].children if after.strip() else []
        return start[2:close].capitalize()
    kids = [k for k in inline.children or [] if k.type != "text" or k.content]  # emphasis leaves ""
    if len(kids) < 3 or [k.type for k in kids[:3]] != ["strong_open", "text", "strong_close"]:
        return None
    word = kids[1].content.strip()
    rest = kids[3:]
    has_colon = word.endswith(":") or (bool(rest) and rest[0].type == "text" and rest[0].content.startswith(":"))
    own_line = not rest or rest[0].type in ("softbreak", "hardbreak")
    word = word.rstrip(":").strip()
    if word.lower() not in LABELS or not (has_colon or (own_line and not colon)):
        return None
    while rest and (rest[0].type == "softbreak" or (rest[0].type == "text" and not rest[0].content.strip(" :"))):
        rest = rest[1:]
    if rest and rest[0].type == "text":
        rest[0].content = rest[0].content.lstrip(" :")
    inline.children = rest
    return word


def callout_label(inline: Token) -> str | None:
    """The label of an MDX paragraph opened by a callout component, `<Warning>Text</Warning>`."""
    first = next((k for k in inline.children or [] if k.type != "text" or k.content.strip()), None)
    if first is None or first.type != "jsx_inline":
        return None
    tag = scan_jsx_tag(first.content, 0, len(first.content))
    if tag is None or tag.kind != "open" or tag.name.lower() not in CALLOUTS:
        return None
    return tag.attrs.get("title") or tag.name


def explicit_id(content: str) -> tuple[str, int] | None:
    """A heading's trailing attribute list (`{ #id }`, `{: #id .cls }`, `{#id}`): its id ("" if
    none) and where the list starts. Like python-markdown's attr_list, it follows a space."""
    s = content.rstrip()
    brace = s.rfind("{")
    if not s.endswith("}") or brace < 1 or not s[brace - 1].isspace():
        return None
    parts = s[brace + 1 : -1].strip().removeprefix(":").split()
    if not parts or not all(p[0] in "#." or "=" in p for p in parts):
        return None
    return next((p[1:] for p in parts if p.startswith("#")), ""), brace
