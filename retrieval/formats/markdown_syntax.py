"""The markdown-it parsers for documentation Markdown and MDX: CommonMark with tables, front matter,
MkDocs `!!!` admonitions and pymdownx `///` blocks, plus rules of our own for what docs sites add:
FastAPI's `{* file *}` code includes, MkDocs-macros' Jinja `{% … %}` / `{{ … }}`, and MDX's
`import`/`export` lines, JSX components and `{…}` expressions. The reader drops these rules'
tokens; the Markdown inside components is parsed like any other."""

from __future__ import annotations

from functools import cache
from typing import NamedTuple, cast

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

INTERRUPTS = ["paragraph", "reference", "blockquote", "list"]
_MAX_TAG = 20_000  # characters a block-level JSX tag may span: bounds the scan on unclosed quotes


class JsxTag(NamedTuple):
    """A JSX tag scanned from source: where it ends, its name, kind and string attributes."""

    end: int
    name: str
    kind: str  # "open", "close", "self" (self-closing) or "comment"
    attrs: dict[str, str]


def _skip_space(src: str, i: int, end: int) -> int:
    while i < end and src[i].isspace():
        i += 1
    return i


def scan_braces(src: str, i: int, end: int) -> int:
    """The position after the `}` balancing the `{` at `i`, skipping JS strings and comments; -1 if none."""
    depth = 0
    while i < end:
        c = src[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c in "\"'`":
            i += 1
            while i < end and src[i] != c:
                i += 2 if src[i] == "\\" else 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2, end)
            if j < 0:
                return -1
            i = j + 1
        i += 1
    return -1


def _scan_attrs(src: str, i: int, end: int, attrs: dict[str, str]) -> tuple[int, str] | None:
    """Scan attributes up to the tag's end; returns the position after it and the tag's kind."""
    while True:
        i = _skip_space(src, i, end)
        if i >= end:
            return None
        c = src[i]
        if c == ">":
            return i + 1, "open"
        if src.startswith("/>", i):
            return i + 2, "self"
        if c == "{":  # a spread attribute {...props}
            i = scan_braces(src, i, end)
            if i < 0:
                return None
            continue
        start = i
        while i < end and not src[i].isspace() and src[i] not in "=>/{}<\"'":
            i += 1
        if i == start:
            return None
        name = src[start:i]
        i = _skip_space(src, i, end)
        if i < end and src[i] == "=":
            i = _skip_space(src, i + 1, end)
            if i < end and src[i] in "\"'":
                close = src.find(src[i], i + 1, end)
                if close < 0:
                    return None
                attrs[name] = src[i + 1 : close]
                i = close + 1
            elif i < end and src[i] == "{":
                i = scan_braces(src, i, end)
                if i < 0:
                    return None
            else:
                return None


def scan_jsx_tag(src: str, pos: int, end: int) -> JsxTag | None:
    """Scan the JSX tag (or `<!-- comment -->`) starting at `src[pos] == "<"`, or None if it is not one."""
    if src.startswith("<!--", pos):
        close = src.find("-->", pos + 4, end)
        return JsxTag(close + 3, "", "comment", {}) if close >= 0 else None
    i = pos + 1
    closing = i < end and src[i] == "/"
    if closing:
        i += 1
    start = i
    while i < end and (src[i].isalnum() or src[i] in "._:-"):
        i += 1
    name = src[start:i]
    if (name and not name[0].isalpha()) or (not name and not src.startswith(">", i)):
        return None  # only fragments <> and </> have no name
    if i < end and not (src[i].isspace() or src[i] in ">/{"):
        return None  # e.g. an autolink <https://…>, or "a<b" in prose
    if closing:
        i = _skip_space(src, i, end)
        return JsxTag(i + 1, name, "close", {}) if i < end and src[i] == ">" else None
    attrs: dict[str, str] = {}
    scanned = _scan_attrs(src, i, end, attrs)
    return JsxTag(scanned[0], name, scanned[1], attrs) if scanned else None


def _line(state: StateBlock, line: int) -> str:
    return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]


