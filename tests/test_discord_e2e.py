"""The real bot (discord.py) end to end against the fake Discord on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from fake_discord import FakeDiscord, SentMessage, run_bot
from fake_discord_payloads import ADMIN, ALICE, BOB, OTHER_BOT

from bot.config import Settings
from bot.discord_client import QABot
from bot.service import QAService

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
EVERYONE_DOC = "Security notice\n\nThe drill is at noon, @everyone must attend, and <@&123> leads it.\n"


class TestBot(QABot):
    """The real bot with discord.py's 5-second pause before re-identifying removed."""

    __test__ = False

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No pacing against the fake."""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """The seeds plus a document that tries to ping everyone."""
    folder = tmp_path / "docs"
    shutil.copytree(SEEDS, folder)
    (folder / "notice.txt").write_text(EVERYONE_DOC, encoding="utf-8")
    return folder


@pytest.fixture
async def service(docs: Path, tmp_path: Path) -> AsyncIterator[QAService]:
    """A real service over a real SQLite file."""
    svc = await QAService.open(tmp_path / "db" / "qa.sqlite3", docs)
    yield svc
    await svc.close()


def settings_for(fake: FakeDiscord) -> Settings:
    """Settings as a server admin would write them, aimed at the fake."""
    return Settings(token="fake-token", dev_guild=fake.guild.id, cooldown_seconds=0, api_base=fake.api_base,
                    gateway_url=fake.gateway_url)


@pytest.fixture
async def bot(fake: FakeDiscord, service: QAService) -> AsyncIterator[TestBot]:
    """The real bot, logged in to the fake and ready."""
    client = TestBot(service, settings_for(fake), guild_ready_timeout=0.1)
    async with run_bot(client, timeout=10):
        yield client


def no_pings(output: SentMessage) -> None:
    """Every message the bot sends must disable mentions."""
    assert output.allowed_mentions is not None, output
    assert output.allowed_mentions.get("parse") == [], output.allowed_mentions
    assert not output.allowed_mentions.get("users") and not output.allowed_mentions.get("roles")


async def test_login_syncs_commands_to_the_dev_guild(fake: FakeDiscord, bot: TestBot) -> None:
    sync = await fake.wait_for_request(lambda r: r.method == "PUT" and r.path.endswith("/commands"))
    assert sync.path == f"/applications/{fake.application_id}/guilds/{fake.guild.id}/commands"
    names = {c["name"] for c in sync.json}
    assert {"ask", "sources", "help", "reindex", "stats"} <= names
    admin = {c["name"]: c.get("default_member_permissions") for c in sync.json}
    assert int(admin["reindex"]) == int(admin["stats"]) == 1 << 5, "Manage Server by default"
    assert admin["ask"] is None


async def test_commands_are_not_synced_again_when_unchanged(fake: FakeDiscord, service: QAService) -> None:
    for _ in range(2):
        client = TestBot(service, settings_for(fake), guild_ready_timeout=0.1)
        async with run_bot(client, timeout=10):
            pass
    syncs = [r for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert len(syncs) == 1


async def test_ask_answers_with_quotes_and_attribution(fake: FakeDiscord, bot: TestBot) -> None:
    asked = await fake.send_interaction("ask", {"question": "How many Palestinian prisoners will be released?"})
    reply = await fake.wait_for_reply(asked)
    thinking = fake.outputs_for(asked)[0]
    assert (thinking.kind, thinking.callback_type) == ("callback", 5), "deferred at once, never racing 3 s"
    assert reply.kind == "followup" and reply.message_id == thinking.message_id and not reply.ephemeral
    embed = reply.embeds[0]
    assert "**" in embed["description"] and "2,000 Palestinian prisoners" in embed["description"]
    assert "002\\_cda3340852537e62.txt · ¶2" in embed["description"]
    assert embed["description"].startswith("> ")
    assert any(i.startswith("fb:up:") for i in reply.custom_ids)
    no_pings(reply)


async def test_private_ask_is_ephemeral(fake: FakeDiscord, bot: TestBot) -> None:
    asked = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?", "private": True})
    reply = await fake.wait_for_reply(asked)
    assert reply.ephemeral and "Witkoff" in reply.text


async def test_not_found_is_short_and_helpful(fake: FakeDiscord, bot: TestBot) -> None:
    asked = await fake.send_interaction("ask", {"question": "What is the capital of France?"})
    reply = await fake.wait_for_reply(asked)
    assert "couldn't find" in reply.text and "/sources" in reply.text
    assert ">" not in reply.embeds[0]["description"], "no quote in a not-found answer"


async def test_a_mention_is_answered(fake: FakeDiscord, bot: TestBot) -> None:
    sent = await fake.send_message(f"<@{fake.bot_user.id}> Who is Steve Witkoff?", ALICE, mentions_bot=True)
    reply = await fake.wait_for_reply(sent)
    assert reply.kind == "channel_message" and "Witkoff" in reply.text
    no_pings(reply)


async def test_a_dm_is_answered_and_follow_ups_keep_context(fake: FakeDiscord, bot: TestBot) -> None:
    first = await fake.send_message("Who is Steve Witkoff?", BOB, dm=True)
    assert "Witkoff" in (await fake.wait_for_reply(first)).text
    follow = await fake.send_message("What did he do on Feb. 3?", BOB, dm=True)
    reply = await fake.wait_for_reply(follow)
    assert "Witkoff" in reply.text and "Follow-up" in reply.text


async def test_other_bots_and_plain_messages_are_ignored(fake: FakeDiscord, bot: TestBot) -> None:
    await fake.send_message(f"<@{fake.bot_user.id}> Who is Steve Witkoff?", OTHER_BOT, mentions_bot=True)
    await fake.send_message("Who is Steve Witkoff?", ALICE)  # no mention, not an answer channel
    marker = await fake.send_message(f"<@{fake.bot_user.id}> Who is Steve Witkoff?", ALICE, mentions_bot=True)
    await fake.wait_for_reply(marker)
    replies = [o for o in fake.outputs if o.kind == "channel_message" and o.reply_to is not None]
    assert len(replies) == 1


async def test_everyone_in_a_document_pings_no_one(fake: FakeDiscord, bot: TestBot) -> None:
    asked = await fake.send_interaction("ask", {"question": "When is the security drill?"})
    reply = await fake.wait_for_reply(asked)
    assert "drill" in reply.text
    assert "@everyone" not in reply.text, "mention syntax is defused in the text too"
    no_pings(reply)
    sent = await fake.send_message("When is the drill? @everyone", ALICE, dm=True)
    no_pings(await fake.wait_for_reply(sent))


async def test_reindex_refused_for_members(fake: FakeDiscord, bot: TestBot, service: QAService) -> None:
    asked = await fake.send_interaction("reindex", user=ALICE)
    reply = await fake.wait_for_reply(asked)
    assert reply.ephemeral and "Only server admins" in reply.text
    dm = await fake.send_interaction("reindex", user=ALICE, dm=True)
    assert "Only server admins" in (await fake.wait_for_reply(dm)).text
    stats = await fake.send_interaction("stats", user=ALICE)
    assert "Only server admins" in (await fake.wait_for_reply(stats)).text
    assert not service.reindexing


async def test_admin_reindex_reports(fake: FakeDiscord, bot: TestBot, docs: Path) -> None:
    (docs / "new.md").write_text("# Added\n\nA brand new zebra document.\n", encoding="utf-8")
    (docs / "notice.txt").unlink()
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    asked = await fake.send_interaction("reindex", user=ADMIN)
    report = await fake.wait_for_reply(asked, lambda o: o.kind == "edit_original" and bool(o.embeds))
    assert "Reindex finished" in report.text
    assert "1 added" in report.text and "1 removed" in report.text and "1 skipped" in report.text
    assert "binary.txt" in report.text and "binary" in report.text
    again = await fake.send_interaction("ask", {"question": "Which document mentions a zebra?"})
    assert "zebra" in (await fake.wait_for_reply(again)).text


async def test_configured_admin_ids_may_reindex(fake: FakeDiscord, service: QAService) -> None:
    settings = replace(settings_for(fake), admin_ids=frozenset({ALICE.id}))
    client = TestBot(service, settings, guild_ready_timeout=0.1)
    async with run_bot(client, timeout=10):
        asked = await fake.send_interaction("reindex", user=ALICE)
        report = await fake.wait_for_reply(asked, lambda o: o.kind == "edit_original" and bool(o.embeds))
        assert "Reindex finished" in report.text


async def test_question_during_a_reindex_is_answered(fake: FakeDiscord, bot: TestBot, docs: Path,
                                                     service: QAService) -> None:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron".split()
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(30)) + f" item{i}." for i in range(30_000)]
    (docs / "large.txt").write_text("\n".join(lines), encoding="utf-8")
    reindex = await fake.send_interaction("reindex", user=ADMIN)
    for _ in range(500):
        if service.reindexing:
            break
        await asyncio.sleep(0.01)
    assert service.reindexing
    asked = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"}, user=BOB)
    reply = await fake.wait_for_reply(asked)
    assert "Witkoff" in reply.text
    assert service.reindexing, "answered while the reindex was still running"
    busy = await fake.send_interaction("reindex", user=ADMIN)
    assert "already running" in (await fake.wait_for_reply(busy)).text
    report = await fake.wait_for_reply(reindex, lambda o: o.kind == "edit_original" and bool(o.embeds), timeout=60)
    assert "1 added" in report.text


async def test_feedback_buttons_record_and_stats_show_it(fake: FakeDiscord, bot: TestBot) -> None:
    asked = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"})
    reply = await fake.wait_for_reply(asked)
    up = next(i for i in reply.custom_ids if i.startswith("fb:up:"))
    clicked = await fake.send_component(up, user=BOB)
    thanks = await fake.wait_for_reply(clicked)
    assert thanks.ephemeral and "Thanks" in thanks.text
    stats = await fake.send_interaction("stats", user=ADMIN)
    shown = await fake.wait_for_reply(stats)
    assert "👍 1" in shown.text and "questions asked" in shown.text


async def test_feedback_buttons_work_after_a_restart(fake: FakeDiscord, service: QAService) -> None:
    first = TestBot(service, settings_for(fake), guild_ready_timeout=0.1)
    async with run_bot(first, timeout=10):
        asked = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"})
        reply = await fake.wait_for_reply(asked)
    down = next(i for i in reply.custom_ids if i.startswith("fb:down:"))
    second = TestBot(service, settings_for(fake), guild_ready_timeout=0.1)
    async with run_bot(second, timeout=10):
        clicked = await fake.send_component(down, user=BOB)
        assert "Thanks" in (await fake.wait_for_reply(clicked)).text
    assert (await service.stats()).thumbs_down == 1


async def test_sources_and_help(fake: FakeDiscord, bot: TestBot) -> None:
    sources = await fake.send_interaction("sources")
    listing = await fake.wait_for_reply(sources)
    assert "6 documents" in listing.text and "Netanyahu seeks firm backing" in listing.text
    helped = await fake.send_interaction("help")
    text = (await fake.wait_for_reply(helped)).text
    assert "/ask" in text and "/reindex" in text


async def test_cooldown_answers_with_a_friendly_wait(fake: FakeDiscord, service: QAService) -> None:
    settings = replace(settings_for(fake), cooldown_seconds=60)
    client = TestBot(service, settings, guild_ready_timeout=0.1)
    async with run_bot(client, timeout=10):
        first = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"}, user=BOB)
        await fake.wait_for_reply(first)
        second = await fake.send_interaction("ask", {"question": "Who is Netanyahu?"}, user=BOB)
        reply = await fake.wait_for_reply(second)
        assert reply.ephemeral and "ask again in" in reply.text


async def test_summary_of_the_collection_a_document_and_a_topic(fake: FakeDiscord, bot: TestBot) -> None:
    whole = await fake.send_interaction("summary", {"sentences": 4})
    text = (await fake.wait_for_reply(whole)).text
    assert text.count("> ") == 4 and "¶" in text
    typed = await fake.send_autocomplete("summary", {"document": "firm back"}, "document")
    choices = (await fake.wait_for_reply(typed)).choices
    assert choices and choices[0]["value"] == "004_311b2db2833709a6.txt"
    one = await fake.send_interaction("summary", {"document": choices[0]["value"]})
    assert "004\\_311b2db2833709a6.txt" in (await fake.wait_for_reply(one)).text
    topic = await fake.send_interaction("summary", {"topic": "hostages"})
    assert "hostage" in (await fake.wait_for_reply(topic)).text.lower()


async def test_summary_of_an_unknown_document_suggests_titles(fake: FakeDiscord, bot: TestBot) -> None:
    replies = []
    for name in ("../../etc/passwd", "004_311b2db2833709a7.txt"):
        asked = await fake.send_interaction("summary", {"document": name})
        reply = await fake.wait_for_reply(asked)
        assert reply.ephemeral and "No indexed document" in reply.text
        # Deferred at once; the public "thinking…" then goes, so the error is the member's alone.
        assert [o.kind for o in fake.outputs_for(asked)] == ["callback", "delete_original", "followup"]
        replies.append(reply.text)
    assert not any("passwd" in o.text and "root:" in o.text for o in fake.outputs)
    assert "/sources lists them" in replies[0]
    assert "Did you mean 004\\_311b2db2833709a6.txt (“Netanyahu seeks firm backing from US during key visit”)" \
        in replies[1]


@pytest.mark.parametrize(("shard_count", "shard_ids"), [(2, (1,)), (2, (0,)), (3, (0, 2))])
async def test_a_process_runs_the_shards_it_is_given(fake: FakeDiscord, service: QAService, shard_count: int,
                                                      shard_ids: tuple[int, ...]) -> None:
    """QA_SHARD_COUNT / QA_SHARD_IDS: this process identifies as exactly those shards, and answers."""
    settings = replace(settings_for(fake), shard_count=shard_count, shard_ids=shard_ids)
    async with run_bot(TestBot(service, settings, guild_ready_timeout=0.1), timeout=10):
        for _ in range(100):  # each shard identifies on its own connection
            if len(fake.identifies) >= len(shard_ids):
                break
            await asyncio.sleep(0.05)
        assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(s, shard_count) for s in shard_ids], \
            fake.identifies
        if (fake.guild.id >> 22) % shard_count in shard_ids:  # Discord routes the guild to this process
            reply = await fake.wait_for_reply(await fake.send_interaction("help"))
            assert "/ask" in reply.text
        else:  # another process's shard: no session of this one carries the guild
            with pytest.raises(RuntimeError, match="no gateway session"):
                await fake.send_interaction("help")
