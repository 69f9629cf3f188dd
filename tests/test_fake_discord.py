"""The fake Discord drives the real discord.py client: login, sync, commands, messages, faults."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.support.fake_discord import FakeDiscord, point_discord_py_at, run_bot
from tests.support.fake_discord_payloads import (
    ADMIN,
    ALICE,
    EPHEMERAL,
    OTHER_BOT,
    RANDOM_ID,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeUser,
)

FRUITS = ["apple", "apricot", "banana", "cherry"]


class Confirm(discord.ui.View):
    """One button that edits its message."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Yes", custom_id="confirm:yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[Confirm]) -> None:
        """Acknowledge by editing the message the button is on."""
        await interaction.response.edit_message(content="confirmed", view=None)


class ThrowawayBot(commands.Bot):
    """A tiny bot: /ping, deferred /slow and /think, /fruit with autocomplete, /confirm with a button."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.1,
            help_command=None,
        )
        self.guild_id = guild_id
        self.seen: list[tuple[int, str]] = []
        self.tree.add_command(ping)
        self.tree.add_command(slow)
        self.tree.add_command(fruit)
        self.tree.add_command(confirm)
        self.tree.add_command(think)
        self.tree.add_command(admin_only)
        self.tree.error(self.on_command_error_reply)

    async def setup_hook(self) -> None:
        """Sync the commands to the test guild only."""
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def on_command_error_reply(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Tell the user, privately, why the command failed."""
        await interaction.response.send_message(f"denied: {type(error).__name__}", ephemeral=True)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Skip discord.py's 5 s pause before a re-IDENTIFY (it paces real logins, not a fake's)."""

    async def on_message(self, message: discord.Message) -> None:
        """Reply to DMs and mentions from humans; ignore bots, itself included."""
        self.seen.append((message.author.id, message.content))
        if message.author.bot:
            return
        assert self.user is not None
        if message.guild is None or self.user in message.mentions:
            await message.reply(f"hello {message.author.name}: {message.content}")


@app_commands.command(description="Replies pong.")
async def ping(interaction: discord.Interaction) -> None:
    """Answer at once."""
    await interaction.response.send_message("pong")


@app_commands.command(description="Thinks, then answers.")
async def slow(interaction: discord.Interaction, text: str, secret: bool = False) -> None:
    """Defer, work a little, then follow up."""
    await interaction.response.defer(thinking=True, ephemeral=secret)
    await asyncio.sleep(0.05)
    await interaction.followup.send(f"done: {text}")


@app_commands.command(description="Picks a fruit.")
async def fruit(interaction: discord.Interaction, name: str, count: int = 1) -> None:
    """Echo the choice and its typed count."""
    await interaction.response.send_message(f"{count} x {name}", ephemeral=True)


@fruit.autocomplete("name")
async def fruit_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Fruits starting with what the user typed."""
    return [app_commands.Choice(name=f, value=f) for f in FRUITS if f.startswith(current)]


@app_commands.command(description="Asks for confirmation.")
async def confirm(interaction: discord.Interaction) -> None:
    """Send a message with a button."""
    await interaction.response.send_message("sure?", view=Confirm())


@app_commands.command(description="Defers, edits the original, then follows up with a file.")
async def think(interaction: discord.Interaction) -> None:
    """Exercise the webhook routes: PATCH and GET @original, a multipart follow-up."""
    await interaction.response.defer()
    await interaction.edit_original_response(content="thought")
    original = await interaction.original_response()
    await interaction.followup.send(f"was: {original.content}", file=discord.File(io.BytesIO(b"notes"), "notes.txt"))


@app_commands.command(description="Only for members who can manage the server.")
@app_commands.checks.has_permissions(manage_guild=True)
async def admin_only(interaction: discord.Interaction) -> None:
    """Reply when the permission check passes."""
    await interaction.response.send_message("ok, admin")


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[ThrowawayBot]:
    """The throwaway bot, logged in and ready; closed (with its tasks) afterwards."""
    client = ThrowawayBot(fake.guild.id)
    async with run_bot(client, timeout=10):
        yield client


