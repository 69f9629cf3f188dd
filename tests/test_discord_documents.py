"""Each server its own documents, managed from Discord: the real bot against the fake Discord with two servers.

Server A is the fake's default guild (its admin: ADMIN); server B is a second guild whose admin is CAROL.
ADMIN is a plain member of B, CAROL a plain member of A, ALICE a plain member of both: every refusal is
tested with an admin of the other server as well as with a member who is admin nowhere.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fake_discord import FakeDiscord, InjectedInteraction, SentMessage, point_discord_py_at, run_bot
from fake_discord_payloads import (
    ADMIN,
    ALICE,
    BOB,
    DEFAULT_PERMISSIONS,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    default_guild,
)

from bot.config import Settings
from bot.discord_client import QABot
from bot.discord_documents import COPIED_COLLECTION, NEW_COLLECTION
from bot.discord_policy import DEFAULT_FOR_OPERATORS
from bot.service import QAService
from bot.uploads import MAX_UPLOAD_BYTES

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
MANAGE_GUILD = 1 << 5
CAROL = FakeUser(1_000_000_000_000_000_021, "carol")
B_ID = 1_000_000_000_000_000_200
B_CHANNEL = 1_000_000_000_000_000_201
B_MODS = 1_000_000_000_000_000_211
ZEBRAS = FakeAttachment("zebras.md", b"# Zebras\n\nThe zebra herd crosses the river at dawn every spring.\n")
FERRIES = FakeAttachment("ferries.txt", b"Harbour notice\n\nThe harbour ferry leaves at seven from pier four.\n")
REFUSED = "Only this server's admins (Manage Server) can change its documents."


def server_b() -> FakeGuild:
    """A second server: CAROL manages it (a role with Manage Server); ADMIN and ALICE are plain members."""
    return FakeGuild(
        id=B_ID, name="Harbour", owner_id=BOB.id, channels=(FakeChannel(B_CHANNEL, "general"),),
        roles=(FakeRole(B_MODS, "mods", DEFAULT_PERMISSIONS | MANAGE_GUILD, position=2),),
        members=(FakeMember(CAROL, (B_MODS,)), FakeMember(ADMIN), FakeMember(ALICE)),
    )


def server_a() -> FakeGuild:
    """The fake's default server, with CAROL as a plain member."""
    guild = default_guild()
    return replace(guild, members=(*guild.members, FakeMember(CAROL)))


class TestBot(QABot):
    """The real bot with discord.py's pause before identifying removed."""

    __test__ = False

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No pacing against the fake."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with both servers, and discord.py pointed at it."""
    async with FakeDiscord(guilds=[server_a(), server_b()]) as server:
        with point_discord_py_at(server):
            yield server


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[QAService]:
    """A real service whose default documents are the seeds."""
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    svc = await QAService.open(tmp_path / "data" / "qa.sqlite3", docs)
    yield svc
    await svc.close()


def settings_for(fake: FakeDiscord, **changes: Any) -> Settings:
    """Commands synced globally (both servers see them), no cooldown."""
    return replace(Settings(token="fake-token", cooldown_seconds=0), **changes)


@pytest.fixture
async def bot(fake: FakeDiscord, service: QAService) -> AsyncIterator[TestBot]:
    """The real bot, logged in to the fake and ready."""
    client = TestBot(service, settings_for(fake), guild_ready_timeout=0.1)
    async with run_bot(client, timeout=10):
        yield client


