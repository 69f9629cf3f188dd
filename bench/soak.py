"""Soak: thousands of interactions from many simulated users through the fake Discord against the real bot.

    python -m bench.soak [--interactions 5000] [--users 100] [--concurrency 32] [--reindex-every 100]
                         [--seed 1] [--out bench/results/soak.md]

One process runs the in-repo fake Discord (tests/fake_discord.py), a real QAService over a temporary
copy of seeds/ in a temporary SQLite file, and the real bot (QABot with discord.py's 5-second
re-identify pause removed). N user events are fired from U simulated guild members, at most C in
flight at once (so the fake's 3-second interaction deadline bites as on Discord): mostly /ask (real
questions about the seeds, not-found questions, hostile ones: markdown, @everyone, mention syntax,
990 characters of markdown, and 1,500 characters, which the bot must refuse politely), private
/ask, /sources, /help, mentions and DMs, 👍/👎 clicks on earlier answers, a few /reindex and /stats by
members who may not; every K events the guild owner (an admin) runs /reindex after a document in the
folder was rewritten, so the reindex does real work while questions keep coming. Now and then two
/reindex are fired together: "a reindex is already running" is a valid answer.

Checked (any failure is listed under "problems" and makes the exit status 1):
  * every interaction gets exactly one response sequence: one callback; a deferred one (type 5)
    then its follow-up, or for /reindex the final edit of the original with the report (progress
    edits in between are fine); every mention or DM exactly one reply; none lost (30 s, /reindex 120 s);
  * the response says what it should (an answer embed, "Thanks", the report, ...) and is never
    "something went wrong";
  * no REST request answered with a non-2xx status (the fake answers 400 for anything over Discord's
    limits, 404 for a response after the 3-second deadline, 40060 for a second response);
  * ``allowed_mentions.parse == []`` on every message the bot sends or edits;
  * no ERROR (or exception) log record from ``bot``, ``retrieval``, ``discord``, ``asyncio`` or
    ``aiohttp``; WARNING records are reported, not failed;
  * memory: RSS after the warm-up (the first 10 % of the events, all answered) and at the end, each read
    after ``gc.collect()`` (and glibc's ``malloc_trim``, so freed memory is given back), within 20 %.
    RSS is also read (and throughput measured) after each further ninth, so a leak shows as a trend.

Latency is from injecting an event to the first output answering it (a callback, or a reply).
``--concurrency`` far above the default turns the soak into an overload test (the bot, the fake and
this driver share one event loop, so the deadline is missed sooner than on a dedicated host).

Memory is the process's, and the fake lives in it. The fake keeps a transcript of every request,
output and message for tests to read; this driver reads the transcript as it grows and drops what it
has read (``fake.requests``, ``fake.outputs``, answered messages in ``fake.messages``), so the
transcript does not count as the bot's memory. The fake's private per-interaction table (a few
hundred bytes an interaction) is left alone and does count.

``fake_discord`` lives in tests/ (it is a test helper, not a package); this module puts tests/ on
``sys.path`` before importing it, the way pytest does for the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import logging
import os
import random
import re
import shutil
import stat
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:  # fake_discord and fake_discord_payloads are modules in tests/, not a package
    sys.path.insert(0, str(TESTS))

from fake_discord import FakeDiscord, InjectedInteraction, SentMessage, point_discord_py_at, run_bot  # noqa: E402
from fake_discord_payloads import ADMIN, GENERAL_ID, RANDOM_ID, FakeMember, FakeUser, default_guild  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.discord_client import QABot  # noqa: E402
from bot.service import QAService  # noqa: E402

SEEDS = ROOT / "seeds"
RESULTS = ROOT / "bench" / "results"
MEMORY_BOUND = 0.20  # end RSS within 20 % of RSS after warm-up
WARMUP_FRACTION = 0.10
CHECKPOINTS = 10  # RSS readings: after the warm-up, then after each further ninth of the events
TIMEOUT = 30.0  # seconds an event may wait for its response before it counts as lost
REINDEX_TIMEOUT = 120.0
SETTLE = 0.5  # seconds to wait after the last response for late duplicates
CAPTURED_LOGGERS = ("bot", "retrieval", "discord", "asyncio", "aiohttp")
FIRST_USER_ID = 2_000_000_000_000_000_000
TOUCHED_DOC = "soak-bulletin.txt"  # rewritten before every reindex

QUESTIONS = [
    "Who is Steve Witkoff?",
    "How many Palestinian prisoners will be released?",
    "When will Netanyahu visit the White House?",
    "How many Palestinians were killed in the Gaza conflict?",
    "When was the ceasefire agreement signed?",
    "How many Israeli hostages will be released in the first phase?",
    "When was Netanyahu originally slated to head back to Israel?",
    "Until when will Netanyahu remain in Washington?",
    "Who did Netanyahu meet on Feb. 3?",
    "Where will Netanyahu send a delegation?",
    "What did Trump say about guarantees that the peace will hold?",
    "What is the corruption trial about?",
    "Who issued an arrest warrant for Netanyahu?",
    "What did Smotrich urge Netanyahu to raise?",
    "Who is Scott Lucas?",
    "Which countries should take in displaced Palestinians according to Trump?",
    "What will the second phase of the ceasefire cover?",
    "Is the United States a signatory to the Rome Statute?",
    "Who is the US National Security Adviser?",
    "What did Netanyahu say about the meeting with Witkoff?",
    "When did the harbour ferry leave?",  # answered from the bulletin the reindexes rewrite
]
NOT_FOUND = [
    "What is the capital of Mongolia?",
    "How do I bake sourdough bread?",
    "Who won the 1998 football World Cup final?",
    "What is the boiling point of tungsten?",
    "Which moon of Saturn has methane lakes?",
]
LONG_QUESTION = ("Netanyahu Trump ceasefire Gaza hostages Witkoff Washington phase prisoners truce "
                 * 20)[:1499].rstrip() + "?"  # 1,500 characters: over the bot's 1,000, so politely refused
LONG_QUESTION_REPLY = "characters long"
MARKDOWN_QUESTION = ("**Witkoff** _ceasefire_ `Gaza` ~~truce~~ <@1000000000000000011> @here ||hostages|| " * 12)[:990]
HOSTILE = [
    "**Who** is __Steve__ *Witkoff*? `code` ~~strike~~ ||spoiler|| [click](https://example.com) # heading",
    "@everyone @here who is Witkoff? <@&1000000000000000111> <#1000000000000000101> <@1000000000000000011>",
    "```\n}]}\"'\\ DROP TABLE questions; --\n``` When is the visit?",
    "> quoted\n>>> block quote\n- list\n1. item\n" + "😀" * 40 + " ceasefire?",
    LONG_QUESTION,
    MARKDOWN_QUESTION,  # under the limit, and escaping makes its title grow past Discord's 256
]
FOLLOW_UPS = ["What did he do on Feb. 3?", "And then?", "Why?"]

# Event mix: (kind, weight). Reindexes by the admin come on top, every K events.
MIX = [
    ("ask", 48), ("ask_private", 6), ("ask_not_found", 6), ("ask_hostile", 5), ("sources", 5), ("help", 4),
    ("mention", 8), ("dm", 7), ("feedback", 9), ("reindex_member", 1), ("stats_member", 1),
]
MESSAGE_KINDS = {"mention", "dm"}
EXPECTED = {  # text a final response must contain, by event kind (asks are checked apart)
    "sources": "documents",
    "help": "/ask",
    "feedback": "Thanks for the feedback",
    "reindex_member": "Only server admins",
    "stats_member": "Only server admins",
}
ERROR_REPLY = "something went wrong"
TOKEN_IN_PATH = re.compile(r"(/(?:interactions|webhooks)/\d+)/[^/]+")
DONE = asyncio.Event()  # stands in for a finished event's own asyncio.Event
DONE.set()
NO_IDS: list[int] = []  # a finished event's message ids, shared: records stay small


# ---------------------------------------------------------------------------------------------------
# Measuring


def rss_bytes() -> int:
    """Resident set size of this process now (psutil when installed, else /proc/self/statm)."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return int(psutil.Process().memory_info().rss)


