"""Rendering for Discord: answers, sources, reports and summaries as embeds within Discord's limits.

Every limit lives here. Text from documents and users is escaped (discord_markdown.py) so that it can
neither ping anyone, nor format anything, nor break out of its quote; a quote's own inline formatting
(code, emphasis, bold, absolute links) is written as Discord formatting (discord_quote.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from retrieval.errors import UnknownDocumentError
from retrieval.model import Answer, Quote, Summary
from retrieval.reindex import ReindexReport

from . import discord_markdown as markdown
from . import discord_quote as layout
from .question_log import Stats
from .render_text import empty_summary, plural, unknown_document
from .render_text import place as render_place
from .service import Erased, SourceInfo

EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FOOTER = 2048
EMBED_TOTAL = 6000
MESSAGE_CONTENT = 2000
QUOTE_CHARS = 1200  # one quote's share of the description: three fit with room for attribution
ATTRIBUTION_MARKDOWN = 1500  # title and sections 200, file 200, date 40 (each at most doubled) and a link
QUOTE_MARKDOWN = EMBED_DESCRIPTION - ATTRIBUTION_MARKDOWN  # one quote and its attribution always fit
SOURCES_PER_PAGE = 15
COLOUR = discord.Colour.blurple()
NOT_FOUND_COLOUR = discord.Colour.light_grey()


def internal_error(reference: str) -> str:
    """The apology for a failure on the bot's side, with the reference that finds it in the log."""
    return (f"Sorry, something went wrong on my side. Please try again later; if it keeps happening, "
            f"tell the bot's operator this reference: {reference}.")


def forgotten_text(erased: Erased, log_days: int) -> str:
    """The confirmation of /forget-me."""
    kept = (f"Questions you ask from now on are kept {plural(log_days, 'day')}, then made anonymous."
            if log_days else "Questions are never stored with who asked them.")
    return (f"Done: I erased {plural(erased.questions, 'question')} you asked (only the counts remain) "
            f"and {plural(erased.votes, 'feedback vote')}, and forgot our conversation. {kept}")


def error_message(text: str) -> str:
    """A one-line error for the user: escaped, and within a message's 2000 characters."""
    return shorten(clean(text), MESSAGE_CONTENT)


def clean(text: str) -> str:
    """Text made inert: every character Discord's markdown acts on escaped (masked links, emphasis, code,
    spoilers, headings, lists and quotes where a line starts), mentions of users, roles, channels and
    @everyone/@here defused with a zero-width space (AllowedMentions.none() already stops pings); whole
    http(s) links stay clickable as `<url>`."""
    return markdown.clean(text)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)].rsplit(" ", 1)[0]
    return (cut if cut else text[: max(limit - 1, 0)]) + "…"


def quote_block(q: Quote, limit: int = QUOTE_CHARS) -> str:
    """The passage as a block quote, the answering sentences in bold, trimmed around them, its inline
    formatting (code, emphasis, bold, absolute links) shown as Discord formatting and all else escaped.
    `limit` counts the characters shown; the markdown stays within QUOTE_MARKDOWN."""
    links = True
    while True:
        lines = layout.lines(q, limit, links)
        block = "\n".join(f"> {line}" for line in lines) or "> …"
        if len(block) <= QUOTE_MARKDOWN or limit <= 40:
            return block
        if links:  # many long links crowd out the text: drop them first, then show less
            links = False
        else:
            limit //= 2


def attribution(q: Quote) -> str:
    """— *Title › Section › Sub* · path/to/file.md · [link](url) · p. N (or ¶N) · date"""
    place = shorten(render_place(q), 200)
    parts = [f"*{clean(place)}*" if place else "", clean(shorten(" ".join(q.source.split()), 200))]
    target = markdown.href(q.url) if q.url else None
    if target:
        parts.append(f"[link]({target})")
    if q.page is not None:
        parts.append(f"p. {q.page}")
    elif not q.section:
        parts.append(f"¶{q.paragraph}")
    if q.date:
        parts.append(clean(shorten(" ".join(q.date.split()), 40)))
    return "— " + " · ".join(p for p in parts if p)


