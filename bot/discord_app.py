"""The Discord front-end: slash commands, mentions, DMs and feedback buttons over the service."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import signal
from collections.abc import Awaitable
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from retrieval.errors import BusyError, DocumentsError, QAError, QuestionError, UnknownDocumentError

from . import render_discord as render
from .config import Settings
from .cooldown import Cooldown
from .retention import retention_loop
from .service import QAService

log = logging.getLogger(__name__)

DEFER_AFTER = 2.0  # seconds; Discord fails an interaction not answered within 3
PROGRESS_EVERY = 2.0  # seconds between progress edits of a long reindex
SHUTDOWN_GRACE = 10.0  # seconds in-flight questions get to finish at shutdown
WAIT_REACTION = "⏳"


def is_admin(settings: Settings, user: discord.abc.User, guild: discord.Guild | None) -> bool:
    """Configured admin ids, the configured admin role, or Manage Server in the guild (in one of
    QA_ADMIN_GUILDS when that is set).

    Read from the member's roles as the bot knows them, never from the command's default permissions
    (a hint server admins can change); in a DM only the configured ids count. The @everyone role never
    makes anyone an admin, even when QA_ADMIN_ROLE names it.
    """
    if user.id in settings.admin_ids:
        return True
    if guild is None or not isinstance(user, discord.Member):
        return False
    if settings.admin_guilds and guild.id not in settings.admin_guilds:
        # /reindex and /stats act on every server's data: a stranger's own server must not grant them.
        return False
    if user.guild_permissions.manage_guild or user.guild_permissions.administrator:
        return True
    role = settings.admin_role
    return role is not None and any(
        (r.name == role or str(r.id) == role) and not r.is_default() for r in user.roles
    )


_TOKEN_IN_PATH = re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/]+")


def discord_errors_trace() -> aiohttp.TraceConfig:
    """An aiohttp trace that logs every 5xx Discord answers: discord.py retries them without a word
    (429s it logs itself), so without this an unwell Discord would leave no trace in the log."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(_session: aiohttp.ClientSession, _context: Any,
                             params: aiohttp.TraceRequestEndParams) -> None:
        status = params.response.status
        if status >= 500:
            path = _TOKEN_IN_PATH.sub(r"\1…", params.url.path)  # an interaction's token is a credential too
            log.warning("Discord answered %d to %s %s", status, params.method, path)

    trace.on_request_end.append(on_request_end)
    return trace


_DISCORD_MARKUP = re.compile(r"<a?:\w+:\d+>|<@[!&]?\d+>|<#\d+>|\|\|")


def question_text(content: str) -> str:
    """A message's question without Discord markup: mentions, channel links, custom emoji, spoilers."""
    return " ".join(_DISCORD_MARKUP.sub(" ", content).split())


class AdminOnly(app_commands.CheckFailure):
    """A member without admin rights tried an admin command."""


FEEDBACK_PREFIX = "fb:"
_FEEDBACK_ID = re.compile(r"fb:(up|down):([1-9][0-9]{0,18})")  # ASCII digits only, at most SQLite's 2^63 - 1
STALE_BUTTON = "This button doesn't work any more. Ask again for a fresh answer."


