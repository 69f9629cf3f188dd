"""The per-member cooldown between questions on Discord, and how to tell a member to wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal


class Cooldown:
    """At most one question per user per `seconds`."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic, reactions: int = 3) -> None:
        self.seconds = seconds
        self.reactions = reactions
        self._clock = clock
        self._last: dict[int, float] = {}
        self._told: dict[int, tuple[float, int]] = {}  # user: (start of the period, waits noticed in it)

    def wait_for(self, user_id: int) -> float:
        """Seconds the user must still wait (0 when free); a free call starts a new period."""
        now = self._clock()
        left = self.seconds - (now - self._last.get(user_id, -1e18))
        if left > 0:
            return left
        self._last[user_id] = now
        if len(self._last) > 50_000:
            self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}
            self._told = {u: told for u, told in self._told.items() if u in self._last}
        return 0.0

    def notice(self, user_id: int) -> Literal["reply", "react", "ignore"]:
        """How to answer a message from a user who must wait (call after `wait_for` said so): a reply the
        first time in the period, a reaction the next few times, then nothing; so a burst of messages
        gets one message back, never one per message."""
        period = self._last.get(user_id, 0.0)
        start, count = self._told.get(user_id, (None, 0))
        if start != period:
            count = 0
        self._told[user_id] = (period, count + 1)
        return "reply" if count == 0 else "react" if count <= self.reactions else "ignore"