def answer_embed(answer: Answer) -> discord.Embed:
    """One embed: each quote a block quote with its attribution, or a helpful not-found."""
    title = shorten(clean(answer.question), EMBED_TITLE)  # escaping lengthens: shorten after it
    correction = correction_line(answer)
    if not answer.answered:
        text = correction + "I couldn't find that in the documents."
        if answer.closest:
            closest = (f"• *{clean(shorten(t, 200))}*" for t in answer.closest)
            text += "\nThe closest documents are:\n" + "\n".join(closest)
        text += "\n\nTry other words, or `/sources` to see what I know."
        return discord.Embed(title=title, description=text, colour=NOT_FOUND_COLOUR)
    blocks = [f"{quote_block(q)}\n{attribution(q)}" for q in answer.quotes]
    description = correction + "\n\n".join(blocks)
    while len(description) > EMBED_DESCRIPTION and len(blocks) > 1:  # never reject: drop the weakest quote
        blocks.pop()
        description = correction + "\n\n".join(blocks)
    embed = discord.Embed(title=title, description=shorten(description, EMBED_DESCRIPTION), colour=COLOUR)
    footer = "Quoted verbatim from the documents."
    if answer.context_used:
        footer += " Follow-up: read with your previous question."
    return embed.set_footer(text=footer)


def correction_line(answer: Answer) -> str:
    """“Searched for: *permissions*” and a blank line when question words were read as typos, else ""."""
    if not answer.corrected:
        return ""
    words = ", ".join(f"*{clean(shorten(meant, 60))}*" for _, meant in answer.corrected[:10])
    return f"Searched for: {words}\n\n"