def settled_rss() -> int:
    """RSS after a full garbage collection and (on glibc) handing freed heap pages back to the OS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class LogCapture(logging.Handler):
    """Keeps WARNING+ records of the watched loggers, as one line each (no traceback kept alive)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []  # ERROR and above, and anything logged with an exception
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            text += f" [{type(exc).__name__}: {exc}]"
        (self.errors if record.levelno >= logging.ERROR or exc is not None else self.warnings).append(text)


@contextlib.contextmanager
def captured_logs() -> Iterator[LogCapture]:
    """Attach a LogCapture to the watched loggers (lowering them to WARNING if set higher)."""
    handler = LogCapture()
    saved = []
    for name in CAPTURED_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        if logger.getEffectiveLevel() > logging.WARNING:
            logger.setLevel(logging.WARNING)
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


# ---------------------------------------------------------------------------------------------------
# The world


class SoakBot(QABot):
    """The real bot with discord.py's 5-second pause before (re-)identifying removed."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No pacing against the fake."""


def simulated_users(count: int) -> list[FakeUser]:
    """``count`` ordinary members."""
    return [FakeUser(FIRST_USER_ID + i, f"soak-user-{i:03d}") for i in range(count)]


def soak_guild(users: list[FakeUser]) -> Any:
    """The default guild (its owner is ADMIN, who has every permission) with the simulated users as members."""
    guild = default_guild()
    return dataclasses.replace(guild, members=guild.members + tuple(FakeMember(u) for u in users))


