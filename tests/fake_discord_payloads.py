"""World model, payload builders and validators for the fake Discord in ``fake_discord.py``.

The dataclasses describe what the fake's Discord contains (users, guilds, channels, roles);
the ``*_payload`` functions turn them into the JSON Discord would send, carrying the fields
discord.py 2.7 reads; the ``*_errors`` functions check what a bot sends against Discord's
documented limits, so a bot that would be rejected by Discord is rejected by the fake too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import discord

JSON = dict[str, Any]

# Permission bits, as in Discord's documentation.
ADD_REACTIONS = 1 << 6
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
DEFAULT_PERMISSIONS = (
    ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS | USE_APPLICATION_COMMANDS | SEND_MESSAGES_IN_THREADS
)
ALL_PERMISSIONS = discord.Permissions.all().value

# Message flags.
EPHEMERAL = 1 << 6
LOADING = 1 << 7
IS_COMPONENTS_V2 = 1 << 15

# Gateway intents the fake enforces.
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Channel types.
GUILD_TEXT = 0
DM = 1

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class FakeUser:
    """A user or bot account known to the fake."""

    id: int
    name: str
    bot: bool = False


@dataclass(frozen=True)
class FakeRole:
    """A guild role; the @everyone role is implicit (its id is the guild id)."""

    id: int
    name: str
    permissions: int = 0
    position: int = 1


@dataclass(frozen=True)
class FakeChannel:
    """A guild channel (type 0 text, 2 voice, 4 category, 5 announcement)."""

    id: int
    name: str
    type: int = GUILD_TEXT
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None


@dataclass(frozen=True)
class FakeMember:
    """A user's membership of a guild, with the ids of the roles they hold."""

    user: FakeUser
    role_ids: tuple[int, ...] = ()
    nick: str | None = None


@dataclass(frozen=True)
class FakeAttachment:
    """A file a member attaches to a slash command's attachment option (served by the fake's CDN)."""

    filename: str
    content: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class FakeGuild:
    """A guild: channels, roles, members; the bot joins it with ``bot_role_ids``."""

    id: int
    name: str
    owner_id: int
    channels: tuple[FakeChannel, ...]
    roles: tuple[FakeRole, ...] = ()
    members: tuple[FakeMember, ...] = ()
    everyone_permissions: int = DEFAULT_PERMISSIONS
    bot_role_ids: tuple[int, ...] = ()

    def channel(self, channel_id: int) -> FakeChannel | None:
        """Return the channel with this id, if the guild has it."""
        return next((c for c in self.channels if c.id == channel_id), None)

    def member(self, user_id: int) -> FakeMember | None:
        """Return the membership of this user, if they are a member."""
        return next((m for m in self.members if m.user.id == user_id), None)

    def role(self, role_id: int) -> FakeRole | None:
        """Return the role with this id, if the guild has it."""
        return next((r for r in self.roles if r.id == role_id), None)

    @property
    def first_text_channel(self) -> FakeChannel:
        """The text channel that injected events use when none is named."""
        return next(c for c in self.channels if c.type == GUILD_TEXT)

    def permissions(self, user_id: int, role_ids: Iterable[int]) -> int:
        """Guild-level permissions the way Discord computes them (owner and admins get all)."""
        value = self.everyone_permissions
        for role_id in role_ids:
            role = self.role(role_id)
            value |= role.permissions if role else 0
        if user_id == self.owner_id or value & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return value


# The default world: readable fixed ids, so tests can name them.
DEFAULT_BOT = FakeUser(1_000_000_000_000_000_001, "qa-bot", bot=True)
ALICE = FakeUser(1_000_000_000_000_000_011, "alice")
BOB = FakeUser(1_000_000_000_000_000_012, "bob")
ADMIN = FakeUser(1_000_000_000_000_000_013, "admin")
OTHER_BOT = FakeUser(1_000_000_000_000_000_014, "other-bot", bot=True)
GUILD_ID = 1_000_000_000_000_000_100
GENERAL_ID = 1_000_000_000_000_000_101
RANDOM_ID = 1_000_000_000_000_000_102
ADMIN_ROLE_ID = 1_000_000_000_000_000_111
BOT_ROLE_ID = 1_000_000_000_000_000_112


