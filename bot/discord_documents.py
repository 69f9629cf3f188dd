"""Managing the documents from Discord: /reindex, with its progress shown in the deferred response."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from retrieval.errors import BusyError, DocumentsError
from retrieval.reindex import ReindexReport

from . import render_discord as render
from .discord_policy import admin_only
from .service import ProgressCallback

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .discord_client import QABot

PROGRESS_EVERY = 2.0  # seconds between progress edits of a long reindex


def public_progress(bot: QABot, message: str) -> str:
    """A reindex's progress as the channel sees it: without the server's path to the folder."""
    return message.replace(str(bot.service.docs), "the documents folder")


@app_commands.command(name="reindex", description="Re-read the documents folder (admins)")
@app_commands.default_permissions(manage_guild=True)
@app_commands.check(admin_only)
async def reindex(interaction: discord.Interaction[QABot]) -> None:
    """Re-read the documents, showing progress, then the report (added / changed / removed / skipped)."""
    bot = interaction.client
    if bot.service.reindexing:
        raise BusyError("A reindex is already running; I'll keep answering from the current index.")
    await run_with_progress(interaction, bot.service.reindex)


async def run_with_progress(interaction: discord.Interaction[QABot],
                            work: Callable[[ProgressCallback], Awaitable[ReindexReport]]) -> None:
    """Defer, run a reindex-like `work`, editing the response with its progress every few seconds, then
    with the report. A documents error (naming the server's folder) goes to the admin alone."""
    bot = interaction.client
    await interaction.response.defer(thinking=True)
    with bot.track():
        try:
            report = await _with_progress(interaction, work)
        except DocumentsError as exc:
            # The reason names the server's folder: for the admin's eyes, not the channel's.
            await interaction.edit_original_response(
                content="⚠️ The reindex stopped; I sent you the reason. The current index keeps answering.")
            await interaction.followup.send(render.error_message(str(exc)), ephemeral=True)
            return
        await interaction.edit_original_response(content=None, embed=render.report_embed(report))


async def _with_progress(interaction: discord.Interaction[QABot],
                         work: Callable[[ProgressCallback], Awaitable[ReindexReport]]) -> ReindexReport:
    """Run `work`, showing its latest progress message in the deferred response every PROGRESS_EVERY s."""
    bot = interaction.client
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
        return await work(lambda message: latest.__setitem__(0, message))
    finally:
        ticker.cancel()


COMMANDS: tuple[app_commands.Command[Any, Any, Any], ...] = (reindex,)
