"""The Discord client: `QABot` (dependencies in through the constructor, set-up once in `setup_hook`) and
`QATree`, the command tree whose `on_error` is the one place errors become a friendly private message."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
from typing import Any

import aiohttp
import discord
from discord import app_commands

from retrieval.errors import BusyError, NoCollectionError, QuestionError, UnknownDocumentError

from . import discord_commands, discord_documents
from . import render_discord as render
from .config import Settings
from .cooldown import Cooldown
from .discord_ask import addressed_via, answer_message
from .discord_components import FeedbackButton, answer_stale_click
from .discord_policy import AdminOnly, Refusal, ServerAdminOnly
from .retention import retention_loop
from .service import QAService

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0  # seconds in-flight questions get to finish at shutdown

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


class QATree(app_commands.CommandTree["QABot"]):
    """The bot's command tree: every command error ends here, as a private message to the member."""

    async def on_error(self, interaction: discord.Interaction[QABot], error: app_commands.AppCommandError,
                       /) -> None:
        """Tell the member what went wrong (privately); log what they should not see, with a reference."""
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        what = f"command {interaction.command and interaction.command.qualified_name}"
        text = render.error_message(self.client.explain(cause, what, interaction.guild_id))
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not report an error to the user", exc_info=True)


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
        self.tree = QATree(self)
        for command in (*discord_commands.COMMANDS, *discord_documents.COMMANDS):
            self.tree.add_command(command)
        self.tree.add_command(discord_documents.Documents())
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._retention: asyncio.Task[None] | None = None
        service.log_days = settings.log_days

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
        """Log where the bot is; warn when Manage Server in any of several servers grants the admin commands."""
        log.info("ready as %s in %d guilds", self.user, len(self.guilds))
        if len(self.guilds) > 1 and not self.settings.admin_guilds:
            log.warning("in %d guilds and QA_ADMIN_GUILDS is not set: Manage Server in any of them allows "
                        "/reindex of the default documents and /stats", len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        """Answer DMs, mentions and messages in answer channels; ignore bots, including itself."""
        via = addressed_via(self, message)
        if via is not None:
            with self.track():
                await answer_message(self, message, via)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Answer clicks no handler takes (see `answer_stale_click`)."""
        await answer_stale_click(interaction)

    def track(self) -> InFlight:
        """Count a request in flight, so shutdown can wait for it."""
        return InFlight(self)

    def explain(self, error: BaseException, what: str, guild: int | None = None) -> str:
        """What a Discord user reads about `error`. Errors meant for users say what to do; anything else
        (the database, files, the index, Discord) may carry server paths and internals, so the user gets
        an apology with a reference, and the log gets the details under the same reference. `guild` is
        the server asked in, whose documents an unknown document is compared with."""
        if isinstance(error, AdminOnly):
            return "Only server admins can use this command."
        if isinstance(error, ServerAdminOnly):
            return "Only this server's admins (Manage Server) can change its documents."
        if isinstance(error, Refusal):
            return str(error)
        if isinstance(error, UnknownDocumentError):
            return render.unknown_document_text(error, self.service.sources(guild=guild))
        if isinstance(error, QuestionError | BusyError | NoCollectionError):
            return str(error)
        if isinstance(error, app_commands.CheckFailure):
            return "You can't use this command here."
        reference = secrets.token_hex(3).upper()
        log.error("%s failed [ref %s]", what, reference, exc_info=error)
        return render.internal_error(reference)

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


class InFlight:
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
