"""Standard input for the terminal commands, read without holding the event loop, and SIGTERM as a clean stop.

A line is read in a daemon thread, one at a time (the prompt shows after the previous answer): meanwhile
the event loop runs, so the question log's writer commits on time even while `qa-bot chat` waits for a
person; and a process stopped by a signal does not wait for a line that may never come (a thread of
`asyncio.to_thread` would be joined at exit).
"""

from __future__ import annotations

import asyncio
import queue
import signal
import sys
import threading
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

_Request = tuple[str | None, "asyncio.Future[str]", asyncio.AbstractEventLoop]


class StdinReader:
    """Lines of standard input, one per `readline`, read in a daemon thread."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def readline(self, prompt: str | None = None) -> str:
        """The next line with its newline, '' at the end of input; `prompt` is shown first (interactive)."""
        loop = asyncio.get_running_loop()
        line: asyncio.Future[str] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="qa-bot: stdin", daemon=True)
            self._thread.start()
        self._requests.put((prompt, line, loop))
        return await line

    def _serve(self) -> None:
        """The thread: read a line when asked, hand it to the event loop."""
        while True:
            prompt, line, loop = self._requests.get()
            try:
                text = sys.stdin.readline() if prompt is None else input(prompt) + "\n"
            except EOFError:
                text = ""
            except BaseException as exc:  # handed to the reader, as a direct read would raise it
                loop.call_soon_threadsafe(_fail, line, exc)
                continue
            loop.call_soon_threadsafe(_give, line, text)


def _give(line: asyncio.Future[str], text: str) -> None:
    """Resolve a read, unless its reader stopped waiting (cancelled by a signal)."""
    if not line.done():
        line.set_result(text)


def _fail(line: asyncio.Future[str], exc: BaseException) -> None:
    """Fail a read, unless its reader stopped waiting."""
    if not line.done():
        line.set_exception(exc)


class Terminated(Exception):
    """The process was asked to stop (SIGTERM) and has stopped cleanly."""


async def until_sigterm(work: Awaitable[T]) -> T:
    """Run `work`; SIGTERM cancels it (its `finally` blocks run: the service closes and the question log
    writes what waits) and raises Terminated. A second SIGTERM stops the process at once, as by default."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    stopped = []

    def stop() -> None:
        loop.remove_signal_handler(signal.SIGTERM)
        stopped.append(True)
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        return await task
    except asyncio.CancelledError:
        if not stopped:
            raise
        raise Terminated() from None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
