"""A quote laid out for Discord: which characters of its passage are shown, and in which style, line by
line (the answering sentences bold, the passage's marks, bare urls), as Discord markdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from retrieval.model import Quote

from . import discord_markdown as markdown

BOLD = -1  # the offset of the ellipsis that ends a cut answering sentence, bold with it
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # Python's and Discord's: each starts a line
_PLAIN = markdown.Span("")
_BOLD = markdown.Span("", bold=True)


def window(q: Quote, limit: int) -> list[tuple[str, int | None]]:
    """The shown characters with their offsets in the passage (None for an ellipsis): the answering
    sentences (cut at a word when too long), as much before them as after, each side cut at a word."""
    text, start, end = q.passage, q.start, q.end
    stop = _word_cut(text, start, end, limit - 40)
    room = max(limit - (stop - start) - (stop < end), 0)
    half = room // 2
    first = 0 if start <= half else start if half <= 1 else start - (half - 1)
    if 0 < first < start:
        first = text.find(" ", first, start) + 1 or first
    shown: list[tuple[str, int | None]] = [("…", None)] if first > 0 else []
    shown += [(text[i], i) for i in range(first, stop)]
    if stop < end:  # the rest of a cut sentence is not shown, so neither is what follows it
        return [*shown, ("…", BOLD)]
    last = _word_cut(text, end, len(text), room - (start - first) - (first > 0))
    shown += [(text[i], i) for i in range(end, last)]
    return [*shown, ("…", None)] if last < len(text) else shown


def _word_cut(text: str, start: int, end: int, limit: int) -> int:
    """Where `text[start:end]` stops when shortened to `limit` characters with an ellipsis (as `shorten`)."""
    if end - start <= limit:
        return end
    head = text[start : start + max(limit - 1, 0)]
    cut = head.rsplit(" ", 1)[0]
    return start + (len(cut) if cut else len(head))


def lines(q: Quote, limit: int, links: bool) -> list[str]:
    """The shown window as lines of Discord markdown (lines with nothing to see left out)."""
    shown = window(q, limit)
    offsets = [at for _, at in shown if at is not None and at >= 0]
    lo, hi = (min(offsets), max(offsets) + 1) if offsets else (0, 0)
    styles = _styles(q, links, lo, hi)

    def style(at: int | None) -> markdown.Span:
        return _BOLD if at == BOLD else _PLAIN if at is None else styles.get(at, _PLAIN)

    found = _bare_urls(q.passage, lo, hi)
    lines: list[list[markdown.Span]] = [[]]
    i = 0
    while i < len(shown):
        char, at = shown[i]
        if at is not None and at in found and (url := _whole(shown, i, found[at], style)):
            lines[-1].append(replace(style(at), text=url, url=True))
            i += len(url)
        elif char in LINE_BREAKS:  # every line break keeps its `> `; \r\n is one
            if not (char == "\r" and shown[i + 1 : i + 2] and shown[i + 1][0] == "\n"):
                lines.append([])
            i += 1
        else:  # the longest run of one style
            current, j = style(at), i + 1
            while j < len(shown) and shown[j][0] not in LINE_BREAKS and shown[j][1] not in found \
                    and style(shown[j][1]) is current:
                j += 1
            lines[-1].append(replace(current, text="".join(c for c, _ in shown[i:j])))
            i = j
    return [markdown.line_markdown(line) for line in lines if "".join(s.text for s in line).strip()]


def _whole(shown: list[tuple[str, int | None]], i: int, stop: int,
           style: Callable[[int | None], markdown.Span]) -> str:
    """The bare url that starts at `shown[i]` and ends at passage offset `stop`, when it is shown whole
    and in one style (then it is autolinked), else ""."""
    run = shown[i : i + stop - (shown[i][1] or 0)]
    offsets = [at for _, at in run]
    if offsets != list(range(offsets[0] or 0, stop)) or len({id(style(at)) for at in offsets}) > 1:
        return ""
    return "" if style(offsets[0]).code else "".join(c for c, _ in run)


def _bare_urls(passage: str, lo: int, hi: int) -> dict[int, int]:
    """Where each whole bare url near `passage[lo:hi]` starts and ends (a url has no spaces, so the
    text is widened to the spaces around the window: a url cut by the window is found whole, and is
    not shown as a link)."""
    start = passage.rfind(" ", 0, lo) + 1
    end = passage.find(" ", hi)
    end = len(passage) if end < 0 else end
    return {start + s: start + e for s, e in markdown.urls(passage[start:end])}


def _styles(q: Quote, links: bool, lo: int, hi: int) -> dict[int, markdown.Span]:
    """The style of each styled offset in `lo:hi`: bold for the answer and strong marks, then the others."""
    bold = {i for i in range(max(q.start, lo), min(q.end, hi))}
    em: set[int] = set()
    code: set[int] = set()
    link: dict[int, str] = {}
    for mark in q.marks:
        target = markdown.href(mark.href) if mark.kind == "link" and links else None
        where = range(max(mark.start, lo), min(mark.end, hi))
        if mark.kind == "strong":
            bold.update(where)
        elif mark.kind == "em":
            em.update(where)
        elif mark.kind == "code":
            code.update(where)
        elif target:
            link.update(dict.fromkeys(where, target))
    made = {_PLAIN.key(): _PLAIN, _BOLD.key(): _BOLD}  # one object per style, compared by identity

    def span(i: int) -> markdown.Span:
        key = (i in bold, link.get(i), i in em, i in code, False)
        return made.setdefault(key, markdown.Span("", *key))

    return {i: span(i) for i in bold | em | code | set(link)}