def parse_feedback_id(custom_id: str) -> tuple[str, int] | None:
    """("up" or "down", question id) from a feedback button's custom id, or None when it is not one we
    make: custom ids come from the client, so they are input like any other."""
    match = _FEEDBACK_ID.fullmatch(custom_id)
    if match is None or int(match[2]) >= 2**63:
        return None
    return match[1], int(match[2])


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"fb:[\s\S]*"):
    """👍/👎 under an answer; the custom id carries the question id, so it works after a restart.
    The template takes every custom id starting "fb:", so a malformed one gets an answer too."""

    def __init__(self, value: str, question_id: int, custom_id: str | None = None) -> None:
        emoji = "👍" if value == "up" else "👎"
        super().__init__(discord.ui.Button(emoji=emoji, style=discord.ButtonStyle.secondary,
                                           custom_id=custom_id or f"fb:{value}:{question_id}"))
        self.value = value
        self.question_id = question_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        parsed = parse_feedback_id(match[0])
        return cls(*parsed) if parsed else cls("", 0, custom_id=match[0])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = interaction.client
        assert isinstance(client, QABot)
        if not self.question_id:
            await interaction.response.send_message(STALE_BUTTON, ephemeral=True)
            return
        try:
            ok = await client.service.feedback(self.question_id, str(interaction.user.id),
                                               1 if self.value == "up" else -1)
            text = "Thanks for the feedback!" if ok else "That answer is no longer on record."  # ours: as is
        except Exception as exc:
            text = render.error_message(client.explain(exc, "feedback"))
        await interaction.response.send_message(text, ephemeral=True)


def _on_message(message: discord.Message | None, custom_id: str) -> bool:
    """Whether a component with this custom id is on the message (where discord.py looks for it)."""
    if message is None:
        return False
    view = discord.ui.View.from_message(message, timeout=None)
    return any(getattr(item, "custom_id", None) == custom_id for item in view.walk_children())


def feedback_view(question_id: int) -> discord.ui.View:
    """The buttons under an answer."""
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton("up", question_id))
    view.add_item(FeedbackButton("down", question_id))
    return view


