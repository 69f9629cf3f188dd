"""Managing documents from Discord: `/reindex` and the `/documents` group (add, remove, list).

Every command acts on the collection of the server it comes from (`interaction.guild_id`), never on one
named by an option, so an admin of one server can never reach another's. A server without documents of
its own answers from the default ones, which only the bot's operators may reindex.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from retrieval.errors import BusyError, DocumentsError
from retrieval.model import Skipped
from retrieval.reindex import ReindexReport

from . import render_discord as render
from .discord_commands import document_choices, private_errors
from .discord_policy import Refusal, is_server_admin, may_reindex, own_collection, server_admin_only
from .service import ProgressCallback
from .uploads import ALLOWED_SUFFIXES, check_upload

if TYPE_CHECKING:
    from .discord_client import QABot

PROGRESS_EVERY = 2.0  # seconds between progress edits of a long reindex
SUFFIXES = ", ".join(ALLOWED_SUFFIXES)
NEW_COLLECTION = "This server now has its own documents; it no longer answers from the default ones."
COPIED_COLLECTION = ("This server now has its own documents, starting from a copy of the default ones; "
                     "changes to the default ones no longer reach it.")
COPY_TOO_LATE = "This server already has its own documents, so nothing was copied from the default ones."
NO_COLLECTION = ("This server has no documents of its own: it answers from the default ones. "
                 "/documents add gives it its own.")

Work = Callable[[ProgressCallback], Awaitable[ReindexReport]]


def public_progress(bot: QABot, message: str, guild: int | None = None) -> str:
    """A reindex's progress (or a server's documents error) as the channel sees it: without the server's
    paths to the folders."""
    message = message.replace(str(bot.service.docs), "the documents folder")
    if guild is not None:
        message = message.replace(str(bot.service.collections.folder(guild)), "this server's documents")
    return message


@app_commands.command(name="reindex", description="Re-read this server's documents (admins)")
@app_commands.default_permissions(manage_guild=True)
@app_commands.check(may_reindex)
async def reindex(interaction: discord.Interaction[QABot]) -> None:
    """Re-read this server's documents (or the default ones, for the operators), showing progress, then
    the report (added / changed / removed / skipped)."""
    bot, own = interaction.client, own_collection(interaction)
    if bot.service.is_reindexing(own):
        raise BusyError("A reindex is already running; I'll keep answering from the current index.")
    note = None if own or interaction.guild_id is None else \
        "This server has no documents of its own: I reindexed the default ones."
    await run_with_progress(interaction, lambda progress: bot.service.reindex(progress, guild=own), note, own)


class Documents(app_commands.Group, name="documents", description="This server's own documents (server admins)",
                guild_only=True, default_permissions=discord.Permissions(manage_guild=True)):
    """`/documents add|remove|list`: a server's admins manage its own collection, and only theirs."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Manage Server in this very server (or a configured admin id), for every subcommand (discord.py
        types this hook for any client)."""
        return server_admin_only(interaction)

    @app_commands.command(name="add", description="Add documents to this server's own collection")
    @app_commands.describe(file=f"A document ({SUFFIXES})", file2="Another document", file3="Another document",
                           copy_default="Start this server's documents from a copy of the default ones")
    async def add(self, interaction: discord.Interaction[QABot], file: discord.Attachment,
                  file2: discord.Attachment | None = None, file3: discord.Attachment | None = None,
                  copy_default: bool = False) -> None:
        """Save the attachments in this server's collection and index them, answering with the report."""
        bot, guild = interaction.client, _guild_id(interaction)
        attachments, refused = checked_attachments([a for a in (file, file2, file3) if a is not None])
        if not attachments:
            raise Refusal("Nothing was added: " + "; ".join(f"{s.name}: {s.reason}" for s in refused) + ".")
        first = not bot.service.has_collection(guild)
        note = (COPIED_COLLECTION if copy_default else NEW_COLLECTION) if first else \
            COPY_TOO_LATE if copy_default else None

        async def work(progress: ProgressCallback) -> ReindexReport:
            files = [(a.filename, await a.read()) for a in attachments]
            report = await bot.service.add_documents(guild, files, copy_default=copy_default, progress=progress)
            return replace(report, skipped=(*refused, *report.skipped))

        await run_with_progress(interaction, work, note, guild)

    @app_commands.command(name="remove", description="Remove a document from this server's own collection")
    @app_commands.describe(document="The document (start typing its title)")
    async def remove(self, interaction: discord.Interaction[QABot], document: str) -> None:
        """Delete one document of this server's collection and drop it from the index."""
        bot, guild = interaction.client, _guild_id(interaction)
        if not bot.service.has_collection(guild):
            raise Refusal(NO_COLLECTION)
        await run_with_progress(interaction, lambda progress: bot.service.remove_document(guild, document, progress),
                                guild=guild)

    @remove.autocomplete("document")
    async def remove_choices(self, interaction: discord.Interaction[QABot],
                             current: str) -> list[app_commands.Choice[str]]:
        """This server's own documents matching what the admin typed (none for anyone else)."""
        bot, guild = interaction.client, interaction.guild_id
        if guild is None or not is_server_admin(bot.settings, interaction.user, interaction.guild) \
                or not bot.service.has_collection(guild):
            return []
        return document_choices(bot, current, guild)

    @app_commands.command(name="list", description="List this server's documents")
    @app_commands.describe(page="Page of the list")
    async def list_(self, interaction: discord.Interaction[QABot],
                    page: app_commands.Range[int, 1, 10_000] = 1) -> None:
        """What /sources shows in this server, saying whether they are its own or the default ones."""
        bot, guild = interaction.client, _guild_id(interaction)
        embed, _pages = render.sources_embed(bot.service.sources(guild=guild), page)
        own = bot.service.has_collection(guild)
        await interaction.response.send_message(None if own else NO_COLLECTION, embed=embed, ephemeral=True)


