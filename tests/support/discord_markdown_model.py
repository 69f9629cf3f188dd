"""A model of how Discord reads markdown, to check what the bot sends without a Discord client.

Discord's client parses with simple-markdown (github.com/ariabuckles/simple-markdown, version 0.7) plus
rules of its own: spoilers, strike-through, mentions, custom emoji, timestamps, code blocks anywhere,
and, where a line starts, headings, subtext, lists and block quotes. The inline rules below are
simple-markdown's patterns with its way of choosing between them (rules tried in order; emphasis,
bold and underline compete on the length of what they capture). JavaScript regex classes are spelled
out (`\\w` and `\\b` are ASCII there). A pattern applies to the rest of the text, sliced, as in JavaScript.

`read(text)` gives the lines of a description with the inline nodes of each block, and `styled(nodes)`
the characters as a reader sees them, each with the formatting it is shown in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

JS_SPACE = "\\t\\n\\x0b\\x0c\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
JS_WORD = "A-Za-z0-9_"
JS_BOUNDARY = f"(?:(?<=[{JS_WORD}])(?![{JS_WORD}])|(?<![{JS_WORD}])(?=[{JS_WORD}]))"


def js(pattern: str) -> re.Pattern[str]:
    """A JavaScript pattern compiled with JavaScript's meaning of \\s, \\S, \\w and \\b."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        two = pattern[i : i + 2]
        if pattern.startswith("[\\s\\S]", i):
            out.append("[\\s\\S]")
            i += 6
            continue
        if two == "\\s":
            out.append(JS_SPACE if in_class else f"[{JS_SPACE}]")
        elif two == "\\S" and not in_class:
            out.append(f"[^{JS_SPACE}]")
        elif two == "\\w":
            out.append(JS_WORD if in_class else f"[{JS_WORD}]")
        elif two == "\\b" and not in_class:
            out.append(JS_BOUNDARY)
        elif pattern[i] == "\\":
            out.append(two)
        else:
            out.append(pattern[i])
            in_class = (in_class or pattern[i] == "[") and not (in_class and pattern[i] == "]")
            i += 1
            continue
        i += 2
    return re.compile("".join(out))


@dataclass
class Node:
    """One parsed inline node."""

    kind: str  # text, link, em, strong, u, del, spoiler, code, codeblock, mention, emoji, br
    text: str = ""  # text and code content
    children: list[Node] = field(default_factory=list)
    target: str = ""  # a link's href


@dataclass(frozen=True)
class Rule:
    """An inline rule: a pattern, its order, an optional quality, and how a capture becomes a node."""

    name: str
    order: int
    pattern: re.Pattern[str]
    build: Callable[[re.Match[str]], Node]
    quality: Callable[[re.Match[str]], float] | None = None


LINK_INSIDE = r"(?:\[[^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*"
LINK_HREF_AND_TITLE = r"\s*<?((?:\([^)]*\)|[^\s\\]|\\.)*?)>?(?:\s+['\"]([\s\S]*?)['\"])?\s*"
UNESCAPE_URL = re.compile(r"\\([^0-9A-Za-z\s])")
CODE_PADDING = re.compile(r"^ (?= *`)|(` *) $")


def _inline(kind: str, group: int = 1) -> Callable[[re.Match[str]], Node]:
    return lambda m: Node(kind, children=parse_inline(m.group(group)))


def _em(m: re.Match[str]) -> Node:
    return Node("em", children=parse_inline(m.group(2) or m.group(1)))


def _code(m: re.Match[str]) -> Node:
    return Node("code", text=CODE_PADDING.sub(lambda p: p.group(1) or "", m.group(2)))