def default_guild() -> FakeGuild:
    """One guild with #general and #random, alice, bob, an admin, another bot, and the bot's role."""
    return FakeGuild(
        id=GUILD_ID,
        name="Test Guild",
        owner_id=ADMIN.id,
        channels=(FakeChannel(GENERAL_ID, "general", position=0), FakeChannel(RANDOM_ID, "random", position=1)),
        roles=(
            FakeRole(ADMIN_ROLE_ID, "admin", ADMINISTRATOR, position=2),
            FakeRole(BOT_ROLE_ID, "qa-bot", DEFAULT_PERMISSIONS, position=1),
        ),
        members=(
            FakeMember(ALICE),
            FakeMember(BOB),
            FakeMember(ADMIN, (ADMIN_ROLE_ID,)),
            FakeMember(OTHER_BOT),
        ),
        bot_role_ids=(BOT_ROLE_ID,),
    )


def now_iso() -> str:
    """The current time as Discord writes timestamps."""
    return dt.datetime.now(dt.UTC).isoformat()


def user_payload(user: FakeUser) -> JSON:
    """A user object."""
    return {
        "id": str(user.id),
        "username": user.name,
        "discriminator": "0",
        "global_name": None if user.bot else user.name.title(),
        "avatar": None,
        "bot": user.bot,
        "system": False,
        "public_flags": 0,
    }


def role_payload(role: FakeRole) -> JSON:
    """A role object."""
    return {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": False,
        "mentionable": True,
        "flags": 0,
    }


def channel_payload(channel: FakeChannel, guild_id: int) -> JSON:
    """A guild channel object."""
    return {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(guild_id),
        "name": channel.name,
        "position": channel.position,
        "parent_id": None if channel.parent_id is None else str(channel.parent_id),
        "topic": channel.topic,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "permission_overwrites": [],
        "flags": 0,
    }


def dm_channel_payload(channel_id: int, recipient: FakeUser) -> JSON:
    """A DM channel object."""
    return {
        "id": str(channel_id),
        "type": DM,
        "last_message_id": None,
        "recipients": [user_payload(recipient)],
        "flags": 0,
    }


def member_payload(member: FakeMember, *, with_user: bool = True, permissions: int | None = None) -> JSON:
    """A guild member object (``permissions`` is only present in interactions)."""
    data: JSON = {
        "roles": [str(r) for r in member.role_ids],
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user_payload(member.user)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def guild_create_payload(guild: FakeGuild, bot_member: FakeMember, *, all_members: bool) -> JSON:
    """A GUILD_CREATE body; members are all listed (no chunking needed) or, like Discord without
    the members intent, only the bot itself."""
    members = [m for m in guild.members if m.user.id != bot_member.user.id] + [bot_member]
    count = len(members)
    if not all_members:
        members = [bot_member]
    everyone = FakeRole(guild.id, "@everyone", guild.everyone_permissions, position=0)
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "application_id": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "features": [],
        "roles": [role_payload(r) for r in (everyone, *guild.roles)],
        "emojis": [],
        "stickers": [],
        "channels": [channel_payload(c, guild.id) for c in guild.channels],
        "threads": [],
        "members": [member_payload(m) for m in members],
        "member_count": count,
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "large": False,
        "unavailable": False,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "max_members": 500000,
        "max_video_channel_users": 25,
    }


