"""The components under answers: the persistent 👍/👎 feedback buttons, and the answer to a stale click."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from . import render_discord as render

if TYPE_CHECKING:
    from .discord_client import QABot

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


def bot_of(interaction: discord.Interaction[Any]) -> QABot:
    """The bot a click came to: discord.py types a component's interaction for any client."""
    return cast("QABot", interaction.client)


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
        """The button a click names; a malformed id gives a button that answers "stale"."""
        parsed = parse_feedback_id(match[0])
        return cls(*parsed) if parsed else cls("", 0, custom_id=match[0])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Record the vote (one per member and answer) and thank the member privately."""
        bot = bot_of(interaction)
        if not self.question_id:
            await interaction.response.send_message(STALE_BUTTON, ephemeral=True)
            return
        try:
            ok = await bot.service.feedback(self.question_id, str(interaction.user.id),
                                            1 if self.value == "up" else -1)
            text = "Thanks for the feedback!" if ok else "That answer is no longer on record."  # ours: as is
        except Exception as exc:
            text = render.error_message(bot.explain(exc, "feedback"))
        await interaction.response.send_message(text, ephemeral=True)


def feedback_view(question_id: int) -> discord.ui.View:
    """The buttons under an answer."""
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton("up", question_id))
    view.add_item(FeedbackButton("down", question_id))
    return view


def _on_message(message: discord.Message | None, custom_id: str) -> bool:
    """Whether a component with this custom id is on the message (where discord.py looks for it)."""
    if message is None:
        return False
    view = discord.ui.View.from_message(message, timeout=None)
    return any(getattr(item, "custom_id", None) == custom_id for item in view.walk_children())


async def answer_stale_click(interaction: discord.Interaction[Any]) -> None:
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