def checked_attachments(
    attachments: Sequence[discord.Attachment],
) -> tuple[list[discord.Attachment], list[Skipped]]:
    """The attachments to download, and those refused with the reason (type, size, name), judged from
    what Discord says of them, before anything is downloaded; the service checks the bytes again."""
    accepted: list[discord.Attachment] = []
    refused: list[Skipped] = []
    for attachment in attachments:
        checked = check_upload(attachment.filename, attachment.size)
        if isinstance(checked, Skipped):
            refused.append(checked)
        else:
            accepted.append(attachment)
    return accepted, refused


def _guild_id(interaction: discord.Interaction[QABot]) -> int:
    """The server a /documents command comes from (the group is guild-only; a DM is refused)."""
    if interaction.guild_id is None:
        raise Refusal("Use this command in a server: each server has its own documents.")
    return interaction.guild_id


async def run_with_progress(interaction: discord.Interaction[QABot], work: Work, note: str | None = None,
                            guild: int | None = None) -> None:
    """Defer, run a reindex-like `work` on the collection of `guild` (None: the default one), editing the
    response with its progress every few seconds, then with `note` and the report. A documents error
    (which may name the folder) goes to the admin alone."""
    bot = interaction.client
    with bot.track():
        await interaction.response.defer(thinking=True)
        async with private_errors(interaction):
            try:
                report = await _with_progress(interaction, work, guild)
            except DocumentsError as exc:
                # The reason names the server's folder: for the admin's eyes, not the channel's.
                await interaction.edit_original_response(
                    content="⚠️ The reindex stopped; I sent you the reason. The current index keeps answering.")
                reason = str(exc) if guild is None else public_progress(bot, str(exc), guild)  # operators see paths
                await interaction.followup.send(render.error_message(reason), ephemeral=True)
                return
            await interaction.edit_original_response(content=note, embed=render.report_embed(report))


async def _with_progress(interaction: discord.Interaction[QABot], work: Work, guild: int | None) -> ReindexReport:
    """Run `work`, showing its latest progress message in the deferred response every PROGRESS_EVERY s."""
    bot = interaction.client
    latest = ["Reindexing…"]

    async def show_progress() -> None:
        shown = ""
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            if latest[0] != shown:
                shown = latest[0]
                shown_text = render.clean(public_progress(bot, shown, guild))
                await interaction.edit_original_response(content=f"⏳ {shown_text}")

    ticker = asyncio.create_task(show_progress())
    try:
        return await work(lambda message: latest.__setitem__(0, message))
    finally:
        ticker.cancel()


COMMANDS: tuple[app_commands.Command[Any, Any, Any], ...] = (reindex,)
