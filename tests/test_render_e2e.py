"""A document whose text looks like markdown, end to end: the real bot sends it to the fake Discord with
nothing live (read back with the model of Discord's markdown), and `qa-bot ask` prints it as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.service import QAService
from tests.support.bots import TestBot, settings_for
from tests.support.discord_markdown_model import plain, read, styled
from tests.support.fake_discord import FakeDiscord, run_bot
from tests.support.processes import qa_bot

ANSWER = "> The **turbo** flag sets the `widget_size` option."
REST = "See [a](/a) for **x** and `y` then [b](/b), @everyone."
NOTES = f"Turbo flag notes\n\n{ANSWER} {REST}\n\nThe harbour ferry leaves at noon.\n"
QUESTION = "What does the turbo flag set?"
PING = re.compile(r"@everyone|@here|<@[!&]?\d+>")


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A folder with one plain-text document full of markdown-looking characters."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text(NOTES, encoding="utf-8")
    return folder


async def test_markdown_in_a_document_reaches_discord_as_written(
    fake: FakeDiscord, notes: Path, tmp_path: Path
) -> None:
    service = await QAService.open(tmp_path / "qa.sqlite3", notes)
    try:
        async with run_bot(TestBot(service, settings_for(fake), guild_ready_timeout=0.1), timeout=10):
            reply = await fake.wait_for_reply(await fake.send_interaction("ask", {"question": QUESTION}))
    finally:
        await service.close()
    [embed] = reply.embeds
    first = embed["description"].split("\n\n")[0]
    assert first.startswith("> ") and "\\*\\*turbo\\*\\*" in first, first
    [quote, attribution] = read(first)
    assert quote.quote and not quote.block_markup and not attribution.quote
    shown = styled(quote.nodes)
    assert plain(shown) == f"{ANSWER} {REST}"  # every character as the document has it
    bold = "".join(c.char for c in shown if c.styles)
    assert {s for c in shown for s in c.styles} == {"strong"} and bold == ANSWER  # only the answer is bold
    assert plain(styled(attribution.nodes)) == "— Turbo flag notes · notes.txt · ¶2"
    assert not PING.search(embed["description"])
    assert reply.allowed_mentions is not None and reply.allowed_mentions.get("parse") == []


def test_the_terminal_prints_the_document_text_as_written(notes: Path, tmp_path: Path) -> None:
    result = qa_bot(tmp_path, "ask", QUESTION, "--docs", str(notes), "--db", str(tmp_path / "db" / "qa.sqlite3"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"1. “{ANSWER}”", lines  # no backslash, nothing dropped
    assert re.fullmatch(r"   “Turbo flag notes” — notes\.txt, ¶2  \(score \d+\.\d\d\)", lines[1]), lines