class QABot(discord.AutoShardedClient):
    """The bot: its dependencies come in through the constructor; set-up runs once in `setup_hook`."""

    def __init__(self, service: QAService, settings: Settings, sync: bool = False, **options: Any) -> None:
        intents = discord.Intents.default()
        # Mentions and DMs carry their content without the privileged intent; answer channels need it.
        intents.message_content = bool(settings.answer_channels)
        sharding: dict[str, Any] = {}
        if settings.shard_count:
            sharding["shard_count"] = settings.shard_count
        if settings.shard_ids:
            sharding["shard_ids"] = list(settings.shard_ids)
        # This bot never joins voice: without this, discord.py warns at every start that voice libraries are missing.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        options.setdefault("http_trace", discord_errors_trace())
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **sharding, **options)
        self.service = service
        self.settings = settings
        self.force_sync = sync
        self.cooldown = Cooldown(settings.cooldown_seconds)
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._retention: asyncio.Task[None] | None = None
        service.log_days = settings.log_days
        add_commands(self)

    async def setup_hook(self) -> None:
        """Register the persistent buttons, sync the commands if their definitions changed, and start
        applying QA_LOG_DAYS (now, then daily)."""
        self.add_dynamic_items(FeedbackButton)
        await self.sync_commands(force=self.force_sync)
        if not self.force_sync:  # `qa-bot sync` logs in only to sync
            self._retention = asyncio.create_task(retention_loop(self.service), name="qa-bot: retention")

    async def sync_commands(self, force: bool = False) -> bool:
        """Sync to the development guild (or globally) when the definitions differ from the last sync."""
        guild = discord.Object(self.settings.dev_guild) if self.settings.dev_guild else None
        if guild:
            self.tree.copy_global_to(guild=guild)
        payload = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"commands:{self.application_id}:{guild.id if guild else 'global'}"
        if not force and await self.service.questions.command_hash(key) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        await self.tree.sync(guild=guild)
        await self.service.questions.set_command_hash(key, digest)
        log.info("synced %d slash commands %s", len(payload), f"to guild {guild.id}" if guild else "globally")
        return True

    async def on_ready(self) -> None:
        log.info("ready as %s in %d guilds", self.user, len(self.guilds))
        if len(self.guilds) > 1 and not self.settings.admin_guilds:
            log.warning("in %d guilds and QA_ADMIN_GUILDS is not set: Manage Server in any of them allows "
                        "/reindex and /stats", len(self.guilds))

    def track(self) -> _InFlight:
        """Count a request in flight, so shutdown can wait for it."""
        return _InFlight(self)

    async def close(self) -> None:
        """Let in-flight questions finish (up to a grace period), then disconnect."""
        if self._retention is not None:
            self._retention.cancel()
        if self._in_flight and not self.is_closed():
            log.info("shutting down: waiting for %d requests in flight (at most %.0fs)", self._in_flight,
                     SHUTDOWN_GRACE)
        try:
            await asyncio.wait_for(self._idle.wait(), SHUTDOWN_GRACE)
        except TimeoutError:
            log.warning("closing with %d requests still in flight", self._in_flight)
        await super().close()

    async def on_message(self, message: discord.Message) -> None:
        """Answer DMs, mentions and messages in answer channels; ignore bots, including itself."""
        if message.author.bot or self.user is None or message.author.id == self.user.id:
            return
        dm = message.guild is None
        mentioned = self.user in message.mentions
        if not (dm or mentioned or message.channel.id in self.settings.answer_channels):
            return
        question = question_text(message.content)
        with self.track():
            await self._answer_message(message, question, "dm" if dm else "mention" if mentioned else "channel")

    async def _answer_message(self, message: discord.Message, question: str, via: str) -> None:
        """Answer one message with a reply; errors become a short reply, never silence."""
        if not question:
            await message.reply("Ask me a question about the documents — or use `/help`.", mention_author=False)
            return
        wait = self.cooldown.wait_for(message.author.id)
        if wait:
            await self._ask_to_wait(message, wait)
            return
        try:
            asked = await self.service.ask(question, f"{message.channel.id}:{message.author.id}", via,
                                           str(message.author.id), str(message.channel.id))
        except Exception as exc:
            await message.reply(render.error_message(self.explain(exc, "answering a message")),
                                mention_author=False)
            return
        await message.reply(embed=render.answer_embed(asked.answer), view=feedback_view(asked.question_id),
                            mention_author=False)

    async def _ask_to_wait(self, message: discord.Message, wait: float) -> None:
        """Tell a member in their cooldown to wait: once a period in words, then with a reaction."""
        notice = self.cooldown.notice(message.author.id)
        if notice == "reply":
            await message.reply(f"One moment — you can ask again in {wait:.0f}s.", mention_author=False)
        elif notice == "react":
            try:
                await message.add_reaction(WAIT_REACTION)
            except discord.HTTPException as exc:  # e.g. no Add Reactions permission: the reply said it already
                log.debug("could not react to a message in cooldown: %s", exc)

    def explain(self, error: BaseException, what: str) -> str:
        """What a Discord user reads about `error`. Errors meant for users say what to do; anything else
        (the database, files, the index, Discord) may carry server paths and internals, so the user gets
        an apology with a reference, and the log gets the details under the same reference."""
        if isinstance(error, AdminOnly):
            return "Only server admins can use this command."
        if isinstance(error, UnknownDocumentError):
            return render.unknown_document_text(error, self.service.sources())
        if isinstance(error, QuestionError | BusyError):
            return str(error)
        if isinstance(error, app_commands.CheckFailure):
            return "You can't use this command here."
        reference = secrets.token_hex(3).upper()
        log.error("%s failed [ref %s]", what, reference, exc_info=error)
        return render.internal_error(reference)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Answer a click that no handler takes, which would otherwise fail without a word: a custom id
        not ours (ours start "fb:"), or one that is not on the message (discord.py drops those)."""
        if interaction.type is not discord.InteractionType.component:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if custom_id.startswith(FEEDBACK_PREFIX) and _on_message(interaction.message, custom_id):
            return  # FeedbackButton takes it
        if not interaction.response.is_done():
            await interaction.response.send_message(STALE_BUTTON, ephemeral=True)

    async def respond(self, interaction: discord.Interaction[Any], work: Awaitable[dict[str, Any]],
                      ephemeral: bool = False) -> None:
        """Run `work`, answering directly when quick and deferring first when it may pass 3 seconds."""
        with self.track():
            task = asyncio.ensure_future(work)
            done, _ = await asyncio.wait({task}, timeout=DEFER_AFTER)
            if not done:
                await interaction.response.defer(ephemeral=ephemeral, thinking=True)
            reply = await task
            if interaction.response.is_done():
                await interaction.followup.send(ephemeral=ephemeral, **reply)
            else:
                await interaction.response.send_message(ephemeral=ephemeral, **reply)

    async def on_app_command_error(self, interaction: discord.Interaction[Any],
                                   error: app_commands.AppCommandError) -> None:
        """The one place errors become a friendly, ephemeral message; unexpected ones are logged."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        text = self.explain(cause, f"command {interaction.command and interaction.command.name}")
        try:
            if interaction.response.is_done():
                await interaction.followup.send(render.error_message(text), ephemeral=True)
            else:
                await interaction.response.send_message(render.error_message(text), ephemeral=True)
        except discord.HTTPException:
            log.warning("could not report an error to the user", exc_info=True)


