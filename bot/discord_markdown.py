"""Plain text and its inline marks written as Discord markdown that shows exactly that text, formatted
only where the document formatted it.

Discord reads markdown with simple-markdown's rules plus its own (headings, lists, spoilers, mentions).
A backslash before any punctuation shows that punctuation, so text is escaped by backslashes, except
inside code spans, whose content is shown verbatim and is fenced instead. Formatting is written as a
tree (bold › link › emphasis › code) from per-character styles, so marks that overlap, cross the bold
answer or leave the shown window are split or clipped; where one construct's delimiter could end
another early (a `**` inside code inside bold, a `*` inside code inside emphasis), the inner one is
moved out of the outer one rather than risk live markup. `tests/discord_markdown_model.py` holds the
model of Discord's parser that the tests read every output with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from urllib.parse import quote as percent_encode
from urllib.parse import urlsplit

# Active wherever they stand (`>` only where a line starts, but escaped everywhere for simplicity).
# A `(` is escaped after a `]` and where a piece starts: a link's text reads `]` through a backslash
# (simple-markdown's link pattern knows no escapes), so `\](` after a link would end that link there.
ALWAYS = frozenset("\\*_~|`[]<>")
_LINE_START = re.compile(r"([ \t]*)(?:([#+-])|(\d+)\.)")  # headings, lists, subtext where a line starts
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")
_MENTION = re.compile(r"@(everyone|here|[!&]?[0-9]{17,20})")
_ANGLE_MENTION = re.compile(r"<([@#][!&]?)(?=\d)")
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!$&'()+,;=%]+")
_URL_TAIL = ".,:;!?'\""
HREF_MAX = 512  # a longer link is shown as its text: it would crowd out the quote it sits in
WORD = re.compile(r"[A-Za-z0-9_]")  # JavaScript's \w, which decides where `_emphasis_` may close
# Whitespace to Python or to JavaScript (Discord): kept outside an emphasis, which may not end in it.
SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" \
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def escape(text: str, *, line_start: bool = True) -> str:
    """`text` shown as written: markdown escaped, nothing autolinked, mentions defused.

    `line_start` says the text may begin a line, where `#`, `-`, `+` and `1.` start blocks."""
    parts = _LINE_BREAK.split(text)  # lines and, between them, the breaks Discord reads as such
    return "".join(part if n % 2 else _escape_line(part, line_start or n > 0) for n, part in enumerate(parts))


def _escape_line(line: str, at_start: bool) -> str:
    """One line escaped (see `escape`)."""
    out = ["\\" + c if c in ALWAYS or (c == "(" and (i == 0 or line[i - 1] == "]")) else c
           for i, c in enumerate(line)]
    for i in range(len(line) - 2):  # `https://` would be autolinked by Discord: only whole urls are
        if line[i] == ":" and line[i + 1 : i + 3] == "//":
            out[i] = "\\:"
    if line.endswith("!"):  # `![text](url)` is an image
        out[-1] = "\\!"
    if at_start and (m := _LINE_START.match(line)):
        at = m.start(3) + len(m.group(3)) if m.group(3) else m.start(2)
        out[at] = "\\" + out[at]
    return defuse("".join(out))


def defuse(text: str) -> str:
    """Mentions of everyone, users, roles and channels made inert with a zero-width space."""
    return _ANGLE_MENTION.sub("<\u200b\\1", _MENTION.sub("@\u200b\\1", text))


def urls(text: str) -> Iterator[tuple[int, int]]:
    """Where whole http(s) links stand in `text`, as Discord's autolink `<url>` can show them."""
    for m in _URL.finditer(text):
        start, end = m.span()
        while end > start and (text[end - 1] in _URL_TAIL or (
                text[end - 1] == ")" and text.count("(", start, end) < text.count(")", start, end))):
            end -= 1
        url = text[start:end]
        if urlsplit(url).netloc and not _MENTION.search(url):
            yield start, end