def sources_embed(sources: Sequence[SourceInfo], page: int) -> tuple[discord.Embed, int]:
    """One page of the indexed documents, and the number of pages."""
    pages = max(1, -(-len(sources) // SOURCES_PER_PAGE))
    page = min(max(page, 1), pages)
    chunk = sources[(page - 1) * SOURCES_PER_PAGE : page * SOURCES_PER_PAGE]
    lines = [
        f"**{clean(shorten(s.title, 150))}**\n{clean(s.id)} · {s.date or 'no date'} · {plural(s.passages, 'passage')}"
        for s in chunk
    ]
    total = sum(s.passages for s in sources)
    embed = discord.Embed(
        title=f"{plural(len(sources), 'document')}, {plural(total, 'passage')}",
        description=shorten("\n".join(lines) or "No documents are indexed.", EMBED_DESCRIPTION),
        colour=COLOUR,
    )
    if pages > 1:
        embed.set_footer(text=f"Page {page} of {pages} — /sources page:{min(page + 1, pages)} for more")
    return embed, pages


def report_embed(report: ReindexReport) -> discord.Embed:
    """A reindex report."""
    embed = discord.Embed(
        title="Reindex finished",
        description=(
            f"{len(report.added)} added · {len(report.changed)} changed · {len(report.removed)} removed · "
            f"{len(report.unchanged)} unchanged · {len(report.skipped)} skipped\n"
            f"{plural(report.passages, 'passage')} in {report.seconds:.2f}s"
        ),
        colour=discord.Colour.green(),
    )
    for label, names in (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed)):
        if names:
            embed.add_field(name=label, value=_listing(names), inline=False)
    if report.skipped:
        embed.add_field(
            name="Skipped", value=_listing([f"{s.name} — {s.reason}" for s in report.skipped]), inline=False
        )
    if report.warnings:
        embed.colour = discord.Colour.orange()
        embed.add_field(name="⚠️ Warning", value=_listing(report.warnings), inline=False)
    return embed


def _listing(items: Sequence[str], limit: int = 1024) -> str:
    """Items one a line, within an embed field's 1024 characters."""
    lines: list[str] = []
    for n, item in enumerate(items):
        line = clean(shorten(item, 200))
        rest = len(items) - n
        if sum(len(x) + 1 for x in lines) + len(line) + 20 > limit:
            lines.append(f"… and {rest} more")
            break
        lines.append(line)
    return "\n".join(lines)


def stats_embed(stats: Stats) -> discord.Embed:
    """Question-log statistics."""
    share = f"{stats.answered / stats.questions:.0%}" if stats.questions else "—"
    embed = discord.Embed(
        title="Question statistics",
        description=(
            f"{stats.questions:,} questions asked, {stats.answered:,} answered ({share}).\n"
            f"Feedback: 👍 {stats.thumbs_up} · 👎 {stats.thumbs_down}"
        ),
        colour=COLOUR,
    )
    if stats.top_unanswered:
        embed.add_field(
            name="Most frequent unanswered",
            value=_listing([f"{n}× {q}" for q, n in stats.top_unanswered]),
            inline=False,
        )
    if stats.problems:
        embed.add_field(name="⚠️ Needs attention", value=_listing(stats.problems), inline=False)
    return embed


def summary_embed(summary: Summary) -> discord.Embed:
    """A summary: each sentence quoted with its source."""
    title = {"document": "Summary of", "topic": "What the documents say about", "collection": "Summary of"}
    heading = shorten(clean(f"{title.get(summary.kind, 'Summary of')} {summary.subject}"), EMBED_TITLE)
    if not summary.sentences:
        return discord.Embed(title=heading, description=clean(shorten(empty_summary(summary), 1000)),
                             colour=NOT_FOUND_COLOUR)
    blocks = []
    for s in summary.sentences:
        also = f" (also in {clean(', '.join(s.also_in))})" if s.also_in else ""
        quoted = "\n".join(f"> {line}" for line in clean(shorten(s.text, 900)).split("\n") if line.strip())
        blocks.append(f"{quoted}\n— {clean(s.source)} · ¶{s.paragraph}{also}")
    while len("\n".join(blocks)) > EMBED_DESCRIPTION and len(blocks) > 1:
        blocks.pop()
    return discord.Embed(title=heading, description=shorten("\n".join(blocks), EMBED_DESCRIPTION),
                         colour=COLOUR)


def unknown_document_text(exc: UnknownDocumentError, sources: Sequence[SourceInfo]) -> str:
    """An unknown document, with the closest titles and ids (plain text: the caller escapes it)."""
    return unknown_document(exc, sources).replace("`qa-bot sources`", "/sources")


HELP_TEXT = (
    "I answer questions about this server's documents by **quoting** them — every answer is the documents' "
    "own words, with the document, paragraph and date. When the documents don't say, I tell you so.\n\n"
    "**Ask**\n"
    "• `/ask question:` — add `private:True` to see the answer alone\n"
    "• mention me with a question, or write to me in a DM\n"
    "• follow-ups like *what did he say about it?* keep the context for a few minutes\n\n"
    "**Explore**\n"
    "• `/sources` — the documents I know\n"
    "• `/summary` — the whole collection, `document:` one document, or `topic:` a subject\n\n"
    "**Your data**\n"
    "• `/forget-me` — erase the questions and feedback I keep about you\n\n"
    "**Admins**\n"
    "• `/documents add|remove|list` — give this server its own documents (Manage Server)\n"
    "• `/reindex` — re-read this server's documents\n"
    "• `/stats` — questions asked, answered, and your 👍/👎 feedback"
)


def help_embed() -> discord.Embed:
    """What the bot does and how to use it."""
    return discord.Embed(title="How to use me", description=HELP_TEXT, colour=COLOUR)


def embed_fits(embed: discord.Embed) -> bool:
    """Whether an embed is within every Discord limit (used by tests and as a last guard)."""
    return (
        len(embed) <= EMBED_TOTAL
        and len(embed.title or "") <= EMBED_TITLE
        and len(embed.description or "") <= EMBED_DESCRIPTION
        and len(embed.fields) <= 25
        and all(len(f.name or "") <= 256 and len(f.value or "") <= 1024 for f in embed.fields)
        and len(embed.footer.text or "") <= EMBED_FOOTER
    )