class _InFlight:
    """Context manager counting requests in flight on a bot."""

    def __init__(self, bot: QABot) -> None:
        self.bot = bot

    def __enter__(self) -> None:
        self.bot._in_flight += 1
        self.bot._idle.clear()

    def __exit__(self, *_exc: object) -> None:
        self.bot._in_flight -= 1
        if self.bot._in_flight == 0:
            self.bot._idle.set()


def add_commands(bot: QABot) -> None:
    """Define the slash commands on the bot's tree."""

    def admin_only(interaction: discord.Interaction[Any]) -> bool:
        if not is_admin(bot.settings, interaction.user, interaction.guild):
            raise AdminOnly()
        return True

    @bot.tree.command(name="ask", description="Ask a question; the answer quotes the documents")
    @app_commands.describe(question="What do you want to know?", private="Only you see the answer")
    async def ask(interaction: discord.Interaction[Any], question: str, private: bool = False) -> None:
        wait = bot.cooldown.wait_for(interaction.user.id)
        if wait:
            await interaction.response.send_message(f"One moment — you can ask again in {wait:.0f}s.", ephemeral=True)
            return

        async def work() -> dict[str, Any]:
            asked = await bot.service.ask(question_text(question), f"{interaction.channel_id}:{interaction.user.id}",
                                          "slash",
                                          str(interaction.user.id), str(interaction.channel_id))
            return {"embed": render.answer_embed(asked.answer), "view": feedback_view(asked.question_id)}

        await bot.respond(interaction, work(), ephemeral=private)

    @bot.tree.command(name="sources", description="List the documents I answer from")
    @app_commands.describe(page="Page of the list")
    async def sources(interaction: discord.Interaction[Any], page: app_commands.Range[int, 1, 10_000] = 1) -> None:
        embed, _pages = render.sources_embed(bot.service.sources(), page)
        await interaction.response.send_message(embed=embed)

    @bot.tree.command(name="summary", description="Summarise a document, a topic, or the whole collection")
    @app_commands.describe(document="A document (start typing its title)", topic="A subject to summarise",
                           sentences="How many sentences (1-15)")
    async def summary(interaction: discord.Interaction[Any], document: str | None = None, topic: str | None = None,
                      sentences: app_commands.Range[int, 1, 15] = 5) -> None:
        async def work() -> dict[str, Any]:
            return {"embed": render.summary_embed(await bot.service.summary(document, topic, sentences))}

        await bot.respond(interaction, work())

    @summary.autocomplete("document")
    async def summary_documents(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        # Choice values must be at most 100 characters: longer ids can still be typed in full.
        return [app_commands.Choice(name=render.shorten(f"{s.title} ({s.id})", 100), value=s.id)
                for s in bot.service.document_choices(current) if len(s.id) <= 100]

    @bot.tree.command(name="help", description="What I do and how to use me")
    async def help_(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message(embed=render.help_embed(), ephemeral=True)

    @bot.tree.command(name="reindex", description="Re-read the documents folder (admins)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.check(admin_only)
    async def reindex(interaction: discord.Interaction[Any]) -> None:
        if bot.service.reindexing:
            raise BusyError("A reindex is already running; I'll keep answering from the current index.")
        await interaction.response.defer(thinking=True)
        with bot.track():
            try:
                await _reindex_with_progress(bot, interaction)
            except DocumentsError as exc:
                # The reason names the server's folder: for the admin's eyes, not the channel's.
                await interaction.edit_original_response(
                    content="⚠️ The reindex stopped; I sent you the reason. The current index keeps answering.")
                await interaction.followup.send(render.error_message(str(exc)), ephemeral=True)

    @bot.tree.command(name="stats", description="Questions asked, answered, and feedback (admins)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.check(admin_only)
    async def stats(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message(embed=render.stats_embed(await bot.service.stats()), ephemeral=True)

    @bot.tree.command(name="forget-me", description="Erase the questions and feedback I keep about you")
    async def forget_me(interaction: discord.Interaction[Any]) -> None:
        erased = await bot.service.forget(str(interaction.user.id))
        log.info("a member erased their data: %d questions, %d votes", erased.questions, erased.votes)
        await interaction.response.send_message(render.forgotten_text(erased, bot.settings.log_days),
                                                ephemeral=True)


def public_progress(bot: QABot, message: str) -> str:
    """A reindex's progress as the channel sees it: without the server's path to the folder."""
    return message.replace(str(bot.service.docs), "the documents folder")


async def _reindex_with_progress(bot: QABot, interaction: discord.Interaction[Any]) -> None:
    """Reindex, editing the deferred response with progress every few seconds, then the report."""
    latest = ["Reindexing…"]

    async def show_progress() -> None:
        shown = ""
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            if latest[0] != shown:
                shown = latest[0]
                await interaction.edit_original_response(content=f"⏳ {render.clean(public_progress(bot, shown))}")

    ticker = asyncio.create_task(show_progress())
    try:
        report = await bot.service.reindex(lambda message: latest.__setitem__(0, message))
    finally:
        ticker.cancel()
    await interaction.edit_original_response(content=None, embed=render.report_embed(report))


def apply_endpoints(settings: Settings) -> None:
    """Point discord.py at a Discord-compatible server when configured (and at the fake in tests)."""
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def run_discord(settings: Settings, sync_only: bool = False) -> int:
    """Run the bot until SIGTERM or Ctrl-C; returns the exit status. One clear line on failure."""
    if not settings.token:
        raise QAError("DISCORD_TOKEN is not set: put it in .env (see .env.example) or the environment.")
    apply_endpoints(settings)
    return asyncio.run(_run(settings, sync_only))


async def _run(settings: Settings, sync_only: bool) -> int:
    """Open the service, start the bot, and close both cleanly on a signal."""
    service = await QAService.open(settings.db, settings.docs, follow_up_seconds=settings.follow_up_seconds,
                                   source_url=settings.source_url, log_flush_seconds=settings.log_flush_seconds)
    bot = QABot(service, settings, sync=sync_only)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
    try:
        if sync_only:
            await bot.login(settings.token or "")  # its setup_hook syncs (forced, as `sync` asks)
            print("Slash commands synced.")
            return 0
        await bot.start(settings.token or "")
        return 0
    except discord.LoginFailure:
        raise QAError("Discord rejected the token: check DISCORD_TOKEN (Developer Portal → Bot).") from None
    except discord.PrivilegedIntentsRequired:
        raise QAError("Answer channels need the Message Content intent: enable it in the Developer Portal.") from None
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise QAError(f"Cannot reach Discord ({type(exc).__name__}); check the network or DISCORD_API_BASE.") from exc
    finally:
        if not bot.is_closed():
            await bot.close()
        await service.close()
