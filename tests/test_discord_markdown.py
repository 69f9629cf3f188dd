"""Whatever a document holds, what the bot sends Discord shows that text, formatted only where the
document formatted it: read back with a model of Discord's markdown (tests/discord_markdown_model.py)."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import discord_markdown as markdown
from bot import discord_quote, render_discord
from retrieval.model import Quote
from retrieval.structure import Mark
from tests.support.discord_markdown_model import Char, formatting, parse_inline, plain, preprocess, read, styled

GAP = "See [a](/a) for **bold** and `code` then [b](/b)."
NEVER = {"u", "del", "spoiler", "codeblock", "mention", "emoji"}  # nothing in a document may become these
PING = re.compile(r"@everyone|@here|<@[!&]?\d+>|<#\d+>")
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"

FRAGMENTS = [
    "**", "*", "_", "__", "~~", "||", "`", "``", "```", "[", "]", "(", ")", "](", "[a](/a)", "[b](https://x.io)",
    "> ", ">>> ", "# ", "## ", "-# ", "- ", "* ", "1. ", "+ ", "\\", "\\*", "<", ">", "!", ":", "://",
    "@everyone", "@here", "<@123456789012345678>", "<@&1>", "<#12>", "<:e:1>", "<t:1:R>", "</x:1>",
    "https://x.io/a_b(c)", "http://y.org/*z*", "<https://x.io>", "\n", "\r\n", "\r", "\u2028", "\t", "  ",
    " ", "word", "a", "1", "é", "…", "\u200b", "\x00", "\ufeff", "\xa0", "\x1f",
]
TEXT = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=40).map("".join)
HREFS = ["https://ex.org/a_(b)", "http://x.io/**y**", "/relative", "#anchor", "https://x.io/@everyone",
         "javascript:alert(1)", "", "https://x.io/" + "p" * 600, "https://x.io/a b`c]"]


@st.composite
def quotes(draw: st.DrawFn) -> tuple[Quote, int]:
    """A passage of hostile text, an answering span within it, marks anywhere, and a shown length."""
    passage = draw(TEXT.filter(bool))
    start = draw(st.integers(0, len(passage) - 1))
    end = draw(st.integers(start + 1, len(passage)))
    offsets = st.integers(-2, len(passage) + 2)
    marks = draw(st.lists(st.builds(Mark, offsets, offsets, st.sampled_from(["code", "em", "strong", "link", "x"]),
                                    st.sampled_from(HREFS)), max_size=8))
    limit = draw(st.sampled_from([45, 80, 200, 1200]))
    return Quote(passage[start:end], passage, start, "a.md", "T", 1, None, 1.0, marks=tuple(marks)), limit


def shown_lines(q: Quote, limit: int) -> tuple[list[list[int | None]], str]:
    """The passage offsets of the characters the renderer shows, line by line, and their text."""
    lines: list[list[tuple[str, int | None]]] = [[]]
    shown = discord_quote.window(q, limit)
    for n, (char, at) in enumerate(shown):
        if char in LINE_BREAKS:
            if not (char == "\r" and n + 1 < len(shown) and shown[n + 1][0] == "\n"):
                lines.append([])
        else:
            lines[-1].append((char, at))
    kept = [line for line in lines if "".join(c for c, _ in line).strip()]
    text = "\n".join("".join(c for c, _ in line) for line in kept)
    return [[at for c, at in line if c != "\u200b"] for line in kept], text


def normal(text: str) -> str:
    """Text as compared: tabs as Discord shows them, no zero-width spaces, no spaces ending a line."""
    return re.sub(r" +\n", "\n", text.replace("\t", "    ").replace("\u200b", ""))


def assert_only_marked_formatting(q: Quote, chars: list[Char], offsets: list[int | None]) -> None:
    """Each shown character formatted only as the document and the answer allow, and the answer bold."""
    def covering(kind: str, at: int) -> list[Mark]:
        return [m for m in q.marks if m.kind == kind and m.start <= at < m.end]

    bare = {i: q.passage[s:e] for s, e in markdown.urls(q.passage) for i in range(s, e)}
    for char, at in zip(chars, offsets, strict=True):
        assert not char.styles & NEVER, (char, at)
        if at is None or at == discord_quote.BOLD:  # an ellipsis: bold only when it ends the answer
            assert char.styles <= ({"strong"} if at == discord_quote.BOLD else set()), char
            continue
        answer = q.start <= at < q.end
        if "strong" in char.styles:
            assert answer or covering("strong", at), (char, at)
        elif answer and not covering("code", at):
            raise AssertionError(f"answer not bold at {at}: {char}")
        if "em" in char.styles:
            assert covering("em", at), (char, at)
        if "code" in char.styles:
            assert covering("code", at), (char, at)
        if "link" in char.styles:
            targets = {markdown.href(m.href) for m in covering("link", at)} | {bare.get(at)}
            assert char.target in targets, (char, at, targets)


@given(quotes())
@settings(max_examples=400, deadline=None)
@example((Quote("x", GAP + " x", len(GAP) + 1, "a.md", "T", 1, None, 1.0), 1200))
def test_any_passage_stays_in_its_quote_with_only_its_own_formatting(case: tuple[Quote, int]) -> None:
    q, limit = case
    block = render_discord.quote_block(q, limit)
    assert not PING.search(block) and len(block) <= render_discord.QUOTE_MARKDOWN
    assert all(line.startswith("> ") and not line.startswith("> >") for line in block.split("\n")), block
    [quote] = read(block)
    assert quote.quote and not quote.block_markup, block
    offsets, text = shown_lines(q, limit)
    if not text:  # nothing visible to show: an ellipsis says so
        assert block == "> …"
        return
    chars = [c for c in styled(quote.nodes) if c.char != "\u200b"]
    assert normal(plain(chars)) == normal(text), block
    if "\t" not in text and "  \n" not in text:  # else the model's characters no longer line up one to one
        flat = [at for line in offsets for at in [*line, None]][:-1]
        assert_only_marked_formatting(q, chars, flat)


@given(TEXT)
@settings(max_examples=400, deadline=None)
@example(GAP)
def test_clean_text_shows_as_written_and_formats_nothing(text: str) -> None:
    cleaned = render_discord.clean(text)
    chars = styled(parse_inline(preprocess(cleaned)))
    assert normal(plain(chars)) == normal(preprocess(text))
    for char in chars:  # only whole links, shown as written, are clickable
        assert char.styles <= {"link"}, (char, cleaned)
    for line in preprocess(cleaned).split("\n"):  # no line starts a heading, list or quote
        assert not re.match(r"^ *(#|-|\+|>|\*|\d+\.)", line), line
    assert not PING.search(cleaned)


def test_the_escaping_gap_is_closed() -> None:
    """discord.py's escape_markdown takes all of `[a](/a) … [b](/b)` for one link and leaves the bold
    and the code inside it live; every character is escaped now."""
    cleaned = render_discord.clean(GAP)
    assert formatting(cleaned) == set(), cleaned
    assert plain(styled(parse_inline(cleaned))) == GAP
    assert "\\*\\*bold\\*\\*" in cleaned and "\\`code\\`" in cleaned


def test_the_model_reads_markdown_as_discord_does() -> None:
    """The model itself: what it shows for the constructs the renderer relies on, and its known traps."""
    def shown(text: str) -> list[tuple[str, list[str]]]:
        runs: list[tuple[str, list[str]]] = []
        for c in styled(parse_inline(text)):
            if runs and runs[-1][1] == sorted(c.styles):
                runs[-1] = (runs[-1][0] + c.char, runs[-1][1])
            else:
                runs.append((c.char, sorted(c.styles)))
        return runs

    assert shown("**a** b *c*") == [("a", ["strong"]), (" b ", []), ("c", ["em"])]
    assert shown("**a***b*") == [("a*", ["strong"]), ("b*", [])]  # why emphasis next to bold is `_b_`
    assert shown("**a**_b_") == [("a", ["strong"]), ("b", ["em"])]
    assert shown("un*frig*ble") == [("un", []), ("frig", ["em"]), ("ble", [])]
    assert shown("`` `x` ``") == [("`x`", ["code"])]
    assert shown("<https://a.io/x_y>") == [("https://a.io/x_y", ["link"])]
    assert shown("https://a.io/x\\_y") == [("https://a.io/x\\_y", ["link"])]  # why urls are not escaped
    assert shown("@everyone ||s|| ~~d~~ __u__") == [("@everyone", ["mention"]), (" ", []), ("s", ["spoiler"]),
                                                     (" ", []), ("d", ["del"]), (" ", []), ("u", ["u"])]
    assert shown("a\\\\**b**") == [("a\\", []), ("b", ["strong"])]
    assert read("> # h\n> x\nplain")[0].block_markup == ["# h"]