RULES = sorted(
    [
        Rule("codeBlock", 0, js(r"^```(?:([a-z0-9_+\-.#]+?)\n)?\n*([^\n][\s\S]*?)\n*```"),
             lambda m: Node("codeblock", text=m.group(2))),
        Rule("escape", 1, js(r"^\\([^0-9A-Za-z\s])"), lambda m: Node("text", text=m.group(1))),
        Rule("autolink", 2, js(r"^<([^: >]+:\/[^ >]+)>"),
             lambda m: Node("link", children=[Node("text", m.group(1))], target=m.group(1))),
        Rule("mailto", 3, js(r"^<([^ >]+@[^ >]+)>"),
             lambda m: Node("link", children=[Node("text", m.group(1))], target="mailto:" + m.group(1))),
        Rule("mention", 4, js(r"^<(?:@[!&]?|#)\d+>|^@(?:everyone|here)|^<\/[^:>\s]+:\d+>"),
             lambda m: Node("mention", text=m.group(0))),
        Rule("emoji", 5, js(r"^<a?:\w+:\d+>|^<t:-?\d+(?::[tTdDfFR])?>"), lambda m: Node("emoji", m.group(0))),
        Rule("url", 6, js(r"^(https?:\/\/[^\s<]+[^<.,:;\"')\]\s])"),
             lambda m: Node("link", children=[Node("text", m.group(1))], target=m.group(1))),
        Rule("link", 7, js(rf"^\[({LINK_INSIDE})\]\({LINK_HREF_AND_TITLE}\)"),
             lambda m: Node("link", children=parse_inline(m.group(1)), target=UNESCAPE_URL.sub(r"\1", m.group(2)))),
        Rule("em", 8, js(r"^\b_((?:__|\\[\s\S]|[^\\_])+?)_\b|^\*(?=\S)((?:\*\*|\\[\s\S]|\s+(?:\\[\s\S]|[^\s\*\\]|\*\*)"
                         r"|[^\s\*\\])+?)\*(?!\*)"), _em, lambda m: len(m.group(0)) + 0.2),
        Rule("strong", 8, js(r"^\*\*((?:\\[\s\S]|[^\\])+?)\*\*(?!\*)"), _inline("strong"),
             lambda m: len(m.group(0)) + 0.1),
        Rule("u", 8, js(r"^__((?:\\[\s\S]|[^\\])+?)__(?!_)"), _inline("u"), lambda m: float(len(m.group(0)))),
        Rule("del", 9, js(r"^~~(?=\S)((?:\\[\s\S]|~(?!~)|[^\s~\\]|\s(?!~~))+?)~~"), _inline("del")),
        Rule("spoiler", 10, js(r"^\|\|([\s\S]+?)\|\|"), _inline("spoiler")),
        Rule("inlineCode", 11, js(r"^(`+)([\s\S]*?[^`])\1(?!`)"), _code),
        Rule("br", 12, js(r"^ {2,}\n"), lambda m: Node("br")),
        Rule("text", 13, js(r"^[\s\S]+?(?=[^0-9A-Za-z\s\u00c0-\uffff]|\n\n| {2,}\n|\w+:\S|$)"),
             lambda m: Node("text", text=m.group(0))),
    ],
    key=lambda r: (r.order, r.quality is None, r.name),
)


def parse_inline(source: str) -> list[Node]:
    """simple-markdown's nestedParse over inline rules: the first rule that matches, unless rules of the
    same order with a quality follow, in which case the best quality wins (ties keep the earlier)."""
    nodes: list[Node] = []
    while source:
        best: tuple[Rule, re.Match[str], float] | None = None
        for n, rule in enumerate(RULES):
            m = rule.pattern.match(source)
            if m:
                quality = rule.quality(m) if rule.quality else 0.0
                if best is None or not quality <= best[2]:
                    best = (rule, m, quality)
            following = RULES[n + 1] if n + 1 < len(RULES) else None
            if following is None or (best and not (following.order == rule.order and following.quality)):
                break
        assert best, source
        rule, m, _ = best
        nodes.append(rule.build(m))
        source = source[len(m.group(0)) :]
    return nodes


QUOTE_LINE = re.compile(r"^ *> ")
BLOCK_START = re.compile(r"^ *(?:#{1,3} +\S|-# +\S|[*-] +\S|\d+\. +\S|>|```)")


@dataclass
class Block:
    """A run of lines: a block quote (its lines without `> `) or plain lines, with their inline nodes."""

    quote: bool
    lines: list[str]
    nodes: list[Node]

    @property
    def block_markup(self) -> list[str]:
        """Lines that start a heading, subtext, list, nested quote or code block."""
        return [line for line in self.lines if BLOCK_START.match(line)]


def preprocess(text: str) -> str:
    """simple-markdown's first step: line endings to `\\n`, form feeds dropped, tabs as four spaces."""
    return re.sub(r"\r\n?", "\n", text).replace("\f", "").replace("\t", "    ")


def read(text: str) -> list[Block]:
    """A description as Discord lays it out: blocks of lines, each parsed inline."""
    text = preprocess(text)
    blocks: list[Block] = []
    for line in text.split("\n"):
        quote = bool(QUOTE_LINE.match(line)) and not line.lstrip().startswith(">>>")
        content = QUOTE_LINE.sub("", line, count=1) if quote else line
        if blocks and blocks[-1].quote == quote:
            blocks[-1].lines.append(content)
        else:
            blocks.append(Block(quote, [content], []))
    for block in blocks:
        block.nodes = parse_inline("\n".join(block.lines))
    return blocks


@dataclass(frozen=True)
class Char:
    """A character as shown, with the formatting around it and the link it is part of."""

    char: str
    styles: frozenset[str]
    target: str = ""


def styled(nodes: Sequence[Node], styles: frozenset[str] = frozenset(), target: str = "") -> list[Char]:
    """The characters a reader sees, each with the formatting it is shown in."""
    out: list[Char] = []
    for node in nodes:
        if node.kind == "text":
            out += [Char(c, styles, target) for c in node.text]
        elif node.kind in ("code", "codeblock", "mention", "emoji"):
            out += [Char(c, styles | {node.kind}, target) for c in node.text]
        elif node.kind == "br":
            out.append(Char("\n", styles, target))
        else:
            out += styled(node.children, styles | {node.kind}, node.target or target)
    return out


def plain(chars: Sequence[Char]) -> str:
    """The text shown, without zero-width spaces (which the bot adds to defuse mentions)."""
    return "".join(c.char for c in chars).replace("\u200b", "")


def formatting(text: str) -> set[str]:
    """Every kind of formatting a reader would see in `text` read as inline markdown."""
    return {s for c in styled(parse_inline(preprocess(text))) for s in c.styles}
