"""A fake Discord on 127.0.0.1 that the real discord.py client logs into and is driven by.

One aiohttp server serves Discord's REST API under ``fake.api_base``
(``http://127.0.0.1:PORT/api/v10``) and the gateway websocket at ``fake.gateway_url``
(``ws://127.0.0.1:PORT/gateway``). A test injects events (slash commands, autocomplete,
button clicks, messages) and reads back, from ``fake.outputs``, every message the bot
sent, edited or deleted, as uniform ``SentMessage`` records::

    async with FakeDiscord() as fake:
        with point_discord_py_at(fake):
            async with run_bot(MyBot()):
                asked = await fake.send_interaction("ask", {"question": "why?"})
                answer = await fake.wait_for_reply(asked)
                assert "because" in answer.text

Pointing a bot at the fake takes exactly two discord.py values (``point_discord_py_at`` sets
and restores them; a bot that reads its endpoints from configuration sets them itself, once,
before ``bot.start``)::

    discord.http.Route.BASE = api_base                                    # a str, no trailing /
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)  # a yarl.URL

Like Discord, the fake rejects what Discord would: over-long content or embeds (400, code
50035), a second response to an interaction (40060), a response after 3 s (10062), a
follow-up before any response (10015), sending where the bot lacks permission (50013); it
hides message content from a bot without the message-content intent (except DMs and
mentions), and serves ``fake_discord_payloads``' world (one guild, alice, bob, an admin and
another bot) unless given another. Fault hooks: ``fail_next`` (429 / 5xx), ``drop_gateway``,
and ``hold`` (requests kept in flight until released).

discord.py facts this relies on (2.7): JSON responses need Content-Type exactly
``application/json`` or discord.py treats them as text; a 429 without a ``Via`` header is taken
for a Cloudflare ban and not retried; ``Client.before_identify_hook`` sleeps 5 s before every
re-IDENTIFY (override it in a test bot to keep session-loss tests fast); ``on_ready`` waits
``guild_ready_timeout`` (default 2 s) after the last GUILD_CREATE, so test bots pass 0.1;
without the members intent Discord (and the fake) list only the bot in GUILD_CREATE; the
gateway closing with 1000 or 4000 makes discord.py resume, with 4004 or 4010-4014 it gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
import yarl
from aiohttp import WSMsgType, web
from fake_discord_payloads import (
    ADMIN,
    ALICE,
    DEFAULT_BOT,
    DEFAULT_PERMISSIONS,
    EPHEMERAL,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    JSON,
    LOADING,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    app_info_payload,
    attachment_payload,
    channel_payload,
    choices_errors,
    commands_errors,
    default_guild,
    dm_channel_payload,
    guild_create_payload,
    interaction_payload,
    invalid_form_body,
    member_payload,
    message_errors,
    message_payload,
    now_iso,
    ready_payload,
    role_payload,
    user_payload,
)

__all__ = [
    "FakeDiscord",
    "InjectedInteraction",
    "Hold",
    "InjectedMessage",
    "RecordedRequest",
    "SentFile",
    "SentMessage",
    "point_discord_py_at",
    "run_bot",
    "says_something",
]

T = TypeVar("T")
DISCORD_EPOCH_MS = 1_420_070_400_000
MENTION_RE = re.compile(r"<@!?(\d+)>")
ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")
# Which callback types Discord accepts for each interaction type (2 command, 3 component, 4 autocomplete).
ALLOWED_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


@dataclass(frozen=True)
class SentFile:
    """A file the bot uploaded with a message."""

    filename: str
    content: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class SentMessage:
    """One thing the bot said or did to a message, recorded uniformly across routes.

    ``kind`` is one of: callback, followup, edit_original, delete_original, edit_followup,
    delete_followup, channel_message, edit_message, delete_message, reaction.
    ``content`` is None when the request did not set it (a defer, an edit of embeds only).
    ``flags`` are the resulting message's flags (64 = ephemeral), or the request's if no message.
    """

    kind: str
    route: str
    interaction_id: int | None
    channel_id: int | None
    guild_id: int | None
    message_id: int | None
    callback_type: int | None
    content: str | None
    embeds: tuple[JSON, ...]
    components: tuple[JSON, ...]
    flags: int
    allowed_mentions: JSON | None
    choices: tuple[JSON, ...] | None
    reply_to: int | None
    files: tuple[SentFile, ...]
    body: Any

    @property
    def ephemeral(self) -> bool:
        """Whether only the invoking user sees this message."""
        return bool(self.flags & EPHEMERAL)

    @property
    def text(self) -> str:
        """Content plus every embed's title, description, fields and footer, one per line."""
        parts = [self.content or ""]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f.get('name', '')}\n{f.get('value', '')}" for f in embed.get("fields") or []]
            parts.append((embed.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)

    @property
    def custom_ids(self) -> list[str]:
        """The custom ids of all buttons and selects in the message's components."""
        found: list[str] = []
        _walk_components(self.components, lambda c: found.append(c["custom_id"]) if "custom_id" in c else None)
        return found


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request the fake received, with what it answered."""

    method: str
    path: str
    query: Mapping[str, str]
    json: Any
    headers: Mapping[str, str]
    files: tuple[SentFile, ...]
    status: int
    response: Any


@dataclass(frozen=True)
class InjectedInteraction:
    """An interaction the fake sent to the bot; its id and token identify the bot's responses."""

    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user_id: int


@dataclass(frozen=True)
class InjectedMessage:
    """A message the fake sent to the bot (``delivered`` is False if the bot's intents exclude it)."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str
    delivered: bool
    output_mark: int


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: Mapping[str, str]
    json: Any
    files: tuple[SentFile, ...]
    arrived: float = 0.0  # loop time the request reached the fake (deadlines count from here, not from a hold)


class Hold:
    """Requests the fake keeps unanswered until ``release()``: what is "in flight" for a test to act on."""

    def __init__(self, fake: FakeDiscord, route_substring: str) -> None:
        self._fake = fake
        self.route_substring = route_substring
        self.held: list[str] = []  # "METHOD /path" of each request that arrived and was held
        self._released = asyncio.Event()

    def matches(self, target: str) -> bool:
        """Whether a request ("METHOD /path") is to be held."""
        return not self._released.is_set() and self.route_substring in target

    async def keep(self, target: str) -> None:
        """Hold one request until release."""
        self.held.append(target)
        self._fake._notify()
        await self._released.wait()

    async def wait_held(self, count: int, timeout: float = 5.0) -> None:
        """Wait until at least ``count`` requests are being held."""
        await self._fake._wait_until(lambda: True if len(self.held) >= count else None, timeout,
                                     f"{count} held requests for {self.route_substring!r}")

    def release(self) -> None:
        """Let every held request (and any later one) through."""
        self._released.set()
        if self in self._fake._holds:
            self._fake._holds.remove(self)


@dataclass
class _Failure:
    substring: str
    status: int
    retry_after: float
    times: int
    is_global: bool
    code: int


@dataclass
class _Interaction:
    injected: InjectedInteraction
    user: FakeUser
    created: float
    message_id: int | None = None
    acked: int | None = None
    loading: bool = False
    original_id: int | None = None
    message_ids: set[int] = field(default_factory=set)


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: _Session | None = None
    ready: bool = False

    async def send(self, frame: JSON) -> bool:
        """Send one frame; False if the socket is already closing (the frame stays replayable)."""
        async with self.lock:
            if self.ws.closed:
                return False
            try:
                await self.ws.send_str(json.dumps(frame))
            except (ConnectionError, RuntimeError):
                return False
            return True


@dataclass
class _Session:
    id: str
    shard: tuple[int, int]
    intents: int | None
    seq: int = 0
    frames: list[JSON] = field(default_factory=list)
    conn: _Connection | None = None


def says_something(output: SentMessage) -> bool:
    """Whether an output carries a message: not a bare deferral ("thinking…") and not a deletion."""
    return not (output.kind == "callback" and output.callback_type in (5, 6)) and not output.kind.startswith("delete")


def _walk_components(components: Sequence[JSON], visit: Callable[[JSON], object]) -> None:
    """Call ``visit`` on every component, nested ones included."""
    for component in components:
        visit(component)
        _walk_components(component.get("components") or [], visit)
        accessory = component.get("accessory")
        if accessory:
            visit(accessory)


def _error(status: int, code: int, message: str) -> _Reply:
    """A Discord error reply."""
    return _Reply(status, {"message": message, "code": code})


def _http_response(reply: _Reply) -> web.Response:
    """Build the response by hand: discord.py wants Content-Type exactly ``application/json``."""
    if reply.body is None:
        return web.Response(status=reply.status, headers=dict(reply.headers))
    headers = {**reply.headers, "Content-Type": "application/json"}
    return web.Response(status=reply.status, body=json.dumps(reply.body).encode(), headers=headers)


class FakeDiscord:
    """Discord's REST API and gateway for one bot, served on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        bot_user: FakeUser = DEFAULT_BOT,
        application_id: int | None = None,
        guilds: Sequence[FakeGuild] | None = None,
        users: Sequence[FakeUser] = (),
        default_user: FakeUser | None = None,
        owner: FakeUser = ADMIN,
        token: str | None = None,
        heartbeat_interval: float = 41.25,
        interaction_timeout: float | None = 3.0,
        echo_messages: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the world; ``token=None`` accepts any token, ``port=0`` picks a free port."""
        self.bot_user = bot_user
        self.application_id = application_id or bot_user.id
        self.guilds: tuple[FakeGuild, ...] = (default_guild(),) if guilds is None else tuple(guilds)
        self.owner = owner
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.interaction_timeout = interaction_timeout
        self.echo_messages = echo_messages
        self.host = host
        self._port = port
        members = [m.user for g in self.guilds for m in g.members]
        self.default_user = default_user or next((u for u in members if not u.bot), ALICE)
        self._users: dict[int, FakeUser] = {}
        for user in (bot_user, owner, self.default_user, *members, *users):
            self._users.setdefault(user.id, user)
        # What the fake recorded, for tests to read.
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[RecordedRequest] = []
        self.outputs: list[SentMessage] = []
        self.messages: dict[int, JSON] = {}
        self.identifies: list[JSON] = []
        self.resumes: list[JSON] = []
        self.gateway_frames: list[JSON] = []
        # Internal state.
        self._ids = itertools.count((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22)
        self._commands: dict[int | None, list[JSON]] = {}
        self._interactions: dict[str, _Interaction] = {}
        self._dm_channels: dict[int, int] = {}
        self._dm_owner: dict[int, int] = {}
        self._uploads: dict[int, FakeAttachment] = {}  # attachment id: what members attached to commands
        self._failures: list[_Failure] = []
        self._holds: list[Hold] = []
        self._sessions: dict[str, _Session] = {}
        self._connections: set[_Connection] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._routes = self._route_table()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on ``host``:``port``."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{channel}/{id}/{name}", self._cdn)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Close every gateway connection and stop serving."""
        await asyncio.gather(*(c.ws.close(code=1001) for c in list(self._connections)), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        """Start the fake."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the fake."""
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self._port}"

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``: ``http://127.0.0.1:PORT/api/v10``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """The value (as ``yarl.URL``) for ``DiscordWebSocket.DEFAULT_GATEWAY``: ``ws://127.0.0.1:PORT/gateway``."""
        return f"ws://{self.host}:{self._port}/gateway"

    @property
    def guild(self) -> FakeGuild:
        """The first (default) guild."""
        return self.guilds[0]

    @property
    def connected(self) -> bool:
        """Whether a gateway connection has finished its IDENTIFY or RESUME handshake."""
        return any(c.ready and not c.ws.closed for c in self._connections)

    # --- the world ----------------------------------------------------------------------------

    def user(self, user: FakeUser | int | None = None) -> FakeUser:
        """The user with this id (registered on first use), or the default user for None."""
        if user is None:
            return self.default_user
        if isinstance(user, FakeUser):
            return self._users.setdefault(user.id, user)
        return self._users.setdefault(user, FakeUser(user, f"user-{user}"))

    def dm_channel_id(self, user_id: int) -> int:
        """The id of the DM channel between the bot and this user (created on first use)."""
        if user_id not in self._dm_channels:
            channel_id = self._snowflake()
            self._dm_channels[user_id] = channel_id
            self._dm_owner[channel_id] = user_id
        return self._dm_channels[user_id]

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """The application commands the bot last synced, globally or for one guild."""
        return list(self._commands.get(guild_id, []))

    def _snowflake(self) -> int:
        """A fresh id that sorts after every earlier one."""
        return next(self._ids)

    def _guild_of_channel(self, channel_id: int) -> tuple[FakeGuild, FakeChannel] | None:
        """The guild and channel for a guild channel id."""
        for guild in self.guilds:
            channel = guild.channel(channel_id)
            if channel is not None:
                return guild, channel
        return None

    def _guild(self, guild_id: int | None) -> FakeGuild | None:
        """The guild with this id."""
        return next((g for g in self.guilds if g.id == guild_id), None)

    def _bot_member(self, guild: FakeGuild) -> FakeMember:
        """The bot's own membership of a guild."""
        return guild.member(self.bot_user.id) or FakeMember(self.bot_user, guild.bot_role_ids)

    def _member_permissions(self, guild: FakeGuild, user: FakeUser) -> int:
        """A user's permissions in a guild, from their roles."""
        member = guild.member(user.id) or (self._bot_member(guild) if user.id == self.bot_user.id else None)
        return guild.permissions(user.id, member.role_ids if member else ())

    def _place(self, channel_id: int | None, dm: bool, user: FakeUser) -> tuple[FakeGuild | None, int, JSON]:
        """Resolve where an injected event happens: (guild or None, channel id, channel payload)."""
        if dm or (channel_id is not None and channel_id in self._dm_owner):
            channel_id = self.dm_channel_id(user.id) if channel_id is None else channel_id
            recipient = self.user(self._dm_owner[channel_id])
            return None, channel_id, dm_channel_payload(channel_id, recipient)
        if channel_id is None:
            guild, channel = self.guild, self.guild.first_text_channel
        else:
            found = self._guild_of_channel(channel_id)
            if found is None:
                raise ValueError(f"unknown channel {channel_id}")
            guild, channel = found
        payload = {**channel_payload(channel, guild.id), "permissions": str(self._member_permissions(guild, user))}
        return guild, channel.id, payload

    # --- event injection ----------------------------------------------------------------------

    async def send_interaction(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeUser | int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InjectedInteraction:
        """Invoke slash command ``name`` ("group sub" for subcommands) with typed option values.

        Option types come from the synced command when the bot synced it, else from the value:
        str 3, int 4, bool 5, float 10, FakeUser 6, FakeChannel 7, FakeRole 8, FakeAttachment 11 (resolved data is
        filled in). ``channel_id`` defaults to the first guild's first text channel; ``dm=True``
        uses the user's DM channel. ``permissions`` overrides the member's computed permissions.
        """
        invoker = self.user(user)
        guild, _, _ = self._place(channel_id, dm, invoker)
        data = self._command_data(name, options or {}, guild, focused=None)
        return await self.inject_interaction(
            2, data, user=invoker, channel_id=channel_id, dm=dm, permissions=permissions, locale=locale
        )

    async def send_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        user: FakeUser | int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
    ) -> InjectedInteraction:
        """Ask for autocomplete choices of option ``focused`` while the user types ``options[focused]``."""
        invoker = self.user(user)
        guild, _, _ = self._place(channel_id, dm, invoker)
        data = self._command_data(name, options, guild, focused=focused)
        return await self.inject_interaction(4, data, user=invoker, channel_id=channel_id, dm=dm)

    async def send_component(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        values: Sequence[str] | None = None,
        user: FakeUser | int | None = None,
    ) -> InjectedInteraction:
        """Click the button (or pick ``values`` in the select) ``custom_id`` on a message the bot sent.

        Without ``message_id`` the newest bot message carrying that custom id is used.
        """
        message = self.messages.get(message_id) if message_id is not None else self._message_with(custom_id)
        if message is None:
            raise LookupError(f"no message {message_id or ''} with a component custom_id={custom_id!r}")
        found: list[JSON] = []
        _walk_components(message.get("components") or [], found.append)
        kind = next((c["type"] for c in found if c.get("custom_id") == custom_id), 2)
        data: JSON = {"custom_id": custom_id, "component_type": kind}
        if values is not None:
            data["values"] = list(values)
        return await self.inject_interaction(
            3, data, user=user, channel_id=int(message["channel_id"]), message=message
        )

    async def inject_interaction(
        self,
        interaction_type: int,
        data: JSON,
        *,
        user: FakeUser | int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        permissions: int | None = None,
        locale: str = "en-US",
        message: JSON | None = None,
    ) -> InjectedInteraction:
        """Send an INTERACTION_CREATE of any type with a ready-made ``data`` (e.g. 5, a modal submit)."""
        invoker = self.user(user)
        guild, where, channel = self._place(channel_id, dm, invoker)
        if guild is not None and permissions is None:
            permissions = self._member_permissions(guild, invoker)
        app_permissions = self._member_permissions(guild, self.bot_user) if guild else DEFAULT_PERMISSIONS
        interaction_id, token = self._snowflake(), secrets.token_urlsafe(32)
        payload = interaction_payload(
            interaction_id=interaction_id, interaction_type=interaction_type, token=token,
            application_id=self.application_id, data=data, user=invoker, channel=channel, guild=guild,
            member=guild.member(invoker.id) if guild else None, permissions=permissions or 0,
            app_permissions=app_permissions, locale=locale, message=message,
        )
        guild_id = guild.id if guild else None
        injected = InjectedInteraction(interaction_id, token, interaction_type, where, guild_id, invoker.id)
        loop = asyncio.get_running_loop()
        message_id = int(message["id"]) if message else None
        self._interactions[token] = _Interaction(injected, invoker, loop.time(), message_id)
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        return injected

    async def send_message(
        self,
        content: str,
        author: FakeUser | int | None = None,
        channel_id: int | None = None,
        *,
        dm: bool = False,
        mentions_bot: bool = False,
        reply_to: int | None = None,
    ) -> InjectedMessage:
        """Post a message as ``author`` (a bot if its FakeUser says so); the guild follows from the channel.

        ``channel_id`` defaults to the first guild's first text channel; ``dm=True`` posts in the
        author's DM channel with the bot. ``mentions_bot`` prefixes ``<@bot>``; every ``<@id>`` and
        ``<@&id>`` in the content, and the author of ``reply_to``, land in ``mentions``.
        """
        sender = self.user(author)
        bot_tag = f"<@{self.bot_user.id}>"
        if mentions_bot and bot_tag not in content and f"<@!{self.bot_user.id}>" not in content:
            content = f"{bot_tag} {content}"
        guild, where, _ = self._place(channel_id, dm, sender)
        referenced = self.messages.get(reply_to) if reply_to is not None else None
        mentioned = [int(i) for i in MENTION_RE.findall(content)]
        if referenced is not None:
            mentioned.append(int(referenced["author"]["id"]))
        mentions = [self._mention_payload(guild, self.user(i)) for i in dict.fromkeys(mentioned)]
        reference = None
        if reply_to is not None:
            reference = {"message_id": str(reply_to), "channel_id": str(where)}
        data = message_payload(
            message_id=self._snowflake(), channel_id=where, author=sender, content=content,
            guild_id=guild.id if guild else None, member=guild.member(sender.id) if guild else None,
            mentions=mentions, mention_roles=[int(r) for r in ROLE_MENTION_RE.findall(content)],
            message_type=19 if reply_to else 0, reference=reference,
            extra={"referenced_message": referenced} if reply_to is not None else None,
        )
        self.messages[int(data["id"])] = data
        mark = len(self.outputs)
        visible = self._as_seen_by_bot(data, dm=guild is None, mentioned=self.bot_user.id in mentioned)
        if visible is not None:
            await self.dispatch("MESSAGE_CREATE", visible, guild_id=guild.id if guild else None)
        return InjectedMessage(
            int(data["id"]), where, guild.id if guild else None, sender.id, content, visible is not None, mark
        )

    async def dispatch(self, event: str, data: JSON, *, guild_id: int | None = None) -> None:
        """Send any gateway event to the session that owns ``guild_id`` (DMs: shard 0).

        While the bot is disconnected the event is kept and replayed when it resumes.
        """
        session = self._session_for(guild_id)
        if session is None:
            raise RuntimeError(f"no gateway session for guild {guild_id}: has the bot connected?")
        await self._dispatch_to(session, event, data)

    def _mention_payload(self, guild: FakeGuild | None, user: FakeUser) -> JSON:
        """A ``mentions`` entry: the user, with their member data in a guild."""
        member = guild.member(user.id) if guild else None
        if member is None and guild is not None and user.id == self.bot_user.id:
            member = self._bot_member(guild)
        data = user_payload(user)
        if member is not None:
            data["member"] = member_payload(member, with_user=False)
        return data

    def _as_seen_by_bot(self, data: JSON, *, dm: bool, mentioned: bool) -> JSON | None:
        """Apply the bot's intents: None if not delivered, content blanked without MESSAGE_CONTENT."""
        session = self._session_for(int(data["guild_id"]) if "guild_id" in data else None)
        intents = session.intents if session else None
        if intents is None:
            return data
        if not intents & (INTENT_DIRECT_MESSAGES if dm else INTENT_GUILD_MESSAGES):
            return None
        own = int(data["author"]["id"]) == self.bot_user.id
        if intents & INTENT_MESSAGE_CONTENT or dm or mentioned or own:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    def _command_data(
        self, name: str, values: Mapping[str, Any], guild: FakeGuild | None, *, focused: str | None
    ) -> JSON:
        """The ``data`` of a command or autocomplete interaction, typed from the synced schema."""
        root, *path = name.split()
        schema, schema_guild = None, None
        for scope in ([guild.id] if guild else []) + [None]:
            schema = next((c for c in self._commands.get(scope, []) if c["name"] == root), None)
            if schema is not None:
                schema_guild = scope
                break
        resolved: JSON = {}
        data: JSON = {
            "id": schema["id"] if schema else str(self._snowflake()),
            "name": root,
            "type": 1,
            "options": self._options(schema.get("options") if schema else None, path, values, focused,
                                     guild, resolved),
        }
        if schema_guild is not None:
            data["guild_id"] = str(schema_guild)
        if resolved:
            data["resolved"] = resolved
        return data

    def _options(
        self, schema: Sequence[JSON] | None, path: Sequence[str], values: Mapping[str, Any],
        focused: str | None, guild: FakeGuild | None, resolved: JSON,
    ) -> list[JSON]:
        """Interaction options: nested subcommand levels for ``path``, then the values."""
        if path:
            spec = next((o for o in schema or [] if o["name"] == path[0]), None)
            kind = spec["type"] if spec else (2 if len(path) > 1 else 1)
            inner = self._options(spec.get("options") if spec else None, path[1:], values, focused, guild,
                                  resolved)
            return [{"name": path[0], "type": kind, "options": inner}]
        out = []
        for key, value in values.items():
            spec = next((o for o in schema or [] if o["name"] == key), None)
            option = self._option(key, value, spec["type"] if spec else None, guild, resolved)
            if key == focused:
                option["focused"] = True
            out.append(option)
        return out

    def _option(self, name: str, value: Any, hint: int | None, guild: FakeGuild | None, resolved: JSON) -> JSON:
        """One typed option value, adding users, members, roles and channels to ``resolved``."""
        kinds: list[tuple[type, int]] = [(FakeUser, 6), (FakeChannel, 7), (FakeRole, 8), (bool, 5), (int, 4),
                                         (float, 10), (FakeAttachment, 11)]
        kind = hint if hint is not None else next((k for t, k in kinds if isinstance(value, t)), 3)
        if isinstance(value, FakeAttachment):
            attachment_id = self._snowflake()
            self._uploads[attachment_id] = value
            url = f"{self.base_url}/attachments/0/{attachment_id}/{urllib.parse.quote(value.filename, safe='')}"
            resolved.setdefault("attachments", {})[str(attachment_id)] = attachment_payload(attachment_id, value, url)
            return {"name": name, "type": kind, "value": str(attachment_id)}
        if isinstance(value, FakeUser | FakeChannel | FakeRole):
            value = value.id
        if kind in (6, 7, 8, 9) and isinstance(value, int):
            self._resolve(kind, value, guild, resolved)
            value = str(value)
        return {"name": name, "type": kind, "value": value}

    def _resolve(self, kind: int, target: int, guild: FakeGuild | None, resolved: JSON) -> None:
        """Fill ``resolved`` for a user (6), channel (7), role (8) or mentionable (9) option."""
        role = guild.role(target) if guild else None
        if kind == 8 or (kind == 9 and role is not None):
            if role is not None:
                resolved.setdefault("roles", {})[str(target)] = role_payload(role)
        elif kind == 7:
            found = self._guild_of_channel(target)
            if found is not None:
                channel = {**channel_payload(found[1], found[0].id), "permissions": str(DEFAULT_PERMISSIONS)}
                resolved.setdefault("channels", {})[str(target)] = channel
        else:
            user = self.user(target)
            resolved.setdefault("users", {})[str(target)] = user_payload(user)
            member = guild.member(target) if guild else None
            if member is not None and guild is not None:
                permissions = self._member_permissions(guild, user)
                data = member_payload(member, with_user=False, permissions=permissions)
                resolved.setdefault("members", {})[str(target)] = data

    def _message_with(self, custom_id: str) -> JSON | None:
        """The newest bot message whose components include ``custom_id``."""
        for message in reversed(list(self.messages.values())):
            found: list[JSON] = []
            _walk_components(message.get("components") or [], found.append)
            if any(c.get("custom_id") == custom_id for c in found):
                return message
        return None

    # --- waiting ------------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake every waiter so it re-checks its condition."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """Return ``check()``'s first non-None value, or raise TimeoutError with a diagnosis."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fake Discord: no {what} within {timeout}s\n{self.describe()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_for_output(
        self, predicate: Callable[[SentMessage], bool] | None = None, *, since: int = 0, timeout: float = 5.0
    ) -> SentMessage:
        """The first output at index ``since`` or later matching ``predicate``, waiting if needed."""
        def check() -> SentMessage | None:
            return next((o for o in self.outputs[since:] if predicate is None or predicate(o)), None)

        return await self._wait_until(check, timeout, "matching bot output")

    async def wait_for_reply(
        self,
        to: InjectedInteraction | InjectedMessage,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        timeout: float = 5.0,
    ) -> SentMessage:
        """The first output answering an injected interaction, or in the channel after an injected message.

        Without a ``predicate``, a bare "thinking…" deferral and a deletion are not answers: the reply is the
        first output that says something (pass a predicate, or read ``outputs_for``, to see those).
        """
        if predicate is None:
            predicate = says_something
        if isinstance(to, InjectedInteraction):
            def related(o: SentMessage) -> bool:
                return o.interaction_id == to.id
            since = 0
        else:
            def related(o: SentMessage) -> bool:
                return o.channel_id == to.channel_id
            since = to.output_mark
        return await self.wait_for_output(lambda o: related(o) and predicate(o), since=since, timeout=timeout)

    def outputs_for(self, to: InjectedInteraction | InjectedMessage) -> list[SentMessage]:
        """Every output so far that answers this interaction, or follows this message in its channel."""
        if isinstance(to, InjectedInteraction):
            return [o for o in self.outputs if o.interaction_id == to.id]
        return [o for o in self.outputs[to.output_mark:] if o.channel_id == to.channel_id]

    async def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], *, since: int = 0, timeout: float = 5.0
    ) -> RecordedRequest:
        """The first REST request at index ``since`` or later matching ``predicate``."""
        def check() -> RecordedRequest | None:
            return next((r for r in self.requests[since:] if predicate(r)), None)

        return await self._wait_until(check, timeout, "matching REST request")

    async def wait_until_connected(self, timeout: float = 5.0) -> None:
        """Wait until the bot's gateway connection has identified or resumed."""
        await self._wait_until(lambda: True if self.connected else None, timeout, "gateway connection")

    def describe(self) -> str:
        """A short account of recent traffic, for failure messages."""
        lines = [f"connected={self.connected} identifies={len(self.identifies)} resumes={len(self.resumes)}"]
        lines += [f"  output {o.kind} {o.route} content={o.content!r:.80}" for o in self.outputs[-8:]]
        lines += [f"  error {r.method} {r.path} -> {r.status} {r.response!r:.120}"
                  for r in self.requests if r.status >= 400][-8:]
        lines += [f"  unknown route {r.method} {r.path}" for r in self.unknown_routes[-8:]]
        return "\n".join(lines)

    # --- fault injection ----------------------------------------------------------------------

    def fail_next(
        self,
        route_substring: str,
        status: int = 429,
        *,
        retry_after: float = 0.1,
        times: int = 1,
        is_global: bool = False,
        code: int = 0,
    ) -> None:
        """Fail the next ``times`` requests whose "METHOD /path" contains ``route_substring``.

        429 carries Discord's body (``retry_after``, ``global``) and headers (``Retry-After``,
        ``X-RateLimit-*``, and ``Via``, without which discord.py takes a 429 for a Cloudflare ban
        and does not retry); other statuses carry ``{"message", "code"}``. discord.py retries a
        429 after ``retry_after`` and a 500/502/504 after 1 s, 3 s, ... (5 tries); it raises on
        others. Be specific: "POST /channels/" also matches the typing indicator.
        """
        self._failures.append(_Failure(route_substring, status, retry_after, times, is_global, code))

    def hold(self, route_substring: str) -> Hold:
        """Keep requests whose "METHOD /path" contains ``route_substring`` unanswered until ``release()``.

        The bot's requests stay in flight as long as the test wants (a slow network, deterministically);
        interaction deadlines count from a request's arrival, so a hold never makes it late.
        """
        gate = Hold(self, route_substring)
        self._holds.append(gate)
        return gate

    async def drop_gateway(self, code: int = 4000, *, resumable: bool = True) -> None:
        """Close the gateway websocket(s) with ``code``; the client reconnects and resumes.

        With ``resumable=False`` the sessions are forgotten: the RESUME gets op 9 (invalid
        session) and the client identifies afresh (a new READY). Codes 4004 and 4010-4014 are
        fatal to discord.py, so it will not reconnect after them.
        """
        connections = list(self._connections)
        for conn in connections:
            conn.ready = False
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
        if not resumable:
            self._sessions.clear()
        self._notify()
        await asyncio.gather(*(c.ws.close(code=code) for c in connections), return_exceptions=True)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT, which makes the client close and resume."""
        await asyncio.gather(*(c.send({"op": 7, "d": None, "s": None, "t": None}) for c in self._connections))

    def _take_failure(self, request: _Request) -> _Reply | None:
        """The injected failure for this request, if one is armed."""
        target = f"{request.method} {request.path}"
        failure = next((f for f in self._failures if f.substring in target), None)
        if failure is None:
            return None
        failure.times -= 1
        if failure.times <= 0:
            self._failures.remove(failure)
        if failure.status != 429:
            return _error(failure.status, failure.code, f"{failure.status}: fake failure")
        headers = {
            "Retry-After": str(max(1, math.ceil(failure.retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
            "X-RateLimit-Bucket": "fake" + secrets.token_hex(8),
            "X-RateLimit-Scope": "global" if failure.is_global else "user",
            "Via": "1.1 google",
        }
        if failure.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": failure.retry_after,
                "global": failure.is_global, "code": failure.code}
        return _Reply(429, body, headers)

    # --- REST ---------------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Callable[[_Request, re.Match[str]], Awaitable[_Reply]]]]:
        """(method, path pattern, handler) for every route the fake implements."""
        message = r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)"
        table = [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/users/(\d+)", self._get_user),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", r"/applications/(\d+)/commands", self._get_commands),
            ("PUT", r"/applications/(\d+)/commands", self._put_commands),
            ("GET", r"/applications/(\d+)/guilds/(\d+)/commands", self._get_commands),
            ("PUT", r"/applications/(\d+)/guilds/(\d+)/commands", self._put_commands),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._interaction_callback),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._create_followup),
            ("GET", message, self._get_webhook_message),
            ("PATCH", message, self._edit_webhook_message),
            ("DELETE", message, self._delete_webhook_message),
            ("GET", r"/channels/(\d+)", self._get_channel),
            ("POST", r"/channels/(\d+)/typing", self._typing),
            ("POST", r"/channels/(\d+)/messages", self._create_message),
            ("GET", r"/channels/(\d+)/messages/(\d+)", self._get_message),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", self._edit_message),
            ("DELETE", r"/channels/(\d+)/messages/(\d+)", self._delete_message),
            ("PUT", r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", self._add_reaction),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in table]

    async def _cdn(self, request: web.Request) -> web.Response:
        """Serve an attached file's bytes (recorded like a REST request, so a test sees what was downloaded)."""
        upload = self._uploads.get(int(request.match_info["id"])) if request.match_info["id"].isdigit() else None
        status = 200 if upload is not None else 404
        self.requests.append(RecordedRequest("GET", request.path, dict(request.query), None, dict(request.headers),
                                             (), status, None))
        self._notify()
        if upload is None:
            return web.Response(status=404)
        return web.Response(body=upload.content, content_type=upload.content_type or "application/octet-stream")

    async def _rest(self, request: web.Request) -> web.Response:
        """Parse, authorise, fail on demand, route, and record one REST request."""
        prefix = "/api/v10"
        path = request.path[len(prefix):] if request.path.startswith(prefix + "/") else request.path
        parsed = await _read_request(request, path)
        target = f"{parsed.method} {path}"
        gate = next((h for h in self._holds if h.matches(target)), None)
        if gate is not None:
            await gate.keep(target)
        route = None
        if request.path.startswith(prefix + "/"):
            route = next(((h, m) for meth, pat, h in self._routes
                          if meth == parsed.method and (m := pat.fullmatch(path))), None)
        unknown = route is None
        if route is None:
            reply = _error(404, 0, f"404: Not Found (the fake has no route {parsed.method} {path})")
        else:
            authorization = request.headers.get("Authorization")
            reply = (self._take_failure(parsed) or self._check_auth(parsed, authorization)
                     or await route[0](parsed, route[1]))
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        record = RecordedRequest(parsed.method, path, parsed.query, parsed.json, headers, parsed.files,
                                 reply.status, reply.body)
        self.requests.append(record)
        if unknown:
            self.unknown_routes.append(record)
        self._notify()
        return _http_response(reply)

    def _check_auth(self, request: _Request, authorization: str | None) -> _Reply | None:
        """401 when a bot-authenticated route lacks the right ``Bot <token>`` header."""
        if request.path.startswith(("/interactions/", "/webhooks/")):
            return None
        if authorization is None or not authorization.startswith("Bot "):
            return _error(401, 0, "401: Unauthorized")
        if self.token is not None and authorization != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        return None

    async def _get_me(self, request: _Request, match: re.Match[str]) -> _Reply:
        """The bot's own user."""
        return _Reply(200, {**user_payload(self.bot_user), "verified": True, "mfa_enabled": False, "flags": 0})

    async def _get_user(self, request: _Request, match: re.Match[str]) -> _Reply:
        """A known user."""
        user = self._users.get(int(match[1]))
        return _Reply(200, user_payload(user)) if user else _error(404, 10013, "Unknown User")

    async def _get_application(self, request: _Request, match: re.Match[str]) -> _Reply:
        """The bot's application (discord.py takes the application id from here)."""
        return _Reply(200, app_info_payload(self.application_id, self.bot_user, self.owner))

    async def _get_gateway(self, request: _Request, match: re.Match[str]) -> _Reply:
        """The gateway URL (for ``/gateway/bot`` with the shard count and session limits)."""
        body: JSON = {"url": self.gateway_url}
        if request.path.endswith("/bot"):
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            body.update(shards=1, session_start_limit=limit)
        return _Reply(200, body)

    async def _create_dm(self, request: _Request, match: re.Match[str]) -> _Reply:
        """Open (or return) the DM channel with ``recipient_id``."""
        user = self.user(int((request.json or {}).get("recipient_id", 0)))
        return _Reply(200, dm_channel_payload(self.dm_channel_id(user.id), user))

    async def _get_channel(self, request: _Request, match: re.Match[str]) -> _Reply:
        """A guild or DM channel."""
        channel_id = int(match[1])
        if channel_id in self._dm_owner:
            return _Reply(200, dm_channel_payload(channel_id, self.user(self._dm_owner[channel_id])))
        found = self._guild_of_channel(channel_id)
        if found is None:
            return _error(404, 10003, "Unknown Channel")
        return _Reply(200, channel_payload(found[1], found[0].id))

    async def _typing(self, request: _Request, match: re.Match[str]) -> _Reply:
        """Typing indicator: accepted and ignored."""
        return _Reply(204)

    async def _get_commands(self, request: _Request, match: re.Match[str]) -> _Reply:
        """The synced commands, global or of one guild."""
        if int(match[1]) != self.application_id:
            return _error(403, 50001, "Missing Access")
        guild_id = int(match[2]) if match.lastindex and match.lastindex >= 2 else None
        return _Reply(200, self.commands(guild_id))

    async def _put_commands(self, request: _Request, match: re.Match[str]) -> _Reply:
        """Bulk-overwrite commands; ids survive for names synced before, as on Discord."""
        if int(match[1]) != self.application_id:
            return _error(403, 50001, "Missing Access")
        guild_id = int(match[2]) if match.lastindex and match.lastindex >= 2 else None
        body = request.json if isinstance(request.json, list) else []
        errors = commands_errors(body)
        if errors:
            return _Reply(400, invalid_form_body(errors))
        old = {(c["name"], c.get("type", 1)): c["id"] for c in self._commands.get(guild_id, [])}
        stored = []
        for command in body:
            kind = command.get("type", 1)
            entry = {"description": "", "options": [], "default_member_permissions": None, "nsfw": False,
                     **command, "type": kind, "application_id": str(self.application_id),
                     "id": old.get((command["name"], kind)) or str(self._snowflake()),
                     "version": str(self._snowflake())}
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        self._commands[guild_id] = stored
        return _Reply(200, stored)

    # --- interactions -------------------------------------------------------------------------

    async def _interaction_callback(self, request: _Request, match: re.Match[str]) -> _Reply:
        """The first response to an interaction, with the ``InteractionCallbackResponse`` discord.py parses."""
        state = self._interactions.get(match[2])
        if state is None or state.injected.id != int(match[1]):
            return _error(404, 10062, "Unknown interaction")
        if state.acked is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if self.interaction_timeout is not None and request.arrived - state.created > self.interaction_timeout:
            return _error(404, 10062, "Unknown interaction")
        body = request.json if isinstance(request.json, dict) else {}
        kind, data = int(body.get("type", 0)), body.get("data") or {}
        if kind not in ALLOWED_CALLBACKS.get(state.injected.type, set()):
            return _error(400, 50035, f"Invalid callback type {kind} for interaction type {state.injected.type}")
        errors = choices_errors(data.get("choices") or []) if kind == 8 else {}
        if kind in (4, 7):
            errors = message_errors(data, has_files=bool(request.files), creating=kind == 4)
        if errors:
            return _Reply(400, invalid_form_body(errors))
        state.acked = kind
        message = self._apply_callback(state, kind, data, request.files)
        self._record("callback", request, data, message=message, state=state, callback_type=kind)
        if kind == 4 and message is not None:
            await self._echo(message)
        flags = int(message["flags"]) if message else int(data.get("flags") or 0)
        summary: JSON = {"id": str(state.injected.id), "type": state.injected.type,
                         "response_message_loading": kind == 5, "response_message_ephemeral": bool(flags & EPHEMERAL)}
        answer: JSON = {"interaction": summary, "resource": {"type": kind}}
        if message is not None:
            summary["response_message_id"] = message["id"]
            answer["resource"]["message"] = message
        return _Reply(200, answer)

    def _apply_callback(self, state: _Interaction, kind: int, data: JSON, files: Sequence[SentFile]) -> JSON | None:
        """Create or update the message a callback produces (none for autocomplete or modals)."""
        if kind in (4, 5):
            flags = int(data.get("flags") or 0)
            if kind == 5:
                flags = (flags & EPHEMERAL) | LOADING
                data = {}
            message = self._interaction_message(state, data, files, flags)
            state.original_id, state.loading = int(message["id"]), kind == 5
            return message
        if kind in (6, 7) and state.message_id is not None:
            state.original_id = state.message_id
            updated = self.messages.get(state.message_id)
            if updated is not None and kind == 7:
                self._apply_edit(updated, data, files)
            return updated
        return None

    def _interaction_message(self, state: _Interaction, body: JSON, files: Sequence[SentFile], flags: int) -> JSON:
        """A new message sent through an interaction's webhook."""
        injected = state.injected
        owners = {"0": str(injected.guild_id)} if injected.guild_id else {"1": str(injected.user_id)}
        metadata = {"id": str(injected.id), "type": injected.type, "user": user_payload(state.user),
                    "authorizing_integration_owners": owners}
        extra = {"webhook_id": str(self.application_id), "application_id": str(self.application_id),
                 "interaction_metadata": metadata}
        message = self._bot_message(injected.channel_id, injected.guild_id, body, files, flags,
                                    message_type=20 if injected.type == 2 else 0, extra=extra)
        state.message_ids.add(int(message["id"]))
        return message

    def _webhook_state(self, match: re.Match[str]) -> _Interaction | None:
        """The interaction whose webhook (application id, token) a route names, once acknowledged."""
        state = self._interactions.get(match[2])
        if int(match[1]) != self.application_id or state is None or state.acked is None:
            return None
        return state

    async def _create_followup(self, request: _Request, match: re.Match[str]) -> _Reply:
        """A follow-up; the first one after a deferral fills the "thinking" message and keeps its ephemerality."""
        state = self._webhook_state(match)
        if state is None:
            return _error(404, 10015, "Unknown Webhook")
        body = request.json if isinstance(request.json, dict) else {}
        errors = message_errors(body, has_files=bool(request.files), creating=True)
        if errors:
            return _Reply(400, invalid_form_body(errors))
        original = self.messages.get(state.original_id or 0)
        if state.loading and original is not None:
            state.loading = False
            self._apply_edit(original, body, request.files)
            message = original
        else:
            message = self._interaction_message(state, body, request.files, int(body.get("flags") or 0))
            await self._echo(message)
        self._record("followup", request, body, message=message, state=state)
        if request.query.get("wait", "").lower() in ("true", "1"):
            return _Reply(200, message)
        return _Reply(204)

    def _webhook_message(self, match: re.Match[str]) -> tuple[_Interaction | None, JSON | None]:
        """The interaction and the message (``@original`` or a follow-up id) a webhook route names."""
        state = self._webhook_state(match)
        if state is None:
            return None, None
        message_id = state.original_id if match[3] == "@original" else int(match[3])
        if message_id is None or (match[3] != "@original" and message_id not in state.message_ids):
            return state, None
        return state, self.messages.get(message_id)

    async def _get_webhook_message(self, request: _Request, match: re.Match[str]) -> _Reply:
        """The original response or a follow-up."""
        state, message = self._webhook_message(match)
        if state is None:
            return _error(404, 10015, "Unknown Webhook")
        return _Reply(200, message) if message else _error(404, 10008, "Unknown Message")

    async def _edit_webhook_message(self, request: _Request, match: re.Match[str]) -> _Reply:
        """Edit the original response (ending a deferral) or a follow-up."""
        state, message = self._webhook_message(match)
        if state is None:
            return _error(404, 10015, "Unknown Webhook")
        if message is None:
            return _error(404, 10008, "Unknown Message")
        body = request.json if isinstance(request.json, dict) else {}
        errors = message_errors(body, has_files=bool(request.files), creating=False)
        if errors:
            return _Reply(400, invalid_form_body(errors))
        if int(message["id"]) == state.original_id:
            state.loading = False
        self._apply_edit(message, body, request.files)
        kind = "edit_original" if match[3] == "@original" else "edit_followup"
        self._record(kind, request, body, message=message, state=state)
        return _Reply(200, message)

    async def _delete_webhook_message(self, request: _Request, match: re.Match[str]) -> _Reply:
        """Delete the original response or a follow-up."""
        state, message = self._webhook_message(match)
        if state is None:
            return _error(404, 10015, "Unknown Webhook")
        if message is None:
            return _error(404, 10008, "Unknown Message")
        self.messages.pop(int(message["id"]), None)
        kind = "delete_original" if match[3] == "@original" else "delete_followup"
        self._record(kind, request, {}, message=message, state=state)
        return _Reply(204)

    # --- channel messages ---------------------------------------------------------------------

    async def _create_message(self, request: _Request, match: re.Match[str]) -> _Reply:
        """A message in a guild channel (the bot needs View Channel and Send Messages) or a DM."""
        channel_id = int(match[1])
        guild_id: int | None = None
        if channel_id not in self._dm_owner:
            found = self._guild_of_channel(channel_id)
            if found is None:
                return _error(404, 10003, "Unknown Channel")
            guild_id = found[0].id
            needed = VIEW_CHANNEL | SEND_MESSAGES
            if self._member_permissions(found[0], self.bot_user) & needed != needed:
                return _error(403, 50013, "Missing Permissions")
        body = request.json if isinstance(request.json, dict) else {}
        errors = message_errors(body, has_files=bool(request.files), creating=True)
        if errors:
            return _Reply(400, invalid_form_body(errors))
        reference = body.get("message_reference")
        message = self._bot_message(channel_id, guild_id, body, request.files, int(body.get("flags") or 0),
                                    message_type=19 if reference else 0)
        self._record("channel_message", request, body, message=message)
        await self._echo(message)
        return _Reply(200, message)

    def _channel_message(self, match: re.Match[str]) -> JSON | None:
        """The stored message a ``/channels/{id}/messages/{id}`` route names."""
        message = self.messages.get(int(match[2]))
        return message if message is not None and message["channel_id"] == match[1] else None

    async def _get_message(self, request: _Request, match: re.Match[str]) -> _Reply:
        """A stored message."""
        message = self._channel_message(match)
        return _Reply(200, message) if message else _error(404, 10008, "Unknown Message")

    async def _edit_message(self, request: _Request, match: re.Match[str]) -> _Reply:
        """Edit one of the bot's own messages."""
        message = self._channel_message(match)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if int(message["author"]["id"]) != self.bot_user.id:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        body = request.json if isinstance(request.json, dict) else {}
        errors = message_errors(body, has_files=bool(request.files), creating=False)
        if errors:
            return _Reply(400, invalid_form_body(errors))
        self._apply_edit(message, body, request.files)
        self._record("edit_message", request, body, message=message)
        return _Reply(200, message)

    async def _delete_message(self, request: _Request, match: re.Match[str]) -> _Reply:
        """Delete a message."""
        message = self._channel_message(match)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        self.messages.pop(int(message["id"]), None)
        self._record("delete_message", request, {}, message=message)
        return _Reply(204)

    async def _add_reaction(self, request: _Request, match: re.Match[str]) -> _Reply:
        """The bot reacts to a message; recorded as an output whose content is the emoji."""
        message = self._channel_message(match)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        self._record("reaction", request, {"content": match[3]}, message=message)
        return _Reply(204)

    def _bot_message(
        self, channel_id: int, guild_id: int | None, body: JSON, files: Sequence[SentFile], flags: int, *,
        message_type: int = 0, extra: JSON | None = None,
    ) -> JSON:
        """Store and return a new message authored by the bot, built from a request body."""
        message_id = self._snowflake()
        reference = body.get("message_reference")
        extra = dict(extra or {})
        if reference:
            extra["referenced_message"] = self.messages.get(int(reference.get("message_id", 0)))
        message = message_payload(
            message_id=message_id, channel_id=channel_id, author=self.bot_user,
            content=body.get("content") or "", guild_id=guild_id, embeds=body.get("embeds") or [],
            components=body.get("components") or [], flags=flags, message_type=message_type,
            attachments=[self._attachment(channel_id, f) for f in files], reference=reference, extra=extra,
        )
        self.messages[message_id] = message
        return message

    def _attachment(self, channel_id: int, file: SentFile) -> JSON:
        """The attachment object for an uploaded file."""
        attachment_id = self._snowflake()
        url = f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{file.filename}"
        self._uploads[attachment_id] = FakeAttachment(file.filename, file.content, file.content_type)
        return {"id": str(attachment_id), "filename": file.filename, "size": len(file.content), "url": url,
                "proxy_url": url, "content_type": file.content_type}

    def _apply_edit(self, message: JSON, body: JSON, files: Sequence[SentFile]) -> None:
        """Apply an edit body to a stored message (ephemerality cannot change; loading ends)."""
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ("" if key == "content" else [])
        if files:
            message["attachments"] = [self._attachment(int(message["channel_id"]), f) for f in files]
        elif "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or []}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in keep]
        flags = int(body["flags"] or 0) if "flags" in body else int(message["flags"])
        message["flags"] = (int(message["flags"]) & EPHEMERAL) | (flags & ~(EPHEMERAL | LOADING))
        message["edited_timestamp"] = now_iso()

    async def _echo(self, message: JSON) -> None:
        """Send MESSAGE_CREATE for a new, non-ephemeral bot message, as Discord does."""
        if not self.echo_messages or int(message["flags"]) & EPHEMERAL:
            return
        guild_id = int(message["guild_id"]) if "guild_id" in message else None
        guild = self._guild(guild_id)
        data = dict(message)
        if guild is not None:
            data["member"] = member_payload(self._bot_member(guild), with_user=False)
        visible = self._as_seen_by_bot(data, dm=guild is None, mentioned=False)
        if visible is not None and self._session_for(guild_id) is not None:
            await self.dispatch("MESSAGE_CREATE", visible, guild_id=guild_id)

    def _record(
        self, kind: str, request: _Request, data: JSON, *, message: JSON | None = None,
        state: _Interaction | None = None, callback_type: int | None = None,
    ) -> None:
        """Append one ``SentMessage`` and wake the waiters."""
        injected = state.injected if state else None
        channel_id = int(message["channel_id"]) if message else (injected.channel_id if injected else None)
        guild_id = int(message["guild_id"]) if message and "guild_id" in message else None
        if injected is not None:
            guild_id = injected.guild_id
        reference = data.get("message_reference") or {}
        self.outputs.append(SentMessage(
            kind=kind,
            route=f"{request.method} {request.path}",
            interaction_id=injected.id if injected else None,
            channel_id=channel_id,
            guild_id=guild_id,
            message_id=int(message["id"]) if message else None,
            callback_type=callback_type,
            content=data.get("content"),
            embeds=tuple(data.get("embeds") or ()),
            components=tuple(data.get("components") or ()),
            flags=int(message["flags"]) if message else int(data.get("flags") or 0),
            allowed_mentions=data.get("allowed_mentions"),
            choices=tuple(data["choices"]) if "choices" in data else None,
            reply_to=int(reference["message_id"]) if reference.get("message_id") else None,
            files=tuple(request.files),
            body=request.json,
        ))
        self._notify()

    # --- gateway ------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """One gateway connection: HELLO, then IDENTIFY or RESUME, heartbeats, until closed."""
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=0)
        await ws.prepare(request)
        conn = _Connection(ws)
        self._connections.add(conn)
        try:
            hello = {"heartbeat_interval": int(self.heartbeat_interval * 1000)}
            await conn.send({"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
        finally:
            self._connections.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            self._notify()
        return ws

    async def _on_frame(self, conn: _Connection, frame: JSON) -> None:
        """Handle one client frame: heartbeat, identify, resume, member request; others are recorded."""
        self.gateway_frames.append(frame)
        op, data = frame.get("op"), frame.get("d")
        if op == 1:
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:
            await self._send_members(conn, data or {})

    async def _identify(self, conn: _Connection, data: JSON) -> None:
        """Start a session: READY, then GUILD_CREATE for each guild of the shard."""
        if self.token is not None and data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identifies.append(data)
        shard_id, shard_count = data.get("shard") or (0, 1)
        session = _Session(secrets.token_hex(16), (shard_id, shard_count), data.get("intents"))
        for old in [s for s in self._sessions.values() if s.shard[0] == shard_id]:
            del self._sessions[old.id]
        self._sessions[session.id] = session
        guilds = [g for g in self.guilds if (g.id >> 22) % shard_count == shard_id]
        ready = ready_payload(self.bot_user, [g.id for g in guilds], session.id, self.gateway_url,
                              self.application_id, (shard_id, shard_count))
        await self._dispatch_to(session, "READY", ready)
        for guild in guilds:
            all_members = session.intents is None or bool(session.intents & INTENT_GUILD_MEMBERS)
            payload = guild_create_payload(guild, self._bot_member(guild), all_members=all_members)
            await self._dispatch_to(session, "GUILD_CREATE", payload)
        await self._catch_up(conn, session, 0)

    async def _resume(self, conn: _Connection, data: JSON) -> None:
        """Resume a known session (replaying missed events, then RESUMED), else op 9."""
        session = self._sessions.get(data.get("session_id", ""))
        if session is None or (self.token is not None and data.get("token") != self.token):
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes.append(data)
        await self._dispatch_to(session, "RESUMED", {})
        await self._catch_up(conn, session, int(data.get("seq") or 0))

    async def _catch_up(self, conn: _Connection, session: _Session, after: int) -> None:
        """Send the session's frames after ``after`` in order, then make ``conn`` its live connection."""
        sent = after
        while pending := [f for f in session.frames if f["s"] > sent]:
            for frame in pending:
                if not await conn.send(frame):
                    return
                sent = frame["s"]
        # No await between the last check and here, so no frame can slip in unsent.
        if session.conn is not None and session.conn is not conn:
            session.conn.ready = False
        session.conn, conn.session, conn.ready = conn, session, True
        self._notify()

    async def _send_members(self, conn: _Connection, data: JSON) -> None:
        """Answer op 8 REQUEST_GUILD_MEMBERS with one GUILD_MEMBERS_CHUNK per guild."""
        guild_ids = data.get("guild_id") or []
        for guild_id in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
            guild = self._guild(int(guild_id))
            if guild is None or conn.session is None:
                continue
            members = [m for m in guild.members if m.user.id != self.bot_user.id] + [self._bot_member(guild)]
            chunk = {"guild_id": str(guild.id), "members": [member_payload(m) for m in members],
                     "chunk_index": 0, "chunk_count": 1, "not_found": [], "nonce": data.get("nonce")}
            await self._dispatch_to(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    def _session_for(self, guild_id: int | None) -> _Session | None:
        """The newest session whose shard owns ``guild_id`` (shard 0 for DMs)."""
        for session in reversed(list(self._sessions.values())):
            shard_id, shard_count = session.shard
            if (0 if guild_id is None else (guild_id >> 22) % shard_count) == shard_id:
                return session
        return None

    async def _dispatch_to(self, session: _Session, event: str, data: JSON) -> None:
        """Number and keep a dispatch frame, and send it if the session is connected."""
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.frames.append(frame)
        del session.frames[:-1000]
        if session.conn is not None:
            await session.conn.send(frame)


async def _read_request(request: web.Request, path: str) -> _Request:
    """The method, path, query, JSON body (plain or multipart ``payload_json``) and files of a request."""
    body: Any = None
    files: list[SentFile] = []
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files.append(SentFile(value.filename, value.file.read(), value.content_type))
            elif name == "payload_json":
                body = json.loads(value)
    elif request.can_read_body:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
    return _Request(request.method, path, dict(request.query), body, tuple(files), asyncio.get_running_loop().time())


@contextlib.contextmanager
def point_discord_py_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at ``fake`` inside the block, then restore them."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def run_bot(bot: discord.Client, token: str = "fake-token", *, timeout: float = 10.0) -> AsyncIterator[None]:
    """Start ``bot``, wait until it is ready, and on exit close it and wait for (or cancel) its tasks."""
    task = asyncio.create_task(bot.start(token), name="fake-discord: bot.start")
    body_done = False
    try:
        await _wait_ready(bot, task, timeout)
        yield
        body_done = True
    finally:
        await bot.close()
        error = await _finish(task, timeout)
        await _drain_discord_tasks(grace=2.0)
        if body_done and error is not None:
            raise error


async def _wait_ready(bot: discord.Client, task: asyncio.Task[None], timeout: float) -> None:
    """Wait for ``bot.is_ready()``, failing fast if ``bot.start`` ends first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not bot.is_ready():
        if task.done():
            task.result()
            raise RuntimeError("bot.start() returned before the bot was ready")
        if loop.time() > deadline:
            raise TimeoutError(f"the bot was not ready within {timeout}s")
        await asyncio.sleep(0.01)


async def _finish(task: asyncio.Task[None], timeout: float) -> BaseException | None:
    """Wait for ``bot.start`` to return after close; its exception, if any."""
    try:
        await asyncio.wait_for(task, timeout)
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
    except Exception as exc:
        return exc
    return None


async def _drain_discord_tasks(grace: float) -> None:
    """Let discord.py's own tasks (events, commands, views) finish, cancelling any still running."""
    root = os.path.dirname(discord.__file__)
    current = asyncio.current_task()

    def is_discords(task: asyncio.Task[Any]) -> bool:
        code = getattr(task.get_coro(), "cr_code", None)
        return code is not None and code.co_filename.startswith(root)

    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done() and is_discords(t)]
    if not pending:
        return
    _, still = await asyncio.wait(pending, timeout=grace)
    for task in still:
        task.cancel()
    await asyncio.gather(*still, return_exceptions=True)
