"""The renderers' words: counts, unknown documents, empty summaries, and quotes with their formatting and
attribution, in the terminal and on Discord."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot import render_discord, render_text
from bot.service import SourceInfo
from retrieval.errors import UnknownDocumentError
from retrieval.model import Answer, Quote, Summary, SummarySentence
from retrieval.reindex import ReindexReport
from retrieval.structure import Mark
from tests.support.discord_markdown_model import plain, read, styled

ONE = [SourceInfo("notes_1.txt", "Meeting *notes*", None, 1)]
TWO = [*ONE, SourceInfo("b.md", "Budget", "2025-02-04", 1_200)]


def test_counts_are_singular_for_one() -> None:
    assert render_text.plural(1, "passage") == "1 passage"
    assert render_text.plural(0, "passage") == "0 passages"
    assert render_text.plural(1_200, "passage") == "1,200 passages"
    assert render_text.sources_text(ONE).splitlines() == [
        "1 document, 1 passage:", "- notes_1.txt  “Meeting *notes*”  no date  (1 passage)",
    ]
    assert render_text.sources_text(TWO).splitlines()[0] == "2 documents, 1,201 passages:"
    assert render_text.report_text(ReindexReport(added=("a.txt",), passages=1)).startswith(
        "Reindexed in 0.00s: 1 added, 0 changed, 0 removed, 0 unchanged, 0 skipped; 1 passage."
    )
    embed, _ = render_discord.sources_embed(ONE, 1)
    assert embed.title == "1 document, 1 passage" and "1 passage" in (embed.description or "")
    assert "1 passage in" in (render_discord.report_embed(ReindexReport(passages=1)).description or "")


def test_an_unknown_document_names_the_closest_titles() -> None:
    near = UnknownDocumentError("notes", ("notes_1.txt", "gone.txt"))
    assert render_text.unknown_document(near, TWO) == (
        "No indexed document is called 'notes'. Did you mean notes_1.txt (“Meeting *notes*”) or gone.txt?"
    )
    far = UnknownDocumentError("x" * 5000)
    text = render_text.unknown_document(far, TWO)
    assert text.endswith("…'; `qa-bot sources` lists them.") and len(text) < 200
    # Discord: the slash command instead of the terminal one; escaped and within a message once sent.
    assert render_discord.unknown_document_text(far, TWO).endswith("; /sources lists them.")
    sent = render_discord.error_message(render_discord.unknown_document_text(near, TWO))
    assert "notes\\_1.txt (“Meeting \\*notes\\*”)" in sent
    assert len(render_discord.error_message("@everyone " * 1000)) <= render_discord.MESSAGE_CONTENT


def test_an_empty_summary_says_why() -> None:
    assert render_text.summary_text(Summary("topic", "zebras")) == "The documents say nothing about “zebras”."
    assert render_text.summary_text(Summary("document", "Budget")) == "“Budget” has no sentences to summarise."
    assert render_text.summary_text(Summary("collection", "0 documents")) == (
        "Nothing to summarise: no documents are indexed."
    )
    embed = render_discord.summary_embed(Summary("topic", "zebras"))
    assert embed.description == "The documents say nothing about “zebras”."


# --- quotes: inline formatting, trimming, attribution ------------------------------------------------------


def quote(passage: str, answer: str, *marks: Mark, **fields: Any) -> Quote:
    """A quote of `answer` within `passage`, as the engine makes them."""
    start = passage.index(answer)
    defaults: dict[str, Any] = {"source": "docs/guide.md", "title": "Guide", "paragraph": 4, "date": None}
    return Quote(answer, passage, start, score=1.0, marks=marks, **{**defaults, **fields})


def mark(passage: str, words: str, kind: str, href: str = "") -> Mark:
    """A mark over the first `words` in `passage`."""
    start = passage.index(words)
    return Mark(start, start + len(words), kind, href)


def runs(block: str) -> list[tuple[str, list[str], str]]:
    """A block quote as a reader sees it (read with the model of Discord's markdown): runs of text, each
    with its formatting and link target."""
    [quoted] = read(block)
    assert quoted.quote and not quoted.block_markup, block
    out: list[tuple[str, list[str], str]] = []
    for c in styled(quoted.nodes):
        if out and out[-1][1:] == (sorted(c.styles), c.target):
            out[-1] = (out[-1][0] + c.char, *out[-1][1:])
        else:
            out.append((c.char, sorted(c.styles), c.target))
    return [(text.replace("\u200b", ""), styles, target) for text, styles, target in out]


PASSAGE = "Call on_message() to read every message. See the guide, or the local page, for more."


def test_a_quote_shows_its_inline_formatting_as_discord_formatting() -> None:
    q = quote(PASSAGE, "Call on_message() to read every message.", mark(PASSAGE, "on_message()", "code"),
              mark(PASSAGE, "every", "strong"), mark(PASSAGE, "guide", "link", "https://docs.example.org/guide"),
              mark(PASSAGE, "local page", "link", "../local.md"), mark(PASSAGE, "more", "em"))
    block = render_discord.quote_block(q)
    # The strong mark inside the bold answer needs no `**` of its own; a relative link is plain text.
    assert block == ("> **Call `on_message()` to read every message.** See the "
                     "[guide](https://docs.example.org/guide), or the local page, for *more*.")
    assert runs(block) == [
        ("Call ", ["strong"], ""), ("on_message()", ["code", "strong"], ""),
        (" to read every message.", ["strong"], ""), (" See the ", [], ""),
        ("guide", ["link"], "https://docs.example.org/guide"), (", or the local page, for ", [], ""),
        ("more", ["em"], ""), (".", [], ""),
    ]


def test_marks_crossing_the_bold_answer_or_the_window_are_split_and_clipped() -> None:
    passage = "Lead-in words of the paragraph. " * 30 + "The quick fox jumps over the lazy dog. After words."
    link = mark(passage, "lazy dog. After", "link", "https://x.io/dog")
    em = mark(passage, "paragraph. The quick", "em")  # starts outside the answer, ends in it
    code = Mark(0, passage.index("The quick") - 21, "code")  # starts far before the shown window
    q = quote(passage, "The quick fox jumps over the lazy dog.", link, em, code)
    assert runs(render_discord.quote_block(q, limit=120)) == [
        ("…", [], ""), ("Lead-in wor", ["code"], ""), ("ds of the ", [], ""), ("paragraph.", ["em"], ""), (" ", [], ""),
        ("The quick", ["em", "strong"], ""), (" fox jumps over the ", ["strong"], ""),
        ("lazy dog.", ["link", "strong"], "https://x.io/dog"), (" After", ["link"], "https://x.io/dog"),
        (" words.", [], ""),
    ]


def test_code_keeps_its_backticks_and_never_ends_the_bold_early() -> None:
    passage = "Use a`b or `x` here. Pass **kwargs on. Then [t](u) is literal."
    q = quote(passage, "Use a`b or `x` here.", mark(passage, "a`b", "code"), mark(passage, "`x`", "code"))
    assert runs(render_discord.quote_block(q))[:4] == [
        ("Use ", ["strong"], ""), ("a`b", ["code", "strong"], ""), (" or ", ["strong"], ""),
        ("`x`", ["code", "strong"], ""),
    ]
    kwargs = quote(passage, "Pass **kwargs on.", mark(passage, "**kwargs", "code"))
    # `**` inside code inside bold would end the bold: the code is shown outside the bold instead.
    assert runs(render_discord.quote_block(kwargs))[1:4] == [
        ("Pass ", ["strong"], ""), ("**kwargs", ["code"], ""), (" on.", ["strong"], ""),
    ]
    literal = quote(passage, "Then [t](u) is literal.", mark(passage, "[t](u)", "code"))
    assert ("Then [t](u) is literal.", ["strong"], "") in runs(render_discord.quote_block(literal))


def test_every_line_of_a_list_stays_in_the_quote() -> None:
    passage = "# Install it first\n> then run it\n- remove the cache @everyone\n1. restart\r\nDone."
    q = quote(passage, "- remove the cache @everyone", mark(passage, "cache", "code"))
    block = render_discord.quote_block(q)
    assert block.count("\n") == 4 and all(line.startswith("> ") for line in block.split("\n"))
    assert "".join(r[0] for r in runs(block)) == passage.replace("\r", "")
    assert ("- remove the ", ["strong"], "") in runs(block)
    assert "@everyone" not in block


def test_a_quote_with_many_long_links_still_fits_with_its_attribution() -> None:
    words = [f"word{n}" for n in range(400)]
    passage = " ".join(words) + "."
    links = [mark(passage, f"{w}{' ' if n < 399 else '.'}", "link", f"https://example.org/{'p' * 400}/{w}")
             for n, w in enumerate(words)]
    q = quote(passage, passage[passage.index("word300") :], *links, section=("Guide", "S" * 500),
              title="T" * 500, source="d/" * 300, url="https://example.org/" + "u" * 450, date="2024-05-01")
    block = render_discord.quote_block(q)  # the links would not fit: the text is kept, the links dropped
    assert len(block) <= render_discord.QUOTE_MARKDOWN and "word399.**" in block and "](" not in block
    assert "](" in render_discord.quote_block(replace(q, marks=q.marks[398:]))  # two fit
    assert len(render_discord.attribution(q)) <= render_discord.ATTRIBUTION_MARKDOWN
    embed = render_discord.answer_embed(Answer("q?", (q, q, q)))
    assert render_discord.embed_fits(embed)
    assert (embed.description or "").endswith(render_discord.attribution(q))  # one whole quote, not cut


def test_attribution_names_title_section_file_link_page_and_date() -> None:
    q = quote(PASSAGE, "Call on_message() to read every message.", section=("Guide", "Install", "Linux"),
              url="https://docs.example.org/guide#linux", date="2024-05-01")
    assert render_discord.attribution(q) == (
        "— *Guide › Install › Linux* · docs/guide.md · [link](https://docs.example.org/guide#linux) · 2024-05-01"
    )
    assert render_text.attribution(q) == "“Guide › Install › Linux” — docs/guide.md, 2024-05-01"
    # The path need not start with the title; a relative or non-http link is not offered.
    other = replace(q, section=("Install",), url="/guide#linux", date=None)
    assert render_discord.attribution(other) == "— *Guide › Install* · docs/guide.md"
    assert render_discord.attribution(replace(other, url="javascript:alert(1)")) == render_discord.attribution(other)
    # A PDF quote gives its page; only a quote with neither section nor page gives its paragraph.
    pdf = replace(q, section=(), page=3, url=None, source="manual.pdf")
    assert render_discord.attribution(pdf) == "— *Guide* · manual.pdf · p. 3 · 2024-05-01"
    assert render_text.attribution(pdf) == "“Guide” — manual.pdf, p. 3, 2024-05-01"
    txt = replace(pdf, page=None, source="notes_1.txt")
    assert render_discord.attribution(txt) == "— *Guide* · notes\\_1.txt · ¶4 · 2024-05-01"
    assert render_text.attribution(txt) == "“Guide” — notes_1.txt, ¶4, 2024-05-01"


def test_attribution_text_from_documents_is_inert() -> None:
    q = quote(PASSAGE, "Call on_message() to read every message.", title="*Rate* `Limits` @everyone",
              section=("*Rate* `Limits` @everyone", "[x](https://evil.example) ||s||"), source="a_*b*.md",
              url="https://docs.example.org/a (b)*c*", date="2024-05-01")
    line = render_discord.attribution(q)
    [block] = read(line)
    shown = styled(block.nodes)
    assert {s for c in shown for s in c.styles} == {"em", "link"}
    assert {c.target for c in shown if "link" in c.styles} == {  # a whole bare url stays clickable, as written
        "https://evil.example", "https://docs.example.org/a%20%28b%29%2Ac%2A"}
    assert plain(shown) == ("— *Rate* `Limits` @everyone › [x](https://evil.example) ||s|| · a_*b*.md · link"
                            " · 2024-05-01")


def test_attribution_fits_its_share_of_the_description_whatever_it_names() -> None:
    q = quote(PASSAGE, "Call on_message() to read every message.", title="*" * 900, section=("_" * 900,) * 9,
              source="@here" * 300, url="https://x.io/" + "(" * 166, date="|" * 900)
    assert len(render_discord.attribution(q)) <= render_discord.ATTRIBUTION_MARKDOWN
    assert "](" in render_discord.attribution(q) and "](" not in render_discord.attribution(
        replace(q, url=q.url + "(")), "a link longer than 512 characters once encoded is left out"


def test_a_summary_sentence_over_several_lines_stays_in_its_quote() -> None:
    sentence = SummarySentence("run it\n# then\n> restart @everyone", "a.md", "A", 2, None)
    embed = render_discord.summary_embed(Summary("document", "A", (sentence,)))
    lines = (embed.description or "").split("\n")
    assert [line[:2] for line in lines] == ["> ", "> ", "> ", "— "]
    [quoted, _] = read(embed.description or "")
    assert plain(styled(quoted.nodes)) == "run it\n# then\n> restart @everyone" and not quoted.block_markup


def test_the_terminal_shows_the_same_quote_plainly() -> None:
    passage = "Steps:\nrun `make`\nthen **restart** it"
    q = quote(passage, "run `make`\nthen **restart** it", mark(passage, "make", "code"), section=("Guide", "Steps"),
              url="https://docs.example.org/guide#steps", date="2024-05-01")
    text = render_text.answer_text(Answer("How?", (q, replace(q, section=(), url=None, title="Notes\x1b[31m"))))
    assert text.splitlines() == [
        "1. “run `make`", "   then **restart** it”",
        "   “Guide › Steps” — docs/guide.md, 2024-05-01  (score 1.00)", "   https://docs.example.org/guide#steps",
        "", "2. “run `make`", "   then **restart** it”", "   “Notes[31m” — docs/guide.md, ¶4, 2024-05-01  (score 1.00)",
    ]
    [first, second] = render_text.answer_json(Answer("How?", (q, replace(q, page=2, kind="list"))))["quotes"]
    assert {"text", "source", "title", "paragraph", "date", "score", "passage", "start"} < set(first)
    assert (first["section"], first["anchor"], first["url"], first["page"], first["kind"]) == (
        ["Guide", "Steps"], "", "https://docs.example.org/guide#steps", None, "prose")
    assert (second["page"], second["kind"]) == (2, "list")
