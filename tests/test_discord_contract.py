"""What the bot sends Discord stays within Discord's limits: command definitions and embeds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import render_discord as render
from bot.config import Settings
from bot.discord_client import QABot
from bot.question_log import Stats
from bot.service import QAService, SourceInfo
from retrieval.model import Answer, Quote, Summary, SummarySentence
from retrieval.reindex import ReindexReport

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
NAME = re.compile(r"^[-_\w]{1,32}$")


@pytest.fixture
async def payloads(tmp_path: Path) -> list[dict[str, Any]]:
    """The JSON that a sync would send, built from the real command tree."""
    service = await QAService.open(tmp_path / "qa.sqlite3", SEEDS)
    try:
        bot = QABot(service, Settings())
        return [c.to_dict(bot.tree) for c in bot.tree.get_commands()]
    finally:
        await service.close()


def walk_options(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every option, sub-options included."""
    found = []
    for option in options:
        found.append(option)
        found += walk_options(option.get("options", []))
    return found


async def test_every_command_is_within_discords_limits(payloads: list[dict[str, Any]]) -> None:
    assert len(payloads) <= 100
    for command in payloads:
        assert NAME.match(command["name"]) and command["name"] == command["name"].lower(), command["name"]
        assert 1 <= len(command["description"]) <= 100, command["name"]
        options = command.get("options", [])
        assert len(options) <= 25
        for option in walk_options(options):
            assert NAME.match(option["name"]) and option["name"] == option["name"].lower()
            assert 1 <= len(option["description"]) <= 100, (command["name"], option["name"])
            choices = option.get("choices", [])
            assert len(choices) <= 25
            assert all(1 <= len(c["name"]) <= 100 for c in choices)


async def test_admin_commands_carry_admin_default_permissions(payloads: list[dict[str, Any]]) -> None:
    by_name = {c["name"]: c for c in payloads}
    for name in ("reindex", "stats"):
        assert int(by_name[name]["default_member_permissions"]) == 1 << 5  # Manage Server
    for name in ("ask", "sources", "help"):
        assert by_name[name].get("default_member_permissions") is None


async def test_documents_is_a_guild_only_admin_group_taking_attachments(payloads: list[dict[str, Any]]) -> None:
    documents = next(c for c in payloads if c["name"] == "documents")
    assert int(documents["default_member_permissions"]) == 1 << 5 and documents["dm_permission"] is False
    subcommands = {o["name"]: o for o in documents["options"]}
    assert set(subcommands) == {"add", "remove", "list"} and all(o["type"] == 1 for o in subcommands.values())
    add = {o["name"]: (o["type"], o.get("required", False)) for o in subcommands["add"]["options"]}
    assert add == {"file": (11, True), "file2": (11, False), "file3": (11, False), "copy_default": (5, False)}
    assert subcommands["remove"]["options"][0]["autocomplete"] is True


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=6000)


@st.composite
def quotes(draw: st.DrawFn) -> Quote:
    """A quote with arbitrary (hostile) text inside an arbitrary passage."""
    before, sentence, after = draw(text), draw(text.filter(bool)), draw(text)
    passage = before + sentence + after
    return Quote(sentence, passage, len(before), draw(text.filter(bool)), draw(text), draw(st.integers(1, 10**6)),
                 draw(st.none() | st.just("2025-02-04")), draw(st.floats(0, 10)))


@settings(max_examples=60, deadline=None)
@given(question=text, found=st.lists(quotes(), max_size=3), closest=st.lists(text, max_size=3), follow=st.booleans())
def test_answer_embeds_always_fit_and_never_ping(question: str, found: list[Quote], closest: list[str],
                                                 follow: bool) -> None:
    embed = render.answer_embed(Answer(question, tuple(found), tuple(closest), follow))
    assert render.embed_fits(embed)
    body = (embed.title or "") + (embed.description or "")
    assert "@everyone" not in body and "@here" not in body
    assert not re.search(r"<@[!&]?\d+>", body)


@settings(max_examples=30, deadline=None)
@given(names=st.lists(text, max_size=60), reasons=st.lists(text, max_size=60))
def test_report_and_listing_embeds_fit(names: list[str], reasons: list[str]) -> None:
    from retrieval.model import Skipped

    report = ReindexReport(tuple(names), tuple(names), tuple(names), (), tuple(Skipped(n, r) for n, r in
                                                                              zip(names, reasons, strict=False)))
    assert render.embed_fits(render.report_embed(report))
    sources = [SourceInfo(n, n * 3, None, 5) for n in names]
    for page in (1, 2, 99):
        assert render.embed_fits(render.sources_embed(sources, page)[0])
    stats = Stats(10, 5, tuple((n, 3) for n in names[:5]), 1, 2)
    assert render.embed_fits(render.stats_embed(stats))


@settings(max_examples=30, deadline=None)
@given(sentences=st.lists(st.tuples(text.filter(bool), text, st.lists(text, max_size=4)), max_size=15),
       subject=text)
def test_summary_embeds_fit(sentences: list[tuple[str, str, list[str]]], subject: str) -> None:
    summary = Summary("topic", subject, tuple(SummarySentence(t, s or "x", "T", 1, None, tuple(a))
                                                for t, s, a in sentences))
    assert render.embed_fits(render.summary_embed(summary))


def test_help_fits() -> None:
    assert render.embed_fits(render.help_embed())


@pytest.mark.parametrize("question", ["*" * 6000, "`" * 300, "@everyone " * 600, "<@&1234567890> " * 400])
def test_escaping_never_pushes_an_embed_over_its_limits(question: str) -> None:
    passage = question + " The answer is here."
    quote = Quote(passage, passage, 0, "a" * 255 + ".txt", question, 1, None, 1.0)
    for answer in (Answer(question, (quote,) * 3), Answer(question, (), (question,) * 3)):
        embed = render.answer_embed(answer)
        assert render.embed_fits(embed)
        assert "@everyone" not in (embed.description or "") and "<@&" not in (embed.description or "")