def clean(text: str) -> str:
    """Text made inert: every markdown character escaped, whole http(s) links clickable as `<url>`."""
    out, pos = [], 0
    for start, end in urls(text):
        out += [escape(text[pos:start], line_start=pos == 0 or text[pos - 1] in "\r\n"), f"<{text[start:end]}>"]
        pos = end
    out.append(escape(text[pos:], line_start=pos == 0 or text[pos - 1] in "\r\n"))
    return defuse("".join(out))


def href(url: str) -> str | None:
    """`url` fit for `[text](url)`, or None when it is not an absolute http(s) link (or far too long)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    # Parentheses, spaces, quotes, brackets and markdown characters percent-encoded: nothing can end the
    # link early or be read as markup by the bold or emphasis around it.
    safe = percent_encode(url.strip(), safe="-._~:/?#!$&+,;=%@")
    safe = safe.replace("@", "%40") if _MENTION.search(safe) else safe
    return safe if len(safe) <= HREF_MAX else None


def code_span(content: str) -> str | None:
    """`content` as inline code, verbatim, or None when it cannot be (a run of two or more backticks
    needs a fence of three, which Discord reads as a code block; `](` would end a link before it)."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    if not content or longest >= 2 or "](" in content:  # `](` would end a link written before it
        return None
    fence = "`" * (longest + 1)
    # A space next to the fence is dropped by Discord when a backtick follows it: pad such ends.
    lead = " " if re.match(r" *`", content) else ""
    tail = " " if re.search(r"` *$", content) else ""
    return f"{fence}{lead}{defuse(content)}{tail}{fence}"


@dataclass(frozen=True, slots=True)
class Span:
    """A run of shown characters with one style: where it comes from and how it looks."""

    text: str
    bold: bool = False
    link: str | None = None  # an href already made safe by `href`
    em: bool = False
    code: bool = False
    url: bool = False  # the run is a whole bare url, shown as `<url>`

    def key(self) -> tuple[bool, str | None, bool, bool, bool]:
        """The style, for merging neighbours."""
        return self.bold, self.link, self.em, self.code, self.url


def line_markdown(spans: Sequence[Span]) -> str:
    """One line of styled spans (no newline inside) as Discord markdown."""
    runs = _safe_runs(_merge([s for s in spans if s.text]))
    while True:
        tokens: list[_Token] = []
        for bold, in_bold in groupby(runs, key=lambda s: s.bold):
            inner = _links(list(in_bold))
            tokens += [_Token("**"), *inner, _Token("**")] if bold and inner else inner
        unwritten = _choose_emphasis(tokens)
        if not unwritten:  # mentions again: `@` and `everyone` may meet across spans
            return defuse("".join(t.text for t in tokens))
        # Emphasis that cannot be written is dropped and the line written again, so that what it held
        # joins its neighbours (two code spans that met would otherwise read as one broken fence).
        runs = _safe_runs([replace(s, em=False) if id(s) in unwritten else s for s in runs])


def _merge(spans: Sequence[Span]) -> list[Span]:
    """Neighbours of the same style joined into one span."""
    merged: list[Span] = []
    for span in spans:
        if merged and merged[-1].key() == span.key() and not span.url:
            merged[-1] = replace(merged[-1], text=merged[-1].text + span.text)
        else:
            merged.append(span)
    return merged


def _safe_runs(spans: list[Span]) -> list[Span]:
    """Spans merged and made safe (`_safe`) until neither changes them: a merge can make a new hazard."""
    while True:
        safe = _merge([_safe(s) for s in spans])
        if safe == spans:
            return safe
        spans = safe


def _safe(s: Span) -> Span:
    """The span with any style dropped whose delimiters its own content could end early."""
    if s.code and code_span(s.text) is None:
        s = replace(s, code=False)
    if s.code and "**" in s.text:
        s = replace(s, bold=False, em=False, link=None)
    if s.code and "*" in s.text:
        s = replace(s, em=False)
    if s.link and ("[" in s.text or "]" in s.text):
        s = replace(s, link=None)
    if s.url and (s.link or s.code):
        s = replace(s, url=False)
    return s


@dataclass(slots=True)
class _Token:
    """A piece of output; `em` marks an emphasis delimiter whose character is chosen last."""

    text: str
    em: int = 0  # 1 opens, -1 closes
    spans: tuple[int, ...] = ()  # an opening's spans (their ids), to drop the emphasis if it cannot be written


def _links(spans: list[Span]) -> list[_Token]:
    """Spans of one boldness grouped into links, each with its emphasis and code inside."""
    tokens: list[_Token] = []
    for link, in_link in groupby(spans, key=lambda s: s.link):
        inner = _emphasis(list(in_link), in_link=link is not None)
        if link and any(t.text.strip() for t in inner):
            tokens += [_Token("["), *inner, _Token(f"]({link})")]
        else:
            tokens += inner
    return tokens


def _emphasis(spans: list[Span], in_link: bool) -> list[_Token]:
    """Spans grouped into emphasis; whitespace at an emphasis's edges stays outside it (`* a*` is not
    emphasis)."""
    tokens: list[_Token] = []
    for em, grouped in groupby(spans, key=lambda s: s.em):
        group = list(grouped)
        pieces = [_piece(s, in_link) for s in group]
        if not em:
            tokens += pieces
            continue
        text = "".join(p.text for p in pieces)
        if not text.strip(SPACE):
            tokens += pieces
            continue
        lead, body, tail = _peel(pieces)
        tokens += [*lead, _Token("*", 1, tuple(id(s) for s in group)), *body, _Token("*", -1), *tail]
    return tokens


def _peel(pieces: list[_Token]) -> tuple[list[_Token], list[_Token], list[_Token]]:
    """Leading and trailing whitespace of plain-text pieces split off."""
    body = list(pieces)
    lead: list[_Token] = []
    tail: list[_Token] = []
    while body and not body[0].text.strip(SPACE):
        lead.append(body.pop(0))
    while body and not body[-1].text.strip(SPACE):
        tail.insert(0, body.pop())
    if body and not body[0].text.startswith("`"):
        first = body[0].text
        kept = first.lstrip(SPACE)
        lead += [_Token(first[: len(first) - len(kept)])] if kept != first else []
        body[0] = _Token(kept)
    if body and not body[-1].text.endswith("`"):
        last = body[-1].text
        kept = last.rstrip(SPACE)
        tail[:0] = [_Token(last[len(kept) :])] if kept != last else []
        body[-1] = _Token(kept)
    return lead, body, tail


def _piece(s: Span, in_link: bool) -> _Token:
    """One span's text: code fenced, a whole url autolinked, anything else escaped."""
    if s.code:
        return _Token(code_span(s.text) or escape(s.text))
    if s.url and not in_link:
        return _Token(f"<{s.text}>")
    return _Token(escape(s.text))


def _choose_emphasis(tokens: list[_Token]) -> set[int]:
    """Each emphasis written `*…*`, or `_…_` where a `*` would touch the bold's `**`; the spans of those
    that neither can write so that they read back as this emphasis (and nothing more)."""
    unwritten: set[int] = set()
    for i in [i for i, t in enumerate(tokens) if t.em == 1]:
        j = next(k for k in range(i + 1, len(tokens)) if tokens[k].em == -1)
        before = "".join(t.text for t in tokens[:i])[-1:]
        after = "".join(t.text for t in tokens[j + 1 :])[:1]
        inner = _unescaped("".join(t.text for t in tokens[i + 1 : j]))
        if "*" not in (before, after) and "*" not in inner:
            mark = "*"
        elif "_" not in (before, after) and not WORD.match(after) and "_" not in inner:
            mark = "_"
        else:
            mark = ""
            unwritten.update(tokens[i].spans)
        tokens[i].text = tokens[j].text = mark
        tokens[i].em = tokens[j].em = 0
    return unwritten


def _unescaped(text: str) -> str:
    """The characters of `text` that a backslash does not escape (as Discord's patterns skip them)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)
