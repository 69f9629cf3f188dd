"""Rendering for the terminal: plain text for people, JSON objects for programs."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Any

from retrieval.errors import UnknownDocumentError
from retrieval.model import Answer, Quote, Summary
from retrieval.reindex import ReindexReport

from .question_log import Stats
from .service import SourceInfo

NOT_FOUND = "I could not find that in the documents."
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plural(n: int, word: str) -> str:
    """“1 passage”, “2 passages”, “1,024 passages”."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def attribution(q: Quote) -> str:
    """“Title › Section” — path, p. N (or ¶N), date: where a quote comes from, in words."""
    where = f", p. {q.page}" if q.page is not None else "" if q.section else f", ¶{q.paragraph}"
    date = f", {q.date}" if q.date else ""
    return plain(f"“{place(q)}” — {q.source}{where}{date}")


def place(q: Quote) -> str:
    """Title › Section › Sub: the section path after the title, without repeating the title."""
    title = " ".join(q.title.split())
    path = [" ".join(h.split()) for h in q.section]
    if path and path[0] == title:
        path = path[1:]
    return " › ".join(h for h in [title, *path] if h)


def plain(text: str) -> str:
    """Text safe for a terminal: control characters (escape sequences among them) dropped, but newlines."""
    return _CONTROL.sub("", text)


def searched_for(answer: Answer, emphasis: str = "*") -> str:
    """“searched for: *permissions*, *guild*” when question words were read as typos, else ""."""
    if not answer.corrected:
        return ""
    return "searched for: " + ", ".join(f"{emphasis}{meant}{emphasis}" for _, meant in answer.corrected)


def answer_text(answer: Answer) -> str:
    """An answer as terminal text: each quote, then where it comes from (and its link, when known)."""
    correction = searched_for(answer)
    head = f"({correction})\n" if correction else ""
    if not answer.answered:
        lines = [head + NOT_FOUND]
        if answer.closest:
            lines.append("The closest documents are: " + "; ".join(f"“{t}”" for t in answer.closest) + ".")
        return plain("\n".join(lines))
    blocks = []
    for n, q in enumerate(answer.quotes, start=1):
        lines = [line for line in plain(q.text).split("\n") if line.strip()] or [""]
        first = textwrap.fill(lines[0], width=88, initial_indent=f"{n}. “", subsequent_indent="   ")
        rest = (textwrap.fill(line, width=88, initial_indent="   ", subsequent_indent="   ") for line in lines[1:])
        quote = "\n".join([first, *rest]) + "”"
        link = f"\n   {plain(q.url)}" if q.url else ""
        blocks.append(f"{quote}\n   {attribution(q)}  (score {q.score:.2f}){link}")
    return head + "\n\n".join(blocks)


def answer_json(answer: Answer) -> dict[str, Any]:
    """An answer as a JSON-ready object."""
    return {
        "question": answer.question,
        "answered": answer.answered,
        "context_used": answer.context_used,
        "quotes": [
            {
                "text": q.text, "source": q.source, "title": q.title, "paragraph": q.paragraph, "date": q.date,
                "score": round(q.score, 4), "passage": q.passage, "start": q.start,
                "section": list(q.section), "anchor": q.anchor, "url": q.url, "page": q.page, "kind": q.kind,
            }
            for q in answer.quotes
        ],
        "closest": list(answer.closest),
        "corrected": [{"typed": typed, "searched": meant} for typed, meant in answer.corrected],
    }


def sources_text(sources: Sequence[SourceInfo]) -> str:
    """The indexed documents, one a line."""
    if not sources:
        return "No documents are indexed."
    lines = [f"{plural(len(sources), 'document')}, {plural(sum(s.passages for s in sources), 'passage')}:"]
    lines += [f"- {s.id}  “{s.title}”  {s.date or 'no date'}  ({plural(s.passages, 'passage')})" for s in sources]
    return "\n".join(lines)


def sources_json(sources: Sequence[SourceInfo]) -> dict[str, Any]:
    """The indexed documents as a JSON-ready object."""
    return {"documents": [{"id": s.id, "title": s.title, "date": s.date, "passages": s.passages} for s in sources]}


def report_text(report: ReindexReport) -> str:
    """A reindex report for people."""
    lines = [
        f"Reindexed in {report.seconds:.2f}s: {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged, {len(report.skipped)} skipped; "
        f"{plural(report.passages, 'passage')}."
    ]
    for label, names in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        lines += [f"  {label}: {n}" for n in names]
    lines += [f"  skipped: {s.name} — {s.reason}" for s in report.skipped]
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def report_json(report: ReindexReport) -> dict[str, Any]:
    """A reindex report as a JSON-ready object."""
    return {
        "added": list(report.added), "changed": list(report.changed), "removed": list(report.removed),
        "unchanged": list(report.unchanged),
        "skipped": [{"name": s.name, "reason": s.reason} for s in report.skipped],
        "passages": report.passages, "seconds": round(report.seconds, 3), "warnings": list(report.warnings),
    }


def stats_json(stats: Stats) -> dict[str, Any]:
    """Question-log statistics as a JSON-ready object."""
    return {
        "questions": stats.questions, "answered": stats.answered,
        "top_unanswered": [{"question": q, "count": n} for q, n in stats.top_unanswered],
        "thumbs_up": stats.thumbs_up, "thumbs_down": stats.thumbs_down, "problems": list(stats.problems),
    }


def summary_text(summary: Summary) -> str:
    """A summary for people: each sentence with its source."""
    if not summary.sentences:
        return empty_summary(summary)
    lines = []
    for s in summary.sentences:
        also = f" (also in {', '.join(s.also_in)})" if s.also_in else ""
        lines.append(textwrap.fill(s.text, width=88, initial_indent="• ", subsequent_indent="  "))
        lines.append(f"  — {s.source}, ¶{s.paragraph}{also}")
    return "\n".join(lines)


def empty_summary(summary: Summary) -> str:
    """Why a summary has no sentences, in words that fit its kind."""
    if summary.kind == "topic":
        return f"The documents say nothing about “{summary.subject}”."
    if summary.kind == "document":
        return f"“{summary.subject}” has no sentences to summarise."
    return "Nothing to summarise: no documents are indexed."


def summary_json(summary: Summary) -> dict[str, Any]:
    """A summary as a JSON-ready object."""
    return {
        "kind": summary.kind, "subject": summary.subject,
        "sentences": [
            {"text": s.text, "source": s.source, "title": s.title, "paragraph": s.paragraph, "date": s.date,
             "also_in": list(s.also_in)}
            for s in summary.sentences
        ],
    }


def unknown_document(exc: UnknownDocumentError, sources: Sequence[SourceInfo], limit: int = 100) -> str:
    """An unknown document id, with the closest documents' ids and titles, or where to find the ids."""
    name = exc.name if len(exc.name) <= limit else exc.name[: limit - 1] + "…"
    titles = {s.id: s.title for s in sources}
    if exc.closest:
        named = " or ".join(f"{i} (“{titles[i]}”)" if i in titles else i for i in exc.closest)
        return f"No indexed document is called {name!r}. Did you mean {named}?"
    return f"No indexed document is called {name!r}; `qa-bot sources` lists them."