async def test_bot_logs_in_and_becomes_ready(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    assert bot.user is not None and bot.user.id == fake.bot_user.id
    assert bot.application_id == fake.application_id
    guild = bot.get_guild(fake.guild.id)
    assert guild is not None and guild.me is not None
    assert {c.name for c in guild.text_channels} == {"general", "random"}
    assert guild.member_count == len(fake.guild.members) + 1, "without the members intent, only the count"
    assert fake.identifies[0]["token"] == "fake-token"
    assert fake.connected and not fake.unknown_routes


async def test_command_tree_sync_sends_the_commands(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    sync = await fake.wait_for_request(lambda r: r.method == "PUT" and r.path.endswith("/commands"))
    assert sync.path == f"/applications/{fake.application_id}/guilds/{fake.guild.id}/commands"
    assert {c["name"] for c in sync.json} == {"ping", "slow", "fruit", "confirm", "think", "admin_only"}
    assert sync.status == 200 and "Authorization" not in sync.headers
    assert [c["name"] for c in fake.commands(fake.guild.id)] == [c["name"] for c in sync.json]


async def test_ping_gets_pong_in_the_callback(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    asked = await fake.send_interaction("ping")
    reply = await fake.wait_for_reply(asked)
    assert (reply.kind, reply.callback_type, reply.content) == ("callback", 4, "pong")
    assert not reply.ephemeral and reply.guild_id == fake.guild.id


async def test_deferred_command_followup_arrives(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    asked = await fake.send_interaction("slow", {"text": "hi", "secret": True})
    followup = await fake.wait_for_reply(asked, lambda o: o.kind == "followup")
    defer = fake.outputs_for(asked)[0]
    assert (defer.kind, defer.callback_type, defer.content) == ("callback", 5, None)
    assert followup.content == "done: hi"
    assert followup.ephemeral, "the first follow-up keeps the deferral's ephemerality"
    assert followup.message_id == defer.message_id, "and it replaces the 'thinking' message"


async def test_permission_checks_read_the_member_permissions(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    by_admin = await fake.send_interaction("admin_only", user=ADMIN)
    assert (await fake.wait_for_reply(by_admin)).content == "ok, admin"
    by_alice = await fake.send_interaction("admin_only", user=ALICE)
    denied = await fake.wait_for_reply(by_alice)
    assert denied.content == "denied: MissingPermissions" and denied.ephemeral
    granted = await fake.send_interaction("admin_only", user=ALICE, permissions=1 << 5)
    assert (await fake.wait_for_reply(granted)).content == "ok, admin"


async def test_edit_of_the_original_and_a_file_followup(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    asked = await fake.send_interaction("think")
    await fake.wait_for_reply(asked, lambda o: o.kind == "followup")
    defer, edit, followup = fake.outputs_for(asked)
    assert defer.flags & 128, "a deferral shows the 'thinking' state"
    assert (edit.kind, edit.content, edit.flags) == ("edit_original", "thought", 0)
    assert followup.content == "was: thought" and followup.message_id != edit.message_id
    assert [(f.filename, f.content) for f in followup.files] == [("notes.txt", b"notes")]


async def test_autocomplete_and_typed_options(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    typing = await fake.send_autocomplete("fruit", {"name": "ap"}, focused="name")
    choices = await fake.wait_for_reply(typing)
    assert choices.callback_type == 8
    assert [c["name"] for c in choices.choices or ()] == ["apple", "apricot"]
    asked = await fake.send_interaction("fruit", {"name": "apple", "count": 3})
    reply = await fake.wait_for_reply(asked)
    assert reply.content == "3 x apple" and reply.ephemeral and reply.flags & EPHEMERAL


async def test_button_click_reaches_the_view(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    asked = await fake.send_interaction("confirm")
    sent = await fake.wait_for_reply(asked)
    assert sent.custom_ids == ["confirm:yes"]
    clicked = await fake.send_component("confirm:yes")
    update = await fake.wait_for_reply(clicked)
    assert (update.callback_type, update.content, update.message_id) == (7, "confirmed", sent.message_id)
    assert fake.messages[sent.message_id or 0]["components"] == []


async def test_mention_and_dm_get_replies(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    mention = await fake.send_message("what is up?", ALICE, mentions_bot=True)
    reply = await fake.wait_for_reply(mention)
    assert reply.kind == "channel_message" and reply.reply_to == mention.id
    assert reply.content == f"hello alice: <@{fake.bot_user.id}> what is up?"
    dm = await fake.send_message("psst", ALICE, dm=True)
    dm_reply = await fake.wait_for_reply(dm)
    assert dm_reply.channel_id == fake.dm_channel_id(ALICE.id) and dm_reply.guild_id is None
    assert dm_reply.content == "hello alice: psst"


async def test_without_message_content_intent_plain_messages_arrive_blank(
    fake: FakeDiscord, bot: ThrowawayBot
) -> None:
    plain = await fake.send_message("not for you", ALICE, RANDOM_ID)
    mention = await fake.send_message("ping me", ALICE, mentions_bot=True)
    await fake.wait_for_reply(mention)
    assert plain.delivered and (ALICE.id, "") in bot.seen
    assert (ALICE.id, mention.content) in bot.seen


async def test_bot_authors_are_ignored(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    from_bot = await fake.send_message("beep", OTHER_BOT, mentions_bot=True)
    human = await fake.send_message("hi", ALICE, mentions_bot=True)
    reply = await fake.wait_for_reply(human)
    assert (OTHER_BOT.id, from_bot.content) in bot.seen, "the bot saw the other bot's message"
    assert [o for o in fake.outputs if o.reply_to == from_bot.id] == [], "but did not answer it"
    assert [o for o in fake.outputs if o.reply_to == reply.message_id] == [], "nor its own echoed reply"


async def test_gateway_drop_resumes_and_commands_still_work(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    await fake.drop_gateway()
    await fake.wait_until_connected(timeout=5)
    assert len(fake.resumes) == 1 and len(fake.identifies) == 1
    asked = await fake.send_interaction("ping")
    assert (await fake.wait_for_reply(asked)).content == "pong"


async def test_lost_session_reidentifies_and_commands_still_work(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    await fake.drop_gateway(resumable=False)
    await fake.wait_until_connected(timeout=5)
    assert len(fake.identifies) == 2 and not fake.resumes
    asked = await fake.send_interaction("ping")
    assert (await fake.wait_for_reply(asked)).content == "pong"


async def test_events_sent_while_disconnected_are_replayed_on_resume(
    fake: FakeDiscord, bot: ThrowawayBot
) -> None:
    await fake.drop_gateway()
    asked = await fake.send_interaction("ping")
    assert (await fake.wait_for_reply(asked)).content == "pong"
    assert len(fake.resumes) == 1


async def test_rate_limited_message_is_retried(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    fake.fail_next("POST /channels/", status=429, retry_after=0.2)
    mention = await fake.send_message("again?", ALICE, mentions_bot=True)
    reply = await fake.wait_for_reply(mention, timeout=5)
    assert reply.content == f"hello alice: <@{fake.bot_user.id}> again?"
    posts = [r for r in fake.requests if r.method == "POST" and r.path.startswith("/channels/")]
    assert [r.status for r in posts] == [429, 200]
    assert posts[0].response["retry_after"] == 0.2 and posts[0].response["global"] is False


async def test_held_requests_stay_in_flight_until_released(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    held = fake.hold("/callback")
    pinged = [await fake.send_interaction("ping") for _ in range(3)]
    await held.wait_held(3)
    assert len(held.held) == 3 and all(t.startswith("POST /interactions/") for t in held.held)
    assert fake.outputs == [] and not [r for r in fake.requests if r.path.endswith("/callback")]
    held.release()
    replies = [await fake.wait_for_reply(p) for p in pinged]
    assert [r.content for r in replies] == ["pong"] * 3
    await fake.wait_for_reply(await fake.send_interaction("ping"))  # released: later requests pass at once
    assert len(held.held) == 3


async def test_discord_limits_are_enforced(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    channel = bot.get_channel(fake.guild.first_text_channel.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert too_long.value.code == 50035
    with pytest.raises(discord.HTTPException) as empty:
        await channel.send(embeds=[])
    assert empty.value.code == 50006
    assert not [o for o in fake.outputs if o.kind == "channel_message"]


async def test_unknown_routes_are_recorded(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    with pytest.raises(discord.NotFound):
        await bot.fetch_guild(fake.guild.id)
    assert [r.path for r in fake.unknown_routes] == [f"/guilds/{fake.guild.id}"]


async def test_a_late_response_is_rejected_like_discord_does() -> None:
    async with FakeDiscord(interaction_timeout=0.0) as fake:
        with point_discord_py_at(fake):
            async with run_bot(ThrowawayBot(fake.guild.id)):
                await fake.send_interaction("ping")
                late = await fake.wait_for_request(lambda r: r.path.endswith("/callback"))
    assert late.status == 404 and late.response["code"] == 10062
    assert fake.outputs == []


async def test_custom_world_token_heartbeats_and_sharding() -> None:
    owner = FakeUser(42 << 22, "owner")
    guild = FakeGuild(7 << 22, "Elsewhere", owner.id, (FakeChannel(8 << 22, "lobby"),), members=(FakeMember(owner),))
    async with FakeDiscord(guilds=[guild], token="s3cret", heartbeat_interval=0.02) as fake:
        with point_discord_py_at(fake):
            with pytest.raises(discord.LoginFailure):
                async with run_bot(ThrowawayBot(guild.id), "wrong"):
                    pass
            bot = commands.AutoShardedBot(command_prefix="!", intents=discord.Intents.all(), guild_ready_timeout=0.1)
            async with run_bot(bot, "s3cret"):
                await fake.wait_for_request(lambda r: r.path == "/gateway/bot")
                assert fake.identifies[-1]["shard"] == [0, 1]
                ready_guild = bot.get_guild(guild.id)
                assert ready_guild is not None and ready_guild.get_member(owner.id) is not None
                user = await bot.fetch_user(owner.id)
                await user.send("a DM the bot starts")
                dm = await fake.wait_for_output(lambda o: o.kind == "channel_message")
                assert dm.channel_id == fake.dm_channel_id(owner.id)
                await asyncio.sleep(0.1)
    assert sum(frame["op"] == 1 for frame in fake.gateway_frames) >= 3, "heartbeats were sent and acknowledged"


async def test_waits_time_out_with_a_diagnosis(fake: FakeDiscord, bot: ThrowawayBot) -> None:
    with pytest.raises(TimeoutError, match="no matching bot output within 0.05s"):
        await fake.wait_for_output(lambda o: False, timeout=0.05)
