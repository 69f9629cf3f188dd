"""The everyday slash commands: /ask, /summary, /sources, /help, /stats and /forget-me.

Each takes a `discord.Interaction[QABot]` and reaches the service through `interaction.client`; errors
are raised, and the tree's `on_error` (discord_client.QATree) turns them into a private message.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from . import render_discord as render
from .discord_ask import Asker, answer
from .discord_policy import admin_only, wait_text

if TYPE_CHECKING:
    from .discord_client import QABot

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def private_errors(interaction: discord.Interaction[QABot],
                         deferred_publicly: bool = True) -> AsyncIterator[None]:
    """After a public deferral, an error first deletes the public "thinking…": the first follow-up after a
    deferral takes the deferral's visibility, and the tree's `on_error` means its message for the member alone."""
    try:
        yield
    except Exception:
        if deferred_publicly:
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
        raise


async def respond(interaction: discord.Interaction[QABot], work: Callable[[], Awaitable[dict[str, Any]]],
                  ephemeral: bool = False) -> None:
    """Defer at once ("thinking…"), so no answer races Discord's 3 seconds, then send what `work()` makes."""
    with interaction.client.track():
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        async with private_errors(interaction, deferred_publicly=not ephemeral):
            reply = await work()
        await interaction.followup.send(ephemeral=ephemeral, **reply)


@app_commands.command(name="ask", description="Ask a question; the answer quotes the documents")
@app_commands.describe(question="What do you want to know?", private="Only you see the answer")
async def ask(interaction: discord.Interaction[QABot], question: str, private: bool = False) -> None:
    """Answer from the documents (this server's, or the default ones)."""
    wait = interaction.client.cooldown.wait_for(interaction.user.id)
    if wait:
        await interaction.response.send_message(wait_text(wait), ephemeral=True)
        return
    asker = Asker.of_interaction(interaction)
    await respond(interaction, lambda: answer(interaction.client, question, asker), ephemeral=private)


@app_commands.command(name="sources", description="List the documents I answer from")
@app_commands.describe(page="Page of the list")
async def sources(interaction: discord.Interaction[QABot], page: app_commands.Range[int, 1, 10_000] = 1) -> None:
    """One page of the indexed documents."""
    embed, _pages = render.sources_embed(interaction.client.service.sources(guild=interaction.guild_id), page)
    await interaction.response.send_message(embed=embed)


@app_commands.command(name="summary", description="Summarise a document, a topic, or the whole collection")
@app_commands.describe(document="A document (start typing its title)", topic="A subject to summarise",
                       sentences="How many sentences (1-15)")
async def summary(interaction: discord.Interaction[QABot], document: str | None = None, topic: str | None = None,
                  sentences: app_commands.Range[int, 1, 15] = 5) -> None:
    """A verbatim summary of one document, of a topic, or of everything."""
    service, guild = interaction.client.service, interaction.guild_id

    async def work() -> dict[str, Any]:
        return {"embed": render.summary_embed(await service.summary(document, topic, sentences, guild=guild))}

    await respond(interaction, work)


@summary.autocomplete("document")
async def summary_choices(interaction: discord.Interaction[QABot], current: str) -> list[app_commands.Choice[str]]:
    """Documents (of the server asked in) whose title or id matches what the member typed."""
    return document_choices(interaction.client, current, interaction.guild_id)


def document_choices(bot: QABot, current: str, guild: int | None) -> list[app_commands.Choice[str]]:
    """Autocomplete choices: the documents (of the server's collection) whose title or id match."""
    # Choice values must be at most 100 characters: longer ids can still be typed in full.
    return [app_commands.Choice(name=render.shorten(f"{s.title} ({s.id})", 100), value=s.id)
            for s in bot.service.document_choices(current, guild=guild) if len(s.id) <= 100]


@app_commands.command(name="help", description="What I do and how to use me")
async def help_(interaction: discord.Interaction[QABot]) -> None:
    """The commands and how to ask."""
    await interaction.response.send_message(embed=render.help_embed(), ephemeral=True)


@app_commands.command(name="stats", description="Questions asked, answered, and feedback (admins)")
@app_commands.default_permissions(manage_guild=True)
@app_commands.check(admin_only)
async def stats(interaction: discord.Interaction[QABot]) -> None:
    """The question log's counts and feedback, for admins."""
    shown = render.stats_embed(await interaction.client.service.stats(guild=interaction.guild_id))
    await interaction.response.send_message(embed=shown, ephemeral=True)


@app_commands.command(name="forget-me", description="Erase the questions and feedback I keep about you")
async def forget_me(interaction: discord.Interaction[QABot]) -> None:
    """Erase what the question log holds about the member."""
    bot = interaction.client
    erased = await bot.service.forget(str(interaction.user.id))
    log.info("a member erased their data: %d questions, %d votes", erased.questions, erased.votes)
    await interaction.response.send_message(render.forgotten_text(erased, bot.settings.log_days), ephemeral=True)


COMMANDS: tuple[app_commands.Command[Any, Any, Any], ...] = (ask, sources, summary, help_, stats, forget_me)
