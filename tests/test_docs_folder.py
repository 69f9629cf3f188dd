"""A documentation folder of every format, through the service: read, reported, listed, answered, linked."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from bot.service import QAService

MARKDOWN = """---
title: Rate Limits
description: How often a bot may call the API.
---
import {ManualAnchor} from '/snippets/manualanchor.jsx'

<ManualAnchor id="limits" />

## Invalid Request Limit aka Cloudflare bans { #invalid-requests }

This limit is 10,000 per 10 minutes for each IP address.

| Field | Type | Description |
| --- | --- | --- |
| title | string | max 45 characters |
| custom_id | string | max 100 characters |
"""

RST = """.. _intents_primer:

A Primer to Gateway Intents
===========================

Privileged Intents
------------------

Bots in over 100 guilds need verification before :attr:`~Intents.members` can be enabled.

.. versionadded:: 1.5
"""

HTML = """<html><head><title>Site — Webhooks</title></head><body>
<nav><a href="/">Home</a> Menu entries nobody asked about</nav>
<main><h1>Webhooks</h1><h2 id="retries">Retries</h2>
<p>A failed webhook delivery is retried up to 5 times over 24 hours.</p></main>
<footer>Copyright footer text</footer></body></html>
"""


def two_page_pdf() -> bytes:
    """A PDF whose second page holds the answer."""
    pdf = FPDF()
    pdf.set_title("Operations Handbook")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Backups are described on the next page.")
    pdf.add_page()
    pdf.multi_cell(0, 8, "Nightly backups are kept for 30 days in cold storage.")
    return bytes(pdf.output())


async def test_a_docs_folder_of_every_format_is_read_listed_and_answered(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "api").mkdir(parents=True)
    (docs / "api" / "rate-limits.mdx").write_text(MARKDOWN)
    (docs / "intents.rst").write_text(RST)
    (docs / "webhooks.html").write_text(HTML)
    (docs / "handbook.pdf").write_bytes(two_page_pdf())
    (docs / "LICENSE").write_text("MIT")
    (docs / "diagram.svg").write_text("<svg/>")
    service = await QAService.open(tmp_path / "qa.sqlite3", docs,
                                   source_url="https://docs.example.org/{path_without_suffix}/#{anchor}")
    try:
        report = await service.reindex()  # nothing changed since the first start: the report lists the skips
        assert {(s.name, s.reason) for s in report.skipped} == {("LICENSE", "unsupported type"),
                                                               ("diagram.svg", "unsupported type")}
        titles = {s.id: s.title for s in service.sources()}
        assert titles == {"api/rate-limits.mdx": "Rate Limits", "intents.rst": "A Primer to Gateway Intents",
                          "webhooks.html": "Webhooks", "handbook.pdf": "Operations Handbook"}

        limit = (await service.ask("What is the invalid request limit?")).answer.quotes[0]
        assert limit.text == "This limit is 10,000 per 10 minutes for each IP address."
        assert limit.section[-1] == "Invalid Request Limit aka Cloudflare bans"
        assert limit.url == "https://docs.example.org/api/rate-limits/#invalid-requests"

        row = (await service.ask("how many characters max for a custom_id?")).answer.quotes[0]
        assert row.text == "Field: custom_id · Type: string · Description: max 100 characters"

        intents = (await service.ask("how many guilds before bot verification for privileged intents")).answer
        assert "over 100 guilds need verification before members can be enabled" in intents.quotes[0].text
        assert intents.quotes[0].anchor == "privileged-intents"

        webhook = (await service.ask("how many times is a failed webhook retried?")).answer.quotes[0]
        assert webhook.text.startswith("A failed webhook delivery is retried up to 5 times")
        assert webhook.url == "https://docs.example.org/webhooks/#retries"
        assert not (await service.ask("what is in the copyright footer menu?")).answer.answered

        backup = (await service.ask("How long are nightly backups kept?")).answer.quotes[0]
        assert backup.page == 2 and "30 days" in backup.text

        summary = await service.summary(document="Rate Limits")
        assert summary.sentences and all("import" not in s.text and "Field:" not in s.text
                                         for s in summary.sentences)
    finally:
        await service.close()