def bulletin(number: int) -> str:
    """The document rewritten before reindex ``number``: same size each time, different words."""
    lines = [f"date 2025-02-{1 + number % 28:02d} Harbour bulletin number {number}", ""]
    for i in range(150):
        lines.append(f"The harbour ferry {i} left pier {(i * 7 + number) % 40} at {(i + number) % 24:02d}:"
                     f"{(i * 13) % 60:02d} with {(i * 37 + number * 11) % 500} passengers and "
                     f"{(i * 3 + number) % 90} cars on revision {number}.")
        if i % 10 == 9:
            lines.append("")
    return "\n".join(lines) + "\n"


def writable_copy(source: Path, target: Path) -> Path:
    """Copy a folder and make its files writable (the seeds are read-only)."""
    shutil.copytree(source, target)
    for path in target.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


# ---------------------------------------------------------------------------------------------------
# Events and their responses


@dataclass(eq=False, slots=True)
class Event:
    """One user event and what came back for it, summarised as outputs arrive (no transcript kept)."""

    index: int
    kind: str
    user: FakeUser
    sent: float = 0.0
    first: float | None = None  # perf_counter of the first output answering it
    callbacks: int = 0
    deferred: bool = False
    complete: bool = False
    timed_out: bool = False  # no complete response within the timeout (even if one came later)
    outcome: str = ""  # "ok", "busy", or the first problem
    expect: str | None = None  # text the final response must contain (else an ask needs an answer embed)
    message_ids: list[int] = field(default_factory=list)  # the fake's stored messages of this event
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_message(self) -> bool:
        return self.kind in MESSAGE_KINDS


