"""Running the bot: the endpoints it talks to, the service it serves, and a clean stop on SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import discord
import yarl

from retrieval.errors import QAError

from .config import Settings
from .discord_client import QABot
from .service import QAService


def apply_endpoints(settings: Settings) -> None:
    """Point discord.py at a Discord-compatible server when configured (and at the fake in tests)."""
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def run_discord(settings: Settings, sync_only: bool = False) -> int:
    """Run the bot until SIGTERM or Ctrl-C; returns the exit status. One clear line on failure."""
    if not settings.token:
        raise QAError("DISCORD_TOKEN is not set: put it in .env (see .env.example) or the environment.")
    apply_endpoints(settings)
    return asyncio.run(_run(settings, sync_only))


async def _run(settings: Settings, sync_only: bool) -> int:
    """Open the service, start the bot, and close both cleanly on a signal."""
    # `qa-bot sync` logs in only to sync: no folder watcher for that.
    service = await QAService.from_settings(settings, watch=False if sync_only else None)
    bot = QABot(service, settings, sync=sync_only)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
    try:
        if sync_only:
            await bot.login(settings.token or "")  # its setup_hook syncs (forced, as `sync` asks)
            print("Slash commands synced.")
            return 0
        await bot.start(settings.token or "")
        return 0
    except discord.LoginFailure:
        raise QAError("Discord rejected the token: check DISCORD_TOKEN (Developer Portal → Bot).") from None
    except discord.PrivilegedIntentsRequired:
        raise QAError("Answer channels need the Message Content intent: enable it in the Developer Portal.") from None
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise QAError(f"Cannot reach Discord ({type(exc).__name__}); check the network or DISCORD_API_BASE.") from exc
    finally:
        if not bot.is_closed():
            await bot.close()
        await service.close()