def include_line(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """FastAPI's code include line `{* ../../docs_src/app.py hl[3] *}`: consumed, nothing emitted."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    text = _line(state, start).rstrip()
    if not (text.startswith("{*") and text.endswith("*}")):
        return False
    if not silent:
        state.line = start + 1
    return True


def template_line(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A MkDocs-macros (Jinja) statement line such as `{% for user in people %}`: consumed."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    text = _line(state, start).rstrip()
    if not (text.startswith("{%") and text.endswith("%}")):
        return False
    if not silent:
        state.line = start + 1
    return True


def template_end(src: str, pos: int, end: int) -> int:
    """The position after the Jinja `{{ … }}` or `{% … %}` starting at `pos`, or -1."""
    closer = {"{{": "}}", "{%": "%}"}.get(src[pos : pos + 2])
    found = src.find(closer, pos + 2, end) if closer else -1
    return found + 2 if found >= 0 else -1


def drop_templates(text: str) -> str:
    """Text without its Jinja `{{ … }}` / `{% … %}` pieces (MkDocs-macros pages rendered unrendered)."""
    out, pos = [], 0
    while (start := text.find("{", pos)) >= 0:
        stop = template_end(text, start, len(text))
        out.append(text[pos : start if stop >= 0 else start + 1])
        pos = stop if stop >= 0 else start + 1
    out.append(text[pos:])
    return "".join(out)


def template_inline(state: StateInline, silent: bool) -> bool:
    """An inline Jinja `{{ … }}` or `{% … %}` of MkDocs-macros: one dropped token."""
    if state.src[state.pos] != "{":
        return False
    end = template_end(state.src, state.pos, state.posMax)
    if end < 0:
        return False
    if not silent:
        state.push("template_inline", "", 0).content = state.src[state.pos : end]
    state.pos = end
    return True


def esm_lines(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """MDX `import …` / `export …` statements at the top level: consumed up to the next blank line."""
    if state.sCount[start] != 0 or state.blkIndent != 0:
        return False
    text = _line(state, start)
    if not text.startswith(("import ", "export ", "import{", "export{")):
        return False
    if silent:
        return True
    line = start + 1
    while line < end and not state.isEmpty(line):
        line += 1
    state.line = line
    return True


def _tags_on_line(state: StateBlock, start: int, end: int) -> tuple[list[JsxTag], int] | None:
    """The JSX tags filling line `start` (a tag may span lines), and the last line they cover."""
    src = state.src
    pos = state.bMarks[start] + state.tShift[start]
    limit = min(state.eMarks[end - 1], pos + _MAX_TAG)
    tags: list[JsxTag] = []
    line = start
    while True:
        tag = scan_jsx_tag(src, pos, limit)
        if tag is None:
            return None
        tags.append(tag)
        while state.eMarks[line] < tag.end:
            line += 1
        pos = tag.end
        while pos < state.eMarks[line] and src[pos] in " \t":
            pos += 1
        if pos >= state.eMarks[line]:
            return tags, line
        if src[pos] != "<":
            return None


def _name_end(text: str, i: int) -> int:
    while i < len(text) and (text[i].isalnum() or text[i] in "._:-"):
        i += 1
    return i


def _component_closes(state: StateBlock) -> dict[int, int]:
    """For each line opening a component (`<Name …>` first on it), the line of its `</Name>`: one
    pass over the page, matched like brackets, computed once per page."""
    cached = state.env.get("mdx_closes")
    if cached is not None and cached[0] is state.src:
        return cast(dict[int, int], cached[1])
    closes: dict[int, int] = {}
    opened: dict[str, list[int]] = {}
    for number, raw in enumerate(state.src.split("\n")):
        text = raw.strip()
        start = 2 if text.startswith("</") else 1 if text.startswith("<") else 0
        end = _name_end(text, start) if start else 0
        if end == start or text[end : end + 1] not in (">", " ", ""):
            continue
        name = text[start:end]
        if start == 2 and opened.get(name):
            closes[opened[name].pop()] = number
        elif start == 1 and not text.endswith("/>"):
            opened.setdefault(name, []).append(number)
    state.env["mdx_closes"] = (state.src, closes)
    return closes


def jsx_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Lines made only of JSX tags. A component opened alone on its line, with its closing tag on
    a line of its own, has its children parsed as Markdown at their own indentation."""
    if state.src[state.bMarks[start] + state.tShift[start] : state.bMarks[start] + state.tShift[start] + 1] != "<":
        return False
    found = _tags_on_line(state, start, end)
    if found is None:
        return False
    if silent:
        return True
    tags, last = found
    tag = tags[0]
    close = _component_closes(state).get(start, -1) if len(tags) == 1 and tag.kind == "open" else -1
    if not last < close < end:
        state.line = last + 1
        return True
    children = [line for line in range(last + 1, close) if not state.isEmpty(line)]
    old = state.blkIndent, state.lineMax, state.parentType
    state.blkIndent = max(old[0], min((state.sCount[line] for line in children), default=old[0]))
    state.lineMax = close
    state.parentType = "jsx"
    token = state.push("jsx_block_open", "", 1)
    token.meta = {"name": tag.name, "title": tag.attrs.get("title") or tag.attrs.get("label") or ""}
    state.md.block.tokenize(state, last + 1, close)
    state.push("jsx_block_close", "", -1)
    state.blkIndent, state.lineMax, state.parentType = old
    state.line = close + 1
    return True


def _unclosed(state: StateInline, key: str, end: int) -> bool:
    """Remember (end < 0) or check that a `<` or `{` of this inline text never closed. In MDX that
    is an error, so later ones are read as text: one scan to the end per text, not one per brace."""
    if end >= 0:
        return False
    state.env[key] = state.src
    return True


def jsx_inline(state: StateInline, silent: bool) -> bool:
    """An inline JSX tag or comment: one dropped token, the text around and between tags kept."""
    src, pos = state.src, state.pos
    if src[pos] != "<" or pos + 1 >= state.posMax or state.env.get("mdx_open_tag") is src:
        return False
    tag = scan_jsx_tag(src, pos, state.posMax)
    if tag is None:
        if src.find(">", pos, state.posMax) < 0:  # no later `<` can end either
            _unclosed(state, "mdx_open_tag", -1)
        return False
    if not silent:
        state.push("jsx_inline", "", 0).content = src[pos : tag.end]
    state.pos = tag.end
    return True


def mdx_expression(state: StateInline, silent: bool) -> bool:
    """An MDX `{…}` expression (or `{/* comment */}`): one dropped token."""
    if state.src[state.pos] != "{" or state.env.get("mdx_open_brace") is state.src:
        return False
    end = scan_braces(state.src, state.pos, state.posMax)
    if _unclosed(state, "mdx_open_brace", end):
        return False
    if not silent:
        state.push("mdx_expression", "", 0).content = state.src[state.pos : end]
    state.pos = end
    return True


@cache
def parser(mdx: bool) -> MarkdownIt:
    """The shared parser for Markdown (mdx=False) or MDX (mdx=True)."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])  # GitHub's additions
    md.use(front_matter_plugin).use(admon_plugin).use(footnote_plugin).use(tasklists_plugin)
    md.use(container_plugin, "block", marker="/", validate=lambda params, *args: True)
    md.block.ruler.before("fence", "include_line", include_line, {"alt": INTERRUPTS})
    # Links keep their target as written: no percent-encoding pass (also the costliest inline step).
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    if not mdx:  # in MDX, braces are expressions (below)
        md.block.ruler.before("fence", "template_line", template_line, {"alt": INTERRUPTS})
        md.inline.ruler.before("html_inline", "template_inline", template_inline)
    if mdx:
        # MDX has no indented code and no raw HTML: every tag is JSX.
        md.disable(["code", "html_block", "html_inline"])
        md.block.ruler.before("table", "esm_lines", esm_lines)
        md.block.ruler.before("fence", "jsx_block", jsx_block, {"alt": INTERRUPTS})
        md.inline.ruler.before("html_inline", "jsx_inline", jsx_inline)
        md.inline.ruler.before("html_inline", "mdx_expression", mdx_expression)
    return md