def ready_payload(
    user: FakeUser, guild_ids: Sequence[int], session_id: str, resume_url: str, application_id: int,
    shard: Sequence[int],
) -> JSON:
    """A READY event body: guilds are listed unavailable and arrive as GUILD_CREATE."""
    return {
        "v": 10,
        "user": {**user_payload(user), "verified": True, "mfa_enabled": False, "flags": 0},
        "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "shard": list(shard),
        "application": {"id": str(application_id), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "user_settings": {},
    }


def app_info_payload(application_id: int, bot_user: FakeUser, owner: FakeUser) -> JSON:
    """The application object of ``GET /oauth2/applications/@me``."""
    return {
        "id": str(application_id),
        "name": bot_user.name,
        "icon": None,
        "description": "",
        "summary": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": user_payload(owner),
        "team": None,
        "flags": 0,
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "approximate_guild_count": 1,
        "bot": user_payload(bot_user),
    }


def message_payload(
    *,
    message_id: int,
    channel_id: int,
    author: FakeUser,
    content: str = "",
    guild_id: int | None = None,
    member: FakeMember | None = None,
    embeds: Sequence[JSON] = (),
    components: Sequence[JSON] = (),
    attachments: Sequence[JSON] = (),
    flags: int = 0,
    mentions: Sequence[JSON] = (),
    mention_roles: Sequence[int] = (),
    message_type: int = 0,
    reference: JSON | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSON:
    """A message object (``extra`` adds fields such as ``webhook_id`` or ``interaction_metadata``)."""
    data: JSON = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": user_payload(author),
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": "@everyone" in content,
        "mentions": list(mentions),
        "mention_roles": [str(r) for r in mention_roles],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "components": list(components),
        "reactions": [],
        "pinned": False,
        "type": message_type,
        "flags": flags,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if member is not None:
        data["member"] = member_payload(member, with_user=False)
    if reference is not None:
        data["message_reference"] = reference
    data.update(extra or {})
    return data


def attachment_payload(attachment_id: int, attachment: FakeAttachment, url: str) -> JSON:
    """An attachment object, as in a command's ``resolved.attachments``."""
    data: JSON = {"id": str(attachment_id), "filename": attachment.filename, "size": len(attachment.content),
                  "url": url, "proxy_url": url}
    if attachment.content_type is not None:
        data["content_type"] = attachment.content_type
    return data


def interaction_payload(
    *,
    interaction_id: int,
    interaction_type: int,
    token: str,
    application_id: int,
    data: JSON,
    user: FakeUser,
    channel: JSON,
    guild: FakeGuild | None,
    member: FakeMember | None,
    permissions: int,
    app_permissions: int,
    locale: str = "en-US",
    message: JSON | None = None,
) -> JSON:
    """An INTERACTION_CREATE body from a guild channel (with ``member``) or a DM (with ``user``)."""
    payload: JSON = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": interaction_type,
        "data": data,
        "token": token,
        "version": 1,
        "channel_id": channel["id"],
        "channel": channel,
        "app_permissions": str(app_permissions),
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if guild is not None:
        member = member or FakeMember(user)
        payload["guild_id"] = str(guild.id)
        payload["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
        payload["guild_locale"] = "en-US"
        payload["member"] = member_payload(member, permissions=permissions)
        payload["authorizing_integration_owners"] = {"0": str(guild.id)}
        payload["context"] = 0
    else:
        payload["user"] = user_payload(user)
        payload["authorizing_integration_owners"] = {"1": str(user.id)}
        payload["context"] = 1
    if message is not None:
        payload["message"] = message
    return payload


# --- validation: what Discord would answer with 400 Invalid Form Body --------------------------

_NAME_RE = re.compile(r"^[-_\w]{1,32}$")
_EMBED_LIMITS = {"title": 256, "description": 4096}


def _length_error(errors: JSON, path: str, value: Any, maximum: int, minimum: int = 0) -> None:
    """Add an error at ``path`` when ``value`` (a string) is not within the bounds."""
    size = len(value) if isinstance(value, str) else 0
    if size > maximum:
        errors[path] = f"Must be {maximum} or fewer in length."
    elif size < minimum:
        errors[path] = f"Must be between {minimum} and {maximum} in length."


def _embed_errors(embeds: Sequence[JSON], errors: JSON) -> None:
    """Check embeds against Discord's per-field and 6000-character total limits."""
    if len(embeds) > 10:
        errors["embeds"] = "Must be 10 or fewer in length."
    for i, embed in enumerate(embeds):
        total = 0
        for key, limit in _EMBED_LIMITS.items():
            _length_error(errors, f"embeds.{i}.{key}", embed.get(key), limit)
            total += len(embed.get(key) or "")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors[f"embeds.{i}.fields"] = "Must be 25 or fewer in length."
        for j, item in enumerate(fields):
            _length_error(errors, f"embeds.{i}.fields.{j}.name", item.get("name"), 256, 1)
            _length_error(errors, f"embeds.{i}.fields.{j}.value", item.get("value"), 1024, 1)
            total += len(item.get("name") or "") + len(item.get("value") or "")
        footer = (embed.get("footer") or {}).get("text")
        author = (embed.get("author") or {}).get("name")
        _length_error(errors, f"embeds.{i}.footer.text", footer, 2048)
        _length_error(errors, f"embeds.{i}.author.name", author, 256)
        total += len(footer or "") + len(author or "")
        if total > 6000:
            errors[f"embeds.{i}"] = "Embed size exceeds maximum size of 6000"


def _component_errors(rows: Sequence[JSON], errors: JSON) -> None:
    """Check classic action rows: 5 rows of 5 buttons, labels 80, custom ids 100."""
    if len(rows) > 5:
        errors["components"] = "Must be 5 or fewer in length."
    for i, row in enumerate(rows):
        children = row.get("components") or []
        if len(children) > 5:
            errors[f"components.{i}.components"] = "Must be 5 or fewer in length."
        for j, child in enumerate(children):
            _length_error(errors, f"components.{i}.components.{j}.label", child.get("label"), 80)
            _length_error(errors, f"components.{i}.components.{j}.custom_id", child.get("custom_id"), 100)
            if len(child.get("options") or []) > 25:
                errors[f"components.{i}.components.{j}.options"] = "Must be 25 or fewer in length."


def message_errors(body: Mapping[str, Any], *, has_files: bool, creating: bool) -> JSON:
    """Problems Discord would report for a message body, keyed by field path (empty if valid)."""
    errors: JSON = {}
    content = body.get("content")
    if content is not None:
        _length_error(errors, "content", content, 2000)
    _embed_errors(body.get("embeds") or [], errors)
    if not int(body.get("flags") or 0) & IS_COMPONENTS_V2:
        _component_errors(body.get("components") or [], errors)
    empty = not (content or body.get("embeds") or body.get("components") or has_files
                 or body.get("poll") or body.get("sticker_ids"))
    if creating and empty:
        errors["_empty"] = "Cannot send an empty message"
    return errors


def choices_errors(choices: Sequence[JSON]) -> JSON:
    """Problems with an autocomplete answer: at most 25 choices, names 1-100 characters."""
    errors: JSON = {}
    if len(choices) > 25:
        errors["choices"] = "Must be 25 or fewer in length."
    for i, choice in enumerate(choices):
        _length_error(errors, f"choices.{i}.name", choice.get("name"), 100, 1)
    return errors


def _option_errors(options: Sequence[JSON], path: str, errors: JSON) -> None:
    """Check command options recursively: names, descriptions, choices, required-first order."""
    if len(options) > 25:
        errors[f"{path}.options"] = "Must be 25 or fewer in length."
    seen_optional = False
    for i, option in enumerate(options):
        where = f"{path}.options.{i}"
        if not _NAME_RE.match(option.get("name", "")) or option.get("name", "") != option.get("name", "").lower():
            errors[f"{where}.name"] = "Invalid option name."
        _length_error(errors, f"{where}.description", option.get("description"), 100, 1)
        if len(option.get("choices") or []) > 25:
            errors[f"{where}.choices"] = "Must be 25 or fewer in length."
        if option.get("type") in (1, 2):
            _option_errors(option.get("options") or [], where, errors)
        elif option.get("required"):
            if seen_optional:
                errors[f"{where}.required"] = "Required options must be placed before non-required options"
        else:
            seen_optional = True


def commands_errors(commands: Sequence[JSON]) -> JSON:
    """Problems Discord would report for a bulk command overwrite (empty if valid)."""
    errors: JSON = {}
    if len(commands) > 100:
        errors["_root"] = "Must be 100 or fewer in length."
    for i, command in enumerate(commands):
        name = command.get("name", "")
        if command.get("type", 1) == 1:
            if not _NAME_RE.match(name) or name != name.lower():
                errors[f"{i}.name"] = "Invalid application command name."
            _length_error(errors, f"{i}.description", command.get("description"), 100, 1)
            _option_errors(command.get("options") or [], str(i), errors)
        else:
            _length_error(errors, f"{i}.name", name, 32, 1)
    return errors


def invalid_form_body(errors: Mapping[str, str]) -> JSON:
    """Discord's 400 error body (code 50035) for the given field problems."""
    if "_empty" in errors:
        return {"message": "Cannot send an empty message", "code": 50006}
    nested: JSON = {}
    for path, text in errors.items():
        node = nested
        for part in path.split("."):
            node = node.setdefault(part, {})
        node["_errors"] = [{"code": "BASE_TYPE_INVALID", "message": text}]
    return {"message": "Invalid Form Body", "code": 50035, "errors": nested}
