"""Logging set-up: one handler on standard error, with Discord credentials masked wherever they appear.

An interaction's token lets whoever holds it answer and edit that interaction for 15 minutes, and the bot
token is the bot: neither may reach a log line, at any level. discord.py logs them itself at DEBUG (the
gateway's INTERACTION_CREATE payloads, every webhook and callback URL), so the masking is a filter on
the handlers, which sees every record of every logger (discord.py's included), message and traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "…"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_PATTERNS = (
    # /interactions/<id>/<token>/callback and /webhooks/<application id>/<token>[/messages/…]
    re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/\s'\"?#]+"),
    # "token": "…" in JSON and 'token': '…' in the repr of a gateway payload
    re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]*"""),
)


class SecretFilter(logging.Filter):
    """Masks interaction tokens (by where they appear) and the given secrets (by value) in every record."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def mask(self, text: str) -> str:
        """`text` with every token replaced by an ellipsis."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(r"\1" + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and traceback masked; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it as logging always does
            return True
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the masked text is what every handler prints.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def configure(level: str, secrets: Iterable[str | None] = ()) -> SecretFilter:
    """Log at `level` to standard error through a SecretFilter; returns the filter."""
    logging.basicConfig(level=level, format=FORMAT)
    masking = SecretFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(masking)
    # aiosqlite logs every statement with its parameters at DEBUG (two lines a query): members' ids and
    # questions, and nothing that helps run the bot.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLevelName(level)))
    return masking