class Tracker:
    """Reads the fake's transcript as it grows, routes each output to its event, and drops what it read."""

    def __init__(self, fake: FakeDiscord, pool_size: int = 64, keep_transcript: bool = False) -> None:
        self.fake = fake
        self.keep_transcript = keep_transcript
        self.by_interaction: dict[int, Event] = {}
        self.by_message: dict[int, Event] = {}
        self.unclaimed: dict[tuple[str, int], list[tuple[float, SentMessage]]] = {}
        self.pool: deque[tuple[int, str]] = deque()  # (answer message id, a feedback custom id)
        self.pool_size = pool_size
        self.problems: list[str] = []
        self.http_statuses: Counter[int] = Counter()
        self.outputs_seen = 0
        self.requests_seen = 0
        self.mention_checked = 0
        self._outputs_read = 0
        self._requests_read = 0
        self._task: asyncio.Task[None] | None = None

    def problem(self, text: str) -> None:
        self.problems.append(text)

    # --- claiming events ---------------------------------------------------------------------------

    def claim_interaction(self, injected: InjectedInteraction, event: Event) -> None:
        self.by_interaction[injected.id] = event
        for at, output in self.unclaimed.pop(("i", injected.id), []):
            self._route(event, output, at)

    def claim_message(self, message_id: int, event: Event) -> None:
        self.by_message[message_id] = event
        event.message_ids.append(message_id)
        for at, output in self.unclaimed.pop(("m", message_id), []):
            self._route(event, output, at)

    # --- reading the transcript --------------------------------------------------------------------

    def poll(self) -> None:
        """Process every output and request recorded since the last poll (no await: nothing interleaves)."""
        now = time.perf_counter()
        outputs, requests = self.fake.outputs, self.fake.requests
        for output in outputs[self._outputs_read:]:
            self._on_output(output, now)
        for request in requests[self._requests_read:]:
            self.http_statuses[request.status] += 1
            if not 200 <= request.status < 300:
                path = TOKEN_IN_PATH.sub(r"\1/TOKEN", request.path)
                self.problem(f"HTTP {request.status} for {request.method} {path}: {request.response!r:.200}")
        self.outputs_seen += len(outputs) - self._outputs_read
        self.requests_seen += len(requests) - self._requests_read
        if self.keep_transcript:
            self._outputs_read, self._requests_read = len(outputs), len(requests)
        else:
            del outputs[:], requests[:]

    async def run(self, interval: float = 0.002) -> None:
        while True:
            self.poll()
            await asyncio.sleep(interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="soak tracker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.poll()

    def _on_output(self, output: SentMessage, at: float) -> None:
        self._check_mentions(output)
        if output.interaction_id is not None:
            key = ("i", output.interaction_id)
            event = self.by_interaction.get(output.interaction_id)
        elif output.reply_to is not None:
            key = ("m", output.reply_to)
            event = self.by_message.get(output.reply_to)
        else:
            self.problem(f"output answering nothing: {output.kind} {output.route} {output.content!r:.80}")
            return
        if event is None:
            self.unclaimed.setdefault(key, []).append((at, output))
        else:
            self._route(event, output, at)

    def _check_mentions(self, output: SentMessage) -> None:
        """Every output that carries a message (not a bare defer, delete or reaction) must disable pings."""
        if output.kind in ("delete_original", "delete_followup", "delete_message", "reaction"):
            return
        if output.kind == "callback" and output.callback_type not in (4, 7):
            return
        self.mention_checked += 1
        allowed = output.allowed_mentions
        if not isinstance(allowed, dict) or allowed.get("parse") != [] or allowed.get("users") or allowed.get("roles"):
            self.problem(f"allowed_mentions {allowed!r} on {output.kind} {output.route}")

    def _route(self, event: Event, output: SentMessage, at: float) -> None:
        """Account one output to its event; complete the event on its final response."""
        if event.first is None:
            event.first = at
        if output.message_id is not None and output.message_id not in event.message_ids:
            event.message_ids.append(output.message_id)
        where = f"event {event.index} ({event.kind})"
        if event.complete:
            self._fail(event, f"{where}: extra {output.kind} after its response: {output.text!r:.120}")
            return
        if event.is_message:
            if output.kind != "channel_message":
                self._fail(event, f"{where}: unexpected {output.kind}")
                return
            self._finish(event, output)
            return
        if output.kind == "callback":
            event.callbacks += 1
            if event.callbacks > 1:
                self._fail(event, f"{where}: second callback")
            elif output.callback_type == 5:
                event.deferred = True
            else:
                self._finish(event, output)
            return
        if not event.deferred:
            self._fail(event, f"{where}: {output.kind} before any callback")
            return
        if output.kind == "edit_original" and event.kind == "reindex" and not output.embeds:
            return  # a progress edit ("⏳ Indexed 1,000 of 5,000 …"); the report comes next
        if output.kind == "delete_original":
            return  # the public "thinking…" removed before a private error; the error's followup comes next
        if output.kind in ("followup", "edit_original"):
            self._finish(event, output)
        else:
            self._fail(event, f"{where}: unexpected {output.kind}")

    def _finish(self, event: Event, output: SentMessage) -> None:
        """The event's response is complete: judge what it says."""
        event.complete = True
        text = output.text
        where = f"event {event.index} ({event.kind})"
        outcome = "ok"
        if ERROR_REPLY in text.lower():
            outcome = f"{where}: error reply {text!r:.160}"
        elif not text.strip():
            outcome = f"{where}: empty response"
        elif event.kind == "reindex":
            if "already running" in text:
                outcome = "busy"
            elif "Reindex finished" not in text:
                outcome = f"{where}: unexpected reindex reply {text!r:.160}"
        elif event.expect is not None:
            if event.expect not in text:
                outcome = f"{where}: unexpected reply {text!r:.160}"
        elif event.kind.startswith("ask") and not output.embeds:
            outcome = f"{where}: an answer without an embed: {text!r:.160}"
        if outcome not in ("ok", "busy"):
            self.problem(outcome)
        event.outcome = outcome
        if outcome == "ok" and (event.kind.startswith("ask") or event.is_message):
            ids = [i for i in output.custom_ids if i.startswith("fb:")]
            if ids and output.message_id is not None:
                self.pool.append((output.message_id, ids[event.index % len(ids)]))
                event.message_ids.remove(output.message_id)  # kept in the fake while it may be clicked
                if len(self.pool) > self.pool_size:
                    self._forget_message(self.pool.popleft()[0])
        event.done.set()

    def _fail(self, event: Event, text: str) -> None:
        self.problem(text)
        if event.outcome in ("", "ok", "busy"):
            event.outcome = text

    def _forget_message(self, message_id: int) -> None:
        if not self.keep_transcript:
            self.fake.messages.pop(message_id, None)

    def release(self, event: Event) -> None:
        """Drop the fake's stored messages of a finished event (its answer stays while in the click pool)."""
        for message_id in event.message_ids:
            self._forget_message(message_id)
        event.message_ids = NO_IDS

    def report_unclaimed(self) -> None:
        """Outputs answering interactions or messages that no event sent are problems."""
        for (what, ident), outs in self.unclaimed.items():
            name = "interaction" if what == "i" else "message"
            self.problem(f"{len(outs)} output(s) for {name} {ident} that no event sent: {outs[0][1].text!r:.120}")

    def pick_answer(self, rng: random.Random) -> tuple[int, str] | None:
        """An earlier answer's message id and one of its feedback buttons, if any."""
        return rng.choice(self.pool) if self.pool else None


# ---------------------------------------------------------------------------------------------------
# The run


@dataclass
class SoakResult:
    """Figures and findings of one soak run."""

    events: int
    users: int
    concurrency: int
    reindex_every: int
    elapsed: float
    by_kind: dict[str, int]
    latencies_ms: list[float]
    deferred: int
    reindexes_done: int
    reindexes_busy: int
    lost: list[str]
    problems: list[str]
    log_errors: list[str]
    log_warnings: list[str]
    rss_warm: int
    rss_end: int
    rss_series: list[tuple[int, int]]
    rates: list[float]
    rss_start: int
    http_statuses: dict[int, int]
    outputs: int
    requests: int
    mention_checked: int
    questions_logged: int

    @property
    def interactions(self) -> int:
        """Slash commands and button clicks."""
        return sum(n for kind, n in self.by_kind.items() if kind not in MESSAGE_KINDS)

    @property
    def messages(self) -> int:
        """Mentions and DMs."""
        return sum(n for kind, n in self.by_kind.items() if kind in MESSAGE_KINDS)

    @property
    def throughput(self) -> float:
        return self.events / self.elapsed if self.elapsed else float("nan")

    @property
    def memory_growth(self) -> float:
        """End RSS relative to RSS after warm-up (0.05 = 5 % more)."""
        return self.rss_end / self.rss_warm - 1 if self.rss_warm else float("nan")

    @property
    def memory_ok(self) -> bool:
        return abs(self.memory_growth) <= MEMORY_BOUND

    @property
    def errors(self) -> int:
        """Everything that went wrong except memory: lost events, bad or duplicate responses, non-2xx, error logs."""
        return len(self.lost) + len(self.problems) + len(self.log_errors)

    def failures(self, check_memory: bool = True) -> list[str]:
        """One line per failed check (empty when the soak passed)."""
        out = [f"lost: {x}" for x in self.lost] + self.problems + [f"log: {x}" for x in self.log_errors]
        if check_memory and not self.memory_ok:
            out.append(f"memory grew {self.memory_growth:+.1%} from warm-up to end (bound ±{MEMORY_BOUND:.0%})")
        return out

    def figures(self) -> list[tuple[str, str]]:
        mb = 1024 * 1024
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items(), key=lambda kv: -kv[1]))
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.http_statuses.items()))
        return [
            ("events", f"{self.events:,} from {self.users} users, at most {self.concurrency} in flight"),
            ("interactions (slash commands, buttons)", f"{self.interactions:,}"),
            ("messages (mentions, DMs)", f"{self.messages:,}"),
            ("mix", kinds),
            ("elapsed (RSS readings excluded)", f"{self.elapsed:.1f} s"),
            ("throughput", f"{self.throughput:.1f} events/s"),
            ("throughput: warm-up, then each further ninth (events/s)", " → ".join(f"{r:.0f}" for r in self.rates)),
            ("latency to first response p50 / p99 / max",
             f"{percentile(self.latencies_ms, 50):.0f} / {percentile(self.latencies_ms, 99):.0f} / "
             f"{max(self.latencies_ms, default=float('nan')):.0f} ms"),
            ("answers deferred (not ready within 2 s)", f"{self.deferred}"),
            ("reindexes done / refused as busy", f"{self.reindexes_done} / {self.reindexes_busy}"),
            ("lost", f"{len(self.lost)}"),
            ("errors (bad/duplicate responses, non-2xx, ERROR logs)", f"{self.errors}"),
            ("REST requests by status", statuses),
            ("bot outputs / REST requests", f"{self.outputs:,} / {self.requests:,}"),
            ("outputs checked for allowed_mentions.parse == []", f"{self.mention_checked:,}"),
            ("questions logged in the store", f"{self.questions_logged:,}"),
            ("warnings logged", f"{len(self.log_warnings)}"),
            ("RSS at start / after warm-up / at end",
             f"{self.rss_start / mb:.1f} / {self.rss_warm / mb:.1f} / {self.rss_end / mb:.1f} MB"),
            ("RSS after warm-up, then after each further ninth (MB)",
             " → ".join(f"{rss / mb:.0f}" for _, rss in self.rss_series)),
            ("memory end vs warm-up", f"{self.memory_growth:+.1%} (bound ±{MEMORY_BOUND:.0%}: "
                                      f"{'PASS' if self.memory_ok else 'MISS'})"),
        ]

    def report(self) -> str:
        """The figures and findings as Markdown."""
        lines = ["| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in self.figures()]
        failures = self.failures()
        lines += ["", f"**Result: {'PASS' if not failures else 'FAIL'}**", ""]
        if failures:
            kinds = Counter(re.sub(r"\d{3,}", "N", re.sub(r"^event \d+ ", "", f))[:100] for f in failures)
            lines.append("Problems by kind:")
            lines += [f"- {n} × {kind}" for kind, n in kinds.most_common(20)]
            lines.append("")
        for title, items in (("Problems", failures), ("Warnings logged", self.log_warnings)):
            if items:
                lines.append(f"{title} ({len(items)}, first 20):")
                lines += [f"- {item}" for item in items[:20]]
                lines.append("")
        return "\n".join(lines).rstrip() + "\n"


def plan_events(count: int, users: list[FakeUser], reindex_every: int, rng: random.Random) -> list[tuple[str, Any]]:
    """The event kinds in order, with the user of each; an admin reindex (sometimes two at once) every K."""
    kinds, weights = zip(*MIX, strict=True)
    plan: list[tuple[str, Any]] = []
    reindexes = 0
    for i in range(count):
        if reindex_every and i and i % reindex_every == 0:
            reindexes += 1
            plan.append(("reindex", ADMIN))
            if reindexes % 3 == 0 and len(plan) < count:  # a second one right behind: usually "already running"
                plan.append(("reindex", ADMIN))
        if len(plan) >= count:
            break
        plan.append((rng.choices(kinds, weights)[0], rng.choice(users)))
    return plan[:count]


def segments(total: int, warm: int, count: int) -> list[tuple[int, int]]:
    """[first, last) ranges: the warm-up, then the rest in ``count - 1`` near-equal parts."""
    bounds = [0, warm] + [warm + (total - warm) * i // (count - 1) for i in range(1, count)]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


async def run_soak(
    interactions: int = 5000,
    users: int = 100,
    *,
    concurrency: int = 32,
    reindex_every: int = 100,
    seed: int = 1,
    warmup_fraction: float = WARMUP_FRACTION,
    progress: Callable[[str], None] | None = None,
) -> SoakResult:
    """Run the soak: ``interactions`` events from ``users`` simulated members; returns figures and findings."""
    say = progress or (lambda _msg: None)
    rng = random.Random(seed)
    people = simulated_users(users)
    plan = plan_events(interactions, people, reindex_every, rng)
    warm = max(1, round(len(plan) * warmup_fraction))
    rss_start = settled_rss()
    series: list[tuple[int, int]] = []  # (events answered, RSS) at each checkpoint; the first is the warm-up
    rates: list[float] = []  # events per second in each stretch between checkpoints
    with tempfile.TemporaryDirectory(prefix="qa-soak-") as tmp, captured_logs() as logs:
        docs = writable_copy(SEEDS, Path(tmp) / "docs")
        (docs / TOUCHED_DOC).write_text(bulletin(0), encoding="utf-8")
        async with FakeDiscord(guilds=[soak_guild(people)]) as fake:
            with point_discord_py_at(fake):
                service = await QAService.open(Path(tmp) / "db" / "qa.sqlite3", docs)
                try:
                    settings = Settings(token="fake-token", dev_guild=fake.guild.id, cooldown_seconds=0,
                                        api_base=fake.api_base, gateway_url=fake.gateway_url)
                    client = SoakBot(service, settings, guild_ready_timeout=0.1)
                    async with run_bot(client, timeout=20):
                        runner = _Runner(fake, docs, rng, concurrency, say)
                        runner.tracker.start()
                        started = time.perf_counter()
                        measuring = 0.0
                        for first, last in segments(len(plan), warm, CHECKPOINTS):
                            begun = time.perf_counter()
                            await runner.run(plan[first:last], offset=first)
                            rates.append((last - first) / (time.perf_counter() - begun))
                            before = time.perf_counter()
                            series.append((last, settled_rss()))
                            measuring += time.perf_counter() - before
                            say(f"{last} events answered, {rates[-1]:.0f} events/s, RSS {series[-1][1] / 2**20:.1f} MB")
                        elapsed = time.perf_counter() - started - measuring
                        await asyncio.sleep(SETTLE)
                        await runner.tracker.stop()
                        runner.tracker.report_unclaimed()
                        rss_end = settled_rss()
                    questions = (await service.stats()).questions
                finally:
                    await service.close()
        await asyncio.sleep(0)
        log_errors, log_warnings = logs.errors, logs.warnings
    events = runner.events
    tracker = runner.tracker
    lost = [f"event {e.index} ({e.kind}): {e.outcome or 'no response'}"
            + (f" (answered after {TIMEOUT:.0f} s)" if e.complete else "")
            for e in events if e.timed_out or not e.complete]
    done = [e for e in events if e.kind == "reindex" and e.outcome == "ok"]
    busy = [e for e in events if e.kind == "reindex" and e.outcome == "busy"]
    latencies = [(e.first - e.sent) * 1000 for e in events if e.first is not None]
    return SoakResult(
        events=len(events), users=users, concurrency=concurrency, reindex_every=reindex_every, elapsed=elapsed,
        by_kind=dict(Counter(e.kind for e in events)), latencies_ms=latencies,
        deferred=sum(e.deferred for e in events if e.kind != "reindex"), reindexes_done=len(done),
        reindexes_busy=len(busy), lost=lost, problems=list(tracker.problems), log_errors=log_errors,
        log_warnings=log_warnings, rss_warm=series[0][1], rss_end=rss_end, rss_series=series,
        rss_start=rss_start, rates=rates,        http_statuses=dict(tracker.http_statuses),
        outputs=tracker.outputs_seen, requests=tracker.requests_seen, mention_checked=tracker.mention_checked,
        questions_logged=questions,
    )


class _Runner:
    """Fires planned events with bounded concurrency and waits for each one's response."""

    def __init__(self, fake: FakeDiscord, docs: Path, rng: random.Random, concurrency: int,
                 say: Callable[[str], None]) -> None:
        self.fake = fake
        self.docs = docs
        self.rng = rng
        self.tracker = Tracker(fake)
        self.events: list[Event] = []
        self.limit = asyncio.Semaphore(concurrency)
        self.say = say
        self.reindexes = 0
        self.channels = (GENERAL_ID, RANDOM_ID)

    async def run(self, plan: list[tuple[str, Any]], offset: int = 0) -> None:
        """Fire every planned event (at most ``concurrency`` in flight) and wait until all are answered."""
        tasks: set[asyncio.Task[None]] = set()
        for i, (kind, user) in enumerate(plan, start=offset):
            await self.limit.acquire()
            event = Event(i, kind, user)
            self.events.append(event)
            task = asyncio.create_task(self._one(event))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if (i + 1) % 500 == 0:
                self.say(f"{i + 1} events sent")
        if tasks:
            await asyncio.gather(*tasks)

    async def _one(self, event: Event) -> None:
        try:
            await self._fire(event)
            timeout = REINDEX_TIMEOUT if event.kind == "reindex" else TIMEOUT
            try:
                await asyncio.wait_for(event.done.wait(), timeout)
            except TimeoutError:
                event.timed_out = True
        except Exception as exc:  # a failure to send is a finding, not a crash of the soak
            self.tracker.problem(f"event {event.index} ({event.kind}): could not be sent: {exc!r:.200}")
        finally:
            if event.complete:
                self.tracker.release(event)
            event.done = DONE  # the per-event asyncio.Event is no longer needed: keep the record small
            self.limit.release()

    async def _fire(self, event: Event) -> None:
        """Send the event to the bot as its user."""
        fake, rng, kind, user = self.fake, self.rng, event.kind, event.user
        if kind == "feedback":
            picked = self.tracker.pick_answer(rng)
            if picked is None:
                kind = event.kind = "ask"
            else:
                message_id, custom_id = picked
                event.expect = EXPECTED[kind]
                event.sent = time.perf_counter()
                injected = await fake.send_component(custom_id, message_id=message_id, user=user)
                self.tracker.claim_interaction(injected, event)
                return
        event.expect = EXPECTED.get(kind)
        if kind in MESSAGE_KINDS:
            dm = kind == "dm"
            question = self._question(rng.choice(("ask", "ask", "ask", "ask_not_found", "ask_hostile", "follow_up")))
            event.sent = time.perf_counter()
            sent = await fake.send_message(question, user, None if dm else rng.choice(self.channels), dm=dm,
                                           mentions_bot=not dm)
            if not sent.delivered:
                self.tracker.problem(f"event {event.index} ({kind}): the fake did not deliver the message")
            self.tracker.claim_message(sent.id, event)
            return
        name = kind
        options: dict[str, Any] | None = None
        if kind.startswith("ask"):
            name = "ask"
            question = self._question(kind)
            options = {"question": question}
            if question == LONG_QUESTION:
                event.expect = LONG_QUESTION_REPLY
            if kind == "ask_private":
                options = {**options, "private": True}
        elif kind == "reindex":
            self.reindexes += 1
            (self.docs / TOUCHED_DOC).write_text(bulletin(self.reindexes), encoding="utf-8")
        elif kind == "reindex_member":
            name = "reindex"
        elif kind == "stats_member":
            name = "stats"
        event.sent = time.perf_counter()
        injected = await fake.send_interaction(name, options, user=user)
        self.tracker.claim_interaction(injected, event)

    def _question(self, kind: str) -> str:
        rng = self.rng
        if kind == "ask_not_found":
            return rng.choice(NOT_FOUND)
        if kind == "ask_hostile":
            return rng.choice(HOSTILE)
        if kind == "follow_up":
            return rng.choice(FOLLOW_UPS)
        return rng.choice(QUESTIONS)


# ---------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactions", type=int, default=5000, help="user events to fire (default 5000)")
    parser.add_argument("--users", type=int, default=100, help="simulated guild members (default 100)")
    parser.add_argument("--concurrency", type=int, default=32, help="events in flight at most (default 32)")
    parser.add_argument("--reindex-every", type=int, default=100, help="admin /reindex every K events (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.md", help="Markdown report ('-' for none)")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[soak] {message}", file=sys.stderr, flush=True)

    say(f"{args.interactions} events from {args.users} users, {args.concurrency} in flight, "
        f"reindex every {args.reindex_every}")
    result = asyncio.run(run_soak(args.interactions, args.users, concurrency=args.concurrency,
                                  reindex_every=args.reindex_every, seed=args.seed, progress=say))
    report = result.report()
    print(report)
    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        header = (f"# Soak\n\n`python -m bench.soak --interactions {args.interactions} --users {args.users} "
                  f"--concurrency {args.concurrency} --reindex-every {args.reindex_every} --seed {args.seed}` "
                  f"on Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}.\n\n")
        args.out.write_text(header + report, encoding="utf-8")
        say(f"wrote {args.out}")
    return 0 if not result.failures() else 1


if __name__ == "__main__":
    sys.exit(main())
