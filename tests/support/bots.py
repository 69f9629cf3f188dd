"""The real bot in this process against the fake Discord: the client, its settings, and how tests ask it."""

from __future__ import annotations

from bot.config import Settings
from bot.discord_client import QABot
from tests.support.fake_discord import FakeDiscord, SentMessage
from tests.support.fake_discord_payloads import ALICE


class TestBot(QABot):
    """The real bot with discord.py's 5-second pause before re-identifying removed."""

    __test__ = False

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No pacing against the fake."""


def settings_for(fake: FakeDiscord) -> Settings:
    """Settings as a server admin would write them, aimed at the fake."""
    return Settings(token="fake-token", dev_guild=fake.guild.id, cooldown_seconds=0, api_base=fake.api_base,
                    gateway_url=fake.gateway_url)


async def ask(fake: FakeDiscord, question: str = "Who is Steve Witkoff?") -> str:
    """Ask by slash command and return the reply's text."""
    asked = await fake.send_interaction("ask", {"question": question}, user=ALICE)
    return (await fake.wait_for_reply(asked, timeout=15)).text


def final(output: SentMessage) -> bool:
    """Any output but the "thinking…" deferral."""
    return output.kind != "callback" or output.callback_type != 5
