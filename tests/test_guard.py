"""Issue 12, part B: what the bot shows and logs, and how it treats hostile input and bursts.

Each test failed on the code before the fix: a full database showed its path to Discord users; a symlink loop
aborted a first start; an uncreatable database printed a traceback after its error line; forged feedback
buttons went unanswered; a burst of mentions got one public reply each; interaction tokens were logged at
DEBUG; `qa-bot sync` registered the commands twice (that one is in test_bot_process.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fake_discord import FakeDiscord, InjectedInteraction, SentMessage, run_bot
from fake_discord_payloads import ADMIN, ALICE, BOB
from test_bot_process import SECRET, assert_every_log_line_captured, env_for, start
from test_discord_e2e import TestBot
from test_faults import OPENERS, SEEDS, as_unprivileged, clean_env, cli, one_clear_line

from bot.config import Settings
from bot.cooldown import Cooldown
from bot.question_log import QuestionLog
from bot.service import QAService
from retrieval.errors import StoreError

WITKOFF = "Who is Steve Witkoff?"


@pytest.fixture
async def service(docs: Path, tmp_path: Path) -> AsyncIterator[QAService]:
    """A real service whose database sits in a folder of its own, with a telling name."""
    svc = await QAService.open(tmp_path / "srv-data" / "qa.sqlite3", docs)
    yield svc
    await svc.close()


def bot_for(fake: FakeDiscord, service: QAService, cooldown: float = 0) -> TestBot:
    """The real bot aimed at the fake."""
    return TestBot(service, Settings(cooldown_seconds=cooldown, dev_guild=fake.guild.id), guild_ready_timeout=0.1)


# --- 4. internal errors: an apology and a reference for users, the details in the log ------------------


async def fill_up(questions: QuestionLog) -> None:
    """Make the database full, as a full disk would: no page may be added any more.
    (max_page_count holds per connection, so it is set on the question log's own.)"""
    await questions.flush()
    db = questions._db
    async with db.execute("PRAGMA page_count") as cur:
        row = await cur.fetchone()
    assert row is not None
    await db.execute(f"PRAGMA max_page_count = {int(row[0])}")
    fillers = ("INSERT INTO questions (via, question, answered) VALUES ('test', ?, 0)",
               "INSERT INTO feedback (question_id, user_id, value) VALUES (1, ?, 1)")
    for sql in fillers:
        for size in (4000, 400, 40, 4):  # then fill what room the last pages of each table had left
            for n in range(1000):
                try:
                    await db.execute(sql, (f"{n:0{size}}",))
                    await db.commit()
                except sqlite3.OperationalError as exc:
                    assert "full" in str(exc)
                    await db.rollback()
                    break
    await questions.log_question(WITKOFF, True, None, "test", str(ALICE.id), "1")  # waits in memory
    with pytest.raises(StoreError, match="database or disk is full"):
        await questions.flush()
    with pytest.raises(StoreError, match="database or disk is full"):
        await questions.record_feedback(1, str(BOB.id), 1)


def reference_in(output: SentMessage) -> str:
    """The reference a user was given, after checking the message shows no server internals."""
    text = output.text
    assert "srv-data" not in text and "qa.sqlite3" not in text and "disk is full" not in text, text
    found = re.search(r"reference: ([0-9A-F]{6})\.", text)
    assert found and "Sorry, something went wrong on my side" in text, text
    return found[1]


async def test_a_full_database_still_answers_and_shows_voters_a_reference(
    fake: FakeDiscord, service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    """The question log cannot be written: answers still come (their rows wait in memory, and the log says
    why once); a vote, which is written at once, gets an apology with a reference, the log the details."""
    async with run_bot(bot_for(fake, service)):
        earlier = await fake.wait_for_reply(await fake.send_interaction("ask", {"question": WITKOFF}, user=ALICE))
        await fill_up(service.questions)  # `earlier` is the first question logged
        answers = [
            await fake.wait_for_reply(await fake.send_interaction("ask", {"question": WITKOFF}, user=ALICE)),
            await fake.wait_for_reply(await fake.send_message(WITKOFF, BOB, mentions_bot=True)),
        ]
        votes = [
            await fake.wait_for_reply(await fake.send_component(earlier.custom_ids[0], user=BOB)),
            await fake.wait_for_reply(await fake.send_component(answers[0].custom_ids[1], user=BOB)),
        ]
        waiting = service.questions.waiting
    assert all("Witkoff" in a.text for a in answers) and waiting == 3
    assert "cannot be written" in (await service.stats()).problems[-1]
    references = [reference_in(r) for r in votes]
    assert len(set(references)) == 2 and all(v.ephemeral for v in votes)
    for reference in references:
        [record] = [r for r in caplog.records if f"[ref {reference}]" in r.getMessage()]
        assert record.levelno == logging.ERROR and record.exc_info
        details = caplog.handler.format(record)
        assert str(service.store.path) in details and "database or disk is full" in details, details
    [told] = [r for r in caplog.records if "could not write" in r.getMessage()]  # once, not at every retry
    assert told.levelno == logging.ERROR and "database or disk is full" in told.getMessage()


def test_reindex_progress_shown_in_the_channel_names_no_server_path(service: QAService) -> None:
    from bot.discord_documents import public_progress

    bot = TestBot(service, Settings())
    shown = public_progress(bot, f"Reading {service.docs} …")
    assert shown == "Reading the documents folder …" and str(service.docs) not in shown


# --- 5. a symbolic link loop is one more skipped file --------------------------------------------------


def test_a_symlink_loop_is_skipped_with_its_reason_on_a_first_start(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    (docs / "loop.txt").symlink_to("loop.txt")
    (docs / "ping.md").symlink_to("pong.md")
    (docs / "pong.md").symlink_to("ping.md")
    db = tmp_path / "db" / "qa.sqlite3"
    result = cli(tmp_path, "reindex", "--json", "--docs", str(docs), "--db", str(db))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["unchanged"]) == 5  # indexed by the first start itself, before the command's reindex
    assert report["skipped"] == [{"name": n, "reason": "it is a symbolic link loop"}
                                 for n in ("loop.txt", "ping.md", "pong.md")]
    asked = cli(tmp_path, "ask", "--json", WITKOFF, "--docs", str(docs), "--db", str(db))
    assert asked.returncode == 0 and json.loads(asked.stdout)["answered"], asked.stderr


# --- 6. a database that cannot be created: one clear line ---------------------------------------------


@pytest.mark.parametrize("command", list(OPENERS))
def test_a_database_in_a_read_only_folder_is_one_clear_line(tmp_path: Path, command: str) -> None:
    prefix = as_unprivileged()
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    db = folder / "qa.sqlite3"
    args, env = OPENERS[command]
    try:
        result = cli(tmp_path, *args, "--docs", str(SEEDS), "--db", str(db), prefix=prefix, env=clean_env(**env))
    finally:
        folder.chmod(0o755)
    assert one_clear_line(result) == f"error: Cannot open the database {str(db)!r}: unable to open database file."
    assert list(folder.iterdir()) == []


# --- 7. feedback buttons: custom ids are input -----------------------------------------------------------

FORGED = [f"fb:up:{2**63}", f"fb:down:{2**64 + 5}", "fb:up:-1", "fb:up:0", "fb:down:abc", "fb:up:12x",
          "fb:sideways:1", "fb:up:", "fb:", "fb:up:1:2", "fb:up:\u0661\u0662", "fb:up:1\n2", "zzz", "x" * 100]


def carry_buttons(message: dict[str, Any], custom_ids: list[str]) -> None:
    """Put buttons with these custom ids on a message the fake keeps, as a tampered message would carry."""
    buttons = [{"type": 2, "style": 2, "label": "?", "custom_id": c} for c in custom_ids]
    message["components"] = [*message["components"],
                             *({"type": 1, "components": buttons[i:i + 5]} for i in range(0, len(buttons), 5))]


@pytest.mark.parametrize("on_the_message", [True, False])
async def test_forged_feedback_buttons_get_a_friendly_answer(
    fake: FakeDiscord, service: QAService, caplog: pytest.LogCaptureFixture, on_the_message: bool
) -> None:
    async with run_bot(bot_for(fake, service)):
        answer = await fake.wait_for_reply(await fake.send_interaction("ask", {"question": WITKOFF}))
        assert answer.message_id is not None
        unknown = f"fb:up:{2**63 - 1}"  # well formed, but no such question
        if on_the_message:
            carry_buttons(fake.messages[answer.message_id], [*FORGED, unknown])
        clicks: list[tuple[str, InjectedInteraction]] = []
        for custom_id in [*FORGED, unknown, answer.custom_ids[0]]:
            clicks.append((custom_id, await fake.send_component(custom_id, message_id=answer.message_id, user=BOB)))
        replies = {custom_id: await fake.wait_for_reply(click) for custom_id, click in clicks}
    for custom_id in FORGED:
        reply = replies[custom_id]
        assert reply.ephemeral and reply.text == "This button doesn't work any more. Ask again for a fresh answer."
    expected = "That answer is no longer on record." if on_the_message else replies[FORGED[0]].text
    assert replies[unknown].text == expected
    assert replies[answer.custom_ids[0]].text == "Thanks for the feedback!"
    assert all(len(fake.outputs_for(click)) == 1 for _, click in clicks)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert (await service.stats()).thumbs_up == 1


# --- 8. a burst of mentions in a cooldown: one message back, not one per message ------------------------


async def test_a_burst_of_mentions_gets_one_wait_message(fake: FakeDiscord, service: QAService) -> None:
    async with run_bot(bot_for(fake, service, cooldown=600)):  # a period no slow machine outlasts
        burst = [await fake.send_message(f"{WITKOFF} ({n})", ALICE, mentions_bot=True) for n in range(200)]
        other = await fake.send_message(WITKOFF, BOB, mentions_bot=True)
        assert "Witkoff" in (await fake.wait_for_reply(other, lambda o: o.reply_to == other.id, timeout=30)).text
    # run_bot waited for every message in flight before it closed the bot: nothing more will come.
    ids = {m.id for m in burst}
    to_alice = [o for o in fake.outputs if o.message_id in ids or o.reply_to in ids]
    messages = [o for o in to_alice if o.kind == "channel_message"]
    assert len(messages) == 2, [o.text[:60] for o in messages]
    [answer] = [o for o in messages if "Witkoff" in o.text]
    [wait] = [o for o in messages if o.text.startswith("One moment")]
    assert answer.reply_to == burst[0].id and wait.reply_to == burst[1].id
    reactions = [o for o in to_alice if o.kind == "reaction"]
    assert [o.content for o in reactions] == ["⏳"] * 3
    assert {o.message_id for o in reactions} == {m.id for m in burst[2:5]}


def test_a_member_is_told_again_in_the_next_period() -> None:
    now = [0.0]
    cooldown = Cooldown(10, clock=lambda: now[0], reactions=1)
    assert cooldown.wait_for(1) == 0
    told = []
    for _ in range(4):
        assert cooldown.wait_for(1) > 0
        told.append(cooldown.notice(1))
    assert told == ["reply", "react", "ignore", "ignore"]
    now[0] = 10.0  # a new period: a question is answered, and the next wait is told in words again
    assert cooldown.wait_for(1) == 0 and cooldown.wait_for(1) > 0
    assert cooldown.notice(1) == "reply" and cooldown.notice(2) == "reply"


# --- 10. interaction tokens are never logged, at DEBUG either --------------------------------------------


async def _collect(stream: asyncio.StreamReader, lines: list[str]) -> None:
    """Read a process's output as it comes, so that its pipe never fills at DEBUG."""
    while line := await stream.readline():
        lines.append(line.decode(errors="replace"))


async def test_no_interaction_token_is_logged_at_debug(fake: FakeDiscord, tmp_path: Path) -> None:
    env = env_for(fake, tmp_path, SECRET) | {"QA_COOLDOWN_SECONDS": "0"}  # QA_LOG_LEVEL=DEBUG
    proc = await start(env, tmp_path, "run")
    assert proc.stderr is not None
    lines: list[str] = []
    reader = asyncio.create_task(_collect(proc.stderr, lines))
    try:
        await fake.wait_until_connected(timeout=30)
        interactions = []
        asked = await fake.send_interaction("ask", {"question": WITKOFF})
        interactions.append(asked)
        answer = await fake.wait_for_reply(asked, timeout=15)
        fake.fail_next("/callback", 500)  # logged by the bot's own trace, and retried by discord.py
        for make in (lambda: fake.send_component(answer.custom_ids[0], user=BOB),
                     lambda: fake.send_interaction("summary", {"topic": "ceasefire"}),
                     lambda: fake.send_interaction("sources"),
                     lambda: fake.send_interaction("reindex", user=ADMIN)):  # deferred: /webhooks/…/@original
            interaction = await make()
            interactions.append(interaction)
            await fake.wait_for_reply(interaction, lambda o: o.callback_type != 5, timeout=15)
        await fake.wait_for_reply(await fake.send_message(WITKOFF, ALICE, mentions_bot=True), timeout=15)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await reader
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = "".join(lines)
    assert proc.returncode == 0, log[-2000:]
    assert_every_log_line_captured(log)
    assert "WebSocket Event" in log and "INTERACTION_CREATE" in log  # the payloads that carry the tokens
    leaked = [line for line in lines if any(i.token in line for i in interactions)]
    assert leaked == [], f"{len(leaked)} lines carry an interaction token, e.g. {leaked[0][:300]}"
    assert SECRET not in log
    assert f"/interactions/{asked.id}/…/callback" in log and "'token': '…'" in log
    assert "Discord answered 500 to POST" in log
    assert f"/webhooks/{fake.application_id}/…/messages/@original" in log


def test_the_masking_filter_covers_messages_arguments_and_tracebacks() -> None:
    from bot.logs import SecretFilter

    token = "aW50ZXJhY3Rpb246MTIzOmFiYw-_x.y"
    masking = SecretFilter(["bot.token.value"])
    record = logging.LogRecord("discord.http", logging.DEBUG, __file__, 1, "%s %s has returned %s",
                               ("POST", f"https://x/api/v10/interactions/123/{token}/callback", 204), None)
    try:
        raise RuntimeError(f"webhook https://x/api/v10/webhooks/9/{token}/messages/@original with bot.token.value")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert masking.filter(record)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    shown = handler.format(record)
    assert token not in shown and "bot.token.value" not in shown, shown
    assert "/interactions/123/…/callback" in shown and "/webhooks/9/…/messages/@original" in shown
    payload = {"t": "INTERACTION_CREATE", "d": {"id": "5", "token": token, "data": {"name": "ask"}}}
    for text in (repr(payload), json.dumps(payload)):
        assert token not in masking.mask(text) and "ask" in masking.mask(text)
