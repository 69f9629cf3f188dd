"""The one ask path on Discord: `/ask`, mentions, DMs and answer channels all come through `answer`."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from . import render_discord as render
from .discord_components import feedback_view
from .discord_policy import wait_text

if TYPE_CHECKING:
    from .discord_client import QABot

log = logging.getLogger(__name__)

WAIT_REACTION = "⏳"
_DISCORD_MARKUP = re.compile(r"<a?:\w+:\d+>|<@[!&]?\d+>|<#\d+>|\|\|")


def question_text(content: str) -> str:
    """A message's question without Discord markup: mentions, channel links, custom emoji, spoilers."""
    return " ".join(_DISCORD_MARKUP.sub(" ", content).split())


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asks, where, and how: the conversation a follow-up belongs to, and the collection to answer from."""

    user_id: int
    channel_id: int
    guild_id: int | None  # None in a DM: the default documents
    via: str  # slash, mention, dm or channel (the question log's column)

    @classmethod
    def of_interaction(cls, interaction: discord.Interaction[Any]) -> Asker:
        """The asker of a slash command."""
        return cls(interaction.user.id, interaction.channel_id or 0, interaction.guild_id, "slash")

    @classmethod
    def of_message(cls, message: discord.Message, via: str) -> Asker:
        """The author of a message."""
        return cls(message.author.id, message.channel.id, message.guild.id if message.guild else None, via)


async def answer(bot: QABot, question: str, asker: Asker) -> dict[str, Any]:
    """The answer to a question, as the keyword arguments of a message: its embed and feedback buttons."""
    asked = await bot.service.ask(question_text(question), f"{asker.channel_id}:{asker.user_id}", asker.via,
                                  str(asker.user_id), str(asker.channel_id), guild=asker.guild_id)
    return {"embed": render.answer_embed(asked.answer), "view": feedback_view(asked.question_id)}


def addressed_via(bot: QABot, message: discord.Message) -> str | None:
    """How a message asks the bot (dm, mention or channel), or None when it does not (bots never do)."""
    if message.author.bot or bot.user is None or message.author.id == bot.user.id:
        return None
    if message.guild is None:
        return "dm"
    if bot.user in message.mentions:
        return "mention"
    return "channel" if message.channel.id in bot.settings.answer_channels else None


async def answer_message(bot: QABot, message: discord.Message, via: str) -> None:
    """Answer one message with a reply; errors become a short reply, never silence."""
    question = question_text(message.content)
    if not question:
        await message.reply("Ask me a question about the documents — or use `/help`.", mention_author=False)
        return
    wait = bot.cooldown.wait_for(message.author.id)
    if wait:
        await _ask_to_wait(bot, message, wait)
        return
    try:
        reply = await answer(bot, question, Asker.of_message(message, via))
    except Exception as exc:
        explained = bot.explain(exc, "answering a message", message.guild.id if message.guild else None)
        await message.reply(render.error_message(explained), mention_author=False)
        return
    await message.reply(mention_author=False, **reply)


async def _ask_to_wait(bot: QABot, message: discord.Message, wait: float) -> None:
    """Tell a member in their cooldown to wait: once a period in words, then with a reaction."""
    notice = bot.cooldown.notice(message.author.id)
    if notice == "reply":
        await message.reply(wait_text(wait), mention_author=False)
    elif notice == "react":
        try:
            await message.add_reaction(WAIT_REACTION)
        except discord.HTTPException as exc:  # e.g. no Add Reactions permission: the reply said it already
            log.debug("could not react to a message in cooldown: %s", exc)
