"""The renderers' words: counts, unknown documents and empty summaries, in the terminal and on Discord."""

from __future__ import annotations

from bot import render_discord, render_text
from bot.service import SourceInfo
from retrieval.errors import UnknownDocumentError
from retrieval.model import Summary
from retrieval.reindex import ReindexReport

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
