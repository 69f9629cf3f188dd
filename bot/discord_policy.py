"""Who may do what on Discord: the admin checks behind the admin commands, and the cooldown's wording.

A command's `default_permissions` is only a hint that server admins can change, so every admin command
also runs a check from here, read from the member's permissions as Discord sends them with the command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from .config import Settings

if TYPE_CHECKING:
    from .discord_client import QABot


class AdminOnly(app_commands.CheckFailure):
    """A member without admin rights tried an admin command."""


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
        # The default documents and /stats serve every server: a stranger's own server must not grant them.
        return False
    if user.guild_permissions.manage_guild or user.guild_permissions.administrator:
        return True
    role = settings.admin_role
    return role is not None and any(
        (r.name == role or str(r.id) == role) and not r.is_default() for r in user.roles
    )


class ServerAdminOnly(app_commands.CheckFailure):
    """A member without Manage Server in this server tried to change its documents."""


class Refusal(app_commands.AppCommandError):
    """A command refused with a reason meant for the member (a bad attachment, a server without documents)."""


def is_server_admin(settings: Settings, user: discord.abc.User, guild: discord.Guild | None) -> bool:
    """Whether the user may manage this server's own documents: Manage Server (or Administrator) in this
    very server, or a configured admin id. Rights in another server never count: the collection acted on
    is always the server the command comes from, never an option."""
    if user.id in settings.admin_ids:
        return True
    if guild is None or not isinstance(user, discord.Member) or user.guild.id != guild.id:
        return False
    return user.guild_permissions.manage_guild or user.guild_permissions.administrator


def server_admin_only(interaction: discord.Interaction[QABot]) -> bool:
    """An app-command check: the user manages this server (`is_server_admin`), else ServerAdminOnly."""
    if not is_server_admin(interaction.client.settings, interaction.user, interaction.guild):
        raise ServerAdminOnly()
    return True


def admin_only(interaction: discord.Interaction[QABot]) -> bool:
    """An app-command check: the user is an admin (`is_admin`), else AdminOnly."""
    if not is_admin(interaction.client.settings, interaction.user, interaction.guild):
        raise AdminOnly()
    return True


def wait_text(wait: float) -> str:
    """What a member in their cooldown reads."""
    return f"One moment — you can ask again in {wait:.0f}s."


DEFAULT_FOR_OPERATORS = ("This server has no documents of its own: it answers from the default ones, which only "
                         "the bot's operators can reindex. /documents add gives this server its own.")


def own_collection(interaction: discord.Interaction[QABot]) -> int | None:
    """The server's id when it has documents of its own, else None: the default documents (and in a DM)."""
    guild = interaction.guild_id
    return guild if guild is not None and interaction.client.service.has_collection(guild) else None


def may_reindex(interaction: discord.Interaction[QABot]) -> bool:
    """An app-command check for /reindex: a server's own documents are its admins' (`is_server_admin`);
    the default ones are the operators' (`is_admin`, today's policy), and a server admin is told so."""
    if own_collection(interaction) is not None:
        return server_admin_only(interaction)
    settings, user, guild = interaction.client.settings, interaction.user, interaction.guild
    if is_admin(settings, user, guild):
        return True
    if is_server_admin(settings, user, guild):
        raise Refusal(DEFAULT_FOR_OPERATORS)
    raise AdminOnly()