def in_b(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments that send an event in server B."""
    return {"channel_id": B_CHANNEL, **kwargs}


def final(output: SentMessage) -> bool:
    """A command's final response: an immediate answer (a refusal, a listing), the deferred response's last
    edit (with the report), or a private follow-up (an error)."""
    if output.kind == "callback":
        return output.callback_type == 4
    return output.ephemeral or (output.kind == "edit_original" and bool(output.embeds))


async def documents(fake: FakeDiscord, sub: str, options: dict[str, Any] | None = None, **kwargs: Any) -> SentMessage:
    """Run `/documents <sub>` and return its final response."""
    asked = await fake.send_interaction(f"documents {sub}", options or {}, **kwargs)
    return await fake.wait_for_reply(asked, final, timeout=30)


async def ask(fake: FakeDiscord, question: str, **kwargs: Any) -> str:
    """The text of the answer to `/ask`."""
    return (await fake.wait_for_reply(await fake.send_interaction("ask", {"question": question}, **kwargs),
                                      timeout=15)).text


async def test_two_servers_answer_from_their_own_documents(fake: FakeDiscord, bot: TestBot) -> None:
    added = await documents(fake, "add", {"file": ZEBRAS}, user=ADMIN)
    assert NEW_COLLECTION in added.text and "1 added" in added.text and not added.ephemeral
    assert "1 added" in (await documents(fake, "add", {"file": FERRIES}, **in_b(user=CAROL))).text

    assert "zebra herd crosses" in await ask(fake, "When does the zebra herd cross the river?", user=ALICE)
    assert "couldn't find" in await ask(fake, "When does the harbour ferry leave?", user=ALICE)
    assert "ferry leaves at seven" in await ask(fake, "When does the harbour ferry leave?", **in_b(user=ALICE))
    mention = await fake.send_message(f"<@{fake.bot_user.id}> When does the zebra herd cross the river?", ALICE,
                                      channel_id=B_CHANNEL, mentions_bot=True)
    assert "couldn't find" in (await fake.wait_for_reply(mention)).text
    dm = await fake.send_message("When does the zebra herd cross the river?", ALICE, dm=True)
    assert "couldn't find" in (await fake.wait_for_reply(dm)).text, "a DM answers from the default documents"
    dm = await fake.send_message("Who is Steve Witkoff?", ALICE, dm=True)
    assert "Witkoff" in (await fake.wait_for_reply(dm)).text

    listing = (await fake.wait_for_reply(await fake.send_interaction("sources", **in_b(user=ALICE)))).text
    assert "1 document" in listing and "ferries.txt" in listing and "zebras" not in listing
    summary = await fake.wait_for_reply(await fake.send_interaction("summary", {"sentences": 2}, user=ALICE))
    assert "zebra" in summary.text and "Witkoff" not in summary.text


async def test_add_copy_list_remove_and_autocomplete(fake: FakeDiscord, bot: TestBot) -> None:
    copied = await documents(fake, "add", {"file": FERRIES, "file2": ZEBRAS, "copy_default": True},
                             **in_b(user=CAROL))
    assert COPIED_COLLECTION in copied.text and "7 added" in copied.text, copied.text
    assert "ferry leaves at seven" in await ask(fake, "When does the harbour ferry leave?", **in_b(user=ALICE))
    assert "Witkoff" in await ask(fake, "Who is Steve Witkoff?", **in_b(user=ALICE)), "the copy answers too"

    listed = await documents(fake, "list", **in_b(user=CAROL))
    assert "7 documents" in listed.text and "ferries.txt" in listed.text and listed.ephemeral
    typed = await fake.send_autocomplete("documents remove", {"document": "zebr"}, "document", **in_b(user=CAROL))
    choices = (await fake.wait_for_reply(typed)).choices
    assert choices and [c["value"] for c in choices] == ["zebras.md"]

    removed = await documents(fake, "remove", {"document": "zebras.md"}, **in_b(user=CAROL))
    assert "1 removed" in removed.text
    assert "zebras.md" not in (await documents(fake, "list", **in_b(user=CAROL))).text
    assert "couldn't find" in await ask(fake, "When does the zebra herd cross the river?", **in_b(user=ALICE))
    unknown = await documents(fake, "remove", {"document": "zebras.md"}, **in_b(user=CAROL))
    assert unknown.ephemeral and "No indexed document" in unknown.text


async def test_a_server_without_its_own_documents_lists_the_default_ones(fake: FakeDiscord, bot: TestBot) -> None:
    listed = await documents(fake, "list", user=ADMIN)
    assert "no documents of its own" in listed.text and "5 documents" in listed.text
    removed = await documents(fake, "remove", {"document": "004_311b2db2833709a6.txt"}, user=ADMIN)
    assert removed.ephemeral and "no documents of its own" in removed.text
    assert "5 documents" in (await documents(fake, "list", user=ADMIN)).text


REFUSALS = [  # (who, where): a plain member, and the admin of the other server
    (ALICE, {}), (CAROL, {}), (ALICE, {"channel_id": B_CHANNEL}), (ADMIN, {"channel_id": B_CHANNEL}),
]


@pytest.mark.parametrize(("user", "where"), REFUSALS,
                         ids=["member-A", "admin-of-B-in-A", "member-B", "admin-of-A-in-B"])
async def test_only_this_servers_admins_manage_its_documents(
    fake: FakeDiscord, bot: TestBot, service: QAService, user: FakeUser, where: dict[str, Any]
) -> None:
    for guild_admin, channel in ((ADMIN, {}), (CAROL, {"channel_id": B_CHANNEL})):  # both have their own
        await documents(fake, "add", {"file": ZEBRAS if not channel else FERRIES}, user=guild_admin, **channel)
    before = {g: [s.id for s in service.sources(guild=g)] for g in (fake.guilds[0].id, B_ID)}
    attempts: list[InjectedInteraction] = [
        await fake.send_interaction("documents add", {"file": FakeAttachment("planted.md", b"# Planted\n\nzebu\n")},
                                    user=user, **where),
        await fake.send_interaction("documents remove", {"document": "zebras.md"}, user=user, **where),
        await fake.send_interaction("documents remove", {"document": "ferries.txt"}, user=user, **where),
        await fake.send_interaction("documents list", user=user, **where),
        await fake.send_interaction("reindex", user=user, **where),
    ]
    for attempt in attempts:
        reply = await fake.wait_for_reply(attempt)
        assert reply.ephemeral and reply.kind == "callback", reply
        assert reply.text in (REFUSED, "Only server admins can use this command."), reply.text
    for name in ("zebr", "ferr", ""):
        typed = await fake.send_autocomplete("documents remove", {"document": name}, "document", user=user, **where)
        assert (await fake.wait_for_reply(typed)).choices == ()
    assert {g: [s.id for s in service.sources(guild=g)] for g in before} == before
    assert not [r for r in fake.requests if r.path.startswith("/attachments/")][2:], "nothing planted was downloaded"


async def test_a_dm_cannot_manage_documents(fake: FakeDiscord, bot: TestBot, service: QAService) -> None:
    asked = await fake.send_interaction("documents add", {"file": ZEBRAS}, user=ADMIN, dm=True)
    assert (await fake.wait_for_reply(asked)).text == REFUSED
    assert not service.has_collection(fake.guilds[0].id)


async def test_reindex_acts_on_this_servers_documents_and_the_default_only_for_operators(
    fake: FakeDiscord, service: QAService, tmp_path: Path
) -> None:
    settings = settings_for(fake, admin_guilds=frozenset({fake.guilds[0].id}))  # operators: admins of A
    async with run_bot(TestBot(service, settings, guild_ready_timeout=0.1), timeout=10):
        refused = await fake.wait_for_reply(await fake.send_interaction("reindex", **in_b(user=CAROL)))
        assert refused.ephemeral and refused.text == DEFAULT_FOR_OPERATORS
        default = await fake.wait_for_reply(await fake.send_interaction("reindex", user=ADMIN), final, timeout=30)
        assert "reindexed the default ones" in default.text and "5 unchanged" in default.text

        await documents(fake, "add", {"file": FERRIES}, **in_b(user=CAROL))
        own = await fake.wait_for_reply(await fake.send_interaction("reindex", **in_b(user=CAROL)), final, timeout=30)
        assert "Reindex finished" in own.text and "1 unchanged" in own.text and "default" not in own.text
        other = await fake.wait_for_reply(await fake.send_interaction("reindex", **in_b(user=ADMIN)))
        assert other.text == REFUSED, "an operator's Manage Server in A grants nothing over B's documents"


async def test_bad_attachments_are_refused_before_download(fake: FakeDiscord, bot: TestBot,
                                                           service: QAService) -> None:
    huge = FakeAttachment("huge.txt", b"z" * (MAX_UPLOAD_BYTES + 1))
    cases = [
        ({"file": FakeAttachment("tool.exe", b"MZ\x90\x00")}, "tool.exe: only .md, .mdx"),
        ({"file": huge}, "huge.txt: it is larger than the limit of 8 MiB"),
        ({"file": FakeAttachment("empty.md", b"")}, "empty.md: it is empty"),
    ]
    for options, reason in cases:
        reply = await fake.wait_for_reply(await fake.send_interaction("documents add", options, user=ADMIN))
        assert reply.ephemeral and reply.text.startswith("Nothing was added:") and reason in reply.text, reply.text
    assert not [r for r in fake.requests if r.path.startswith("/attachments/")], "refused before any download"
    assert not service.has_collection(fake.guilds[0].id)


async def test_attachment_names_never_leave_the_servers_folder(fake: FakeDiscord, bot: TestBot,
                                                               service: QAService, tmp_path: Path) -> None:
    sneaky = FakeAttachment("../../escaped.md", b"# Escaped\n\nThe okapi hides in the forest.\n")
    reply = await documents(fake, "add", {"file": sneaky}, user=ADMIN)
    assert "1 added" in reply.text
    guild = fake.guilds[0].id
    assert list(tmp_path.rglob("*escaped*")) == [service.collections.folder(guild) / "escaped.md"]
    assert [s.id for s in service.sources(guild=guild)] == ["escaped.md"]
    assert "okapi hides" in await ask(fake, "Where does the okapi hide?", user=ALICE)


async def test_a_servers_edited_file_is_answered_without_a_command(fake: FakeDiscord, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    service = await QAService.open(tmp_path / "data" / "qa.sqlite3", docs, watch=True, watch_quiet=0.2)
    try:
        async with run_bot(TestBot(service, settings_for(fake), guild_ready_timeout=0.1), timeout=10):
            await documents(fake, "add", {"file": ZEBRAS}, user=ADMIN)
            edited = service.collections.folder(fake.guilds[0].id) / "zebras.md"
            edited.write_text("# Zebras\n\nThe zebra herd crosses the river at dusk every autumn.\n", encoding="utf-8")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30  # generous on a busy machine: the watcher waits for a quiet moment
            while "at dusk" not in (answer := await ask(fake, "When does the zebra herd cross the river?")):
                assert loop.time() < deadline, answer
                await asyncio.sleep(0.3)
            assert "at dawn" not in answer
    finally:
        await service.close()
