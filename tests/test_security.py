"""Security through the real bot and the fake Discord: admin-only commands, pings, quotes, document names, SQL.

Each guarantee of issue 6's "Security" list is a test here (the token is in test_bot_process.py and
at the end of this file).
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from fake_discord import FakeDiscord, InjectedInteraction, SentMessage, point_discord_py_at, run_bot
from fake_discord_payloads import ADMIN, ALICE, BOB, GUILD_ID, FakeMember, FakeRole, FakeUser, default_guild
from test_discord_e2e import TestBot

from bot.config import Settings
from bot.discord_policy import DEFAULT_FOR_OPERATORS
from bot.service import QAService
from retrieval.errors import UnknownDocumentError

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED = "000_fe643504d8637f7e.txt"

# --- a guild with every kind of member -----------------------------------------------------------------

MANAGE_GUILD = 1 << 5
MODERATOR_PERMISSIONS = (1 << 1) | (1 << 2) | (1 << 4) | (1 << 13) | (1 << 17) | (1 << 28) | (1 << 40)
MOD_ROLE_ID, MANAGER_ROLE_ID, QA_ROLE_ID = (1_000_000_000_000_000_121 + i for i in range(3))
MOD = FakeUser(1_000_000_000_000_000_021, "mod")  # kick, ban, manage channels/messages/roles: no Manage Server
MANAGER = FakeUser(1_000_000_000_000_000_022, "manager")  # Manage Server only
HOLDER = FakeUser(1_000_000_000_000_000_023, "holder")  # the role named "qa-admins", no permission at all
STRANGER = FakeUser(1_000_000_000_000_000_024, "stranger")  # not a member of the guild


def security_guild() -> Any:
    """The default guild plus a moderator, a Manage Server member and a holder of the "qa-admins" role."""
    guild = default_guild()
    roles = guild.roles + (
        FakeRole(MOD_ROLE_ID, "moderator", MODERATOR_PERMISSIONS, position=3),
        FakeRole(MANAGER_ROLE_ID, "manager", MANAGE_GUILD, position=4),
        FakeRole(QA_ROLE_ID, "qa-admins", 0, position=5),
    )
    members = guild.members + (FakeMember(MOD, (MOD_ROLE_ID,)), FakeMember(MANAGER, (MANAGER_ROLE_ID,)),
                               FakeMember(HOLDER, (QA_ROLE_ID,)))
    return dataclasses.replace(guild, roles=roles, members=members)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord with the security guild."""
    async with FakeDiscord(guilds=[security_guild()], users=[STRANGER]) as server:
        with point_discord_py_at(server):
            yield server


def bot_with(fake: FakeDiscord, service: QAService, **changes: Any) -> TestBot:
    """The real bot, with settings changed as given."""
    settings = dataclasses.replace(Settings(cooldown_seconds=0, dev_guild=fake.guild.id), **changes)
    return TestBot(service, settings, guild_ready_timeout=0.1)


async def only_reply(fake: FakeDiscord, asked: InjectedInteraction) -> SentMessage:
    """The interaction's response, which must be its one and only output."""
    reply = await fake.wait_for_reply(asked)
    await fake.wait_for_reply(await fake.send_interaction("help"))  # a later event: anything pending arrived
    assert fake.outputs_for(asked) == [reply], [o.kind for o in fake.outputs_for(asked)]
    return reply


# --- admin-only commands ---------------------------------------------------------------------------------

REFUSED = [  # (who, in a DM?, the bot's settings)
    (ALICE, False, {}),
    (BOB, False, {}),
    (MOD, False, {}),
    (HOLDER, False, {}),  # holds "qa-admins", but QA_ADMIN_ROLE is not set
    (STRANGER, False, {}),
    (ALICE, True, {}),
    (ADMIN, True, {}),  # owner and Administrator of the guild, but a DM has no guild to be admin of
    (MANAGER, True, {}),
    (HOLDER, True, {"admin_role": "qa-admins"}),  # the role counts in the guild only
    (ALICE, False, {"admin_role": "qa-admins"}),
    (ALICE, False, {"admin_role": str(GUILD_ID)}),  # the @everyone role's id: never makes everyone an admin
    (ALICE, False, {"admin_role": "@everyone"}),
    (ALICE, True, {"admin_ids": frozenset({BOB.id})}),
    (ADMIN, False, {"admin_guilds": frozenset({GUILD_ID + 1})}),  # Administrator of a server not listed
    (MANAGER, False, {"admin_guilds": frozenset({GUILD_ID + 1})}),
    (HOLDER, False, {"admin_role": "qa-admins", "admin_guilds": frozenset({GUILD_ID + 1})}),
]
ALLOWED = [
    (ADMIN, False, {}),  # guild owner, Administrator
    (MANAGER, False, {}),  # Manage Server
    (HOLDER, False, {"admin_role": "qa-admins"}),
    (HOLDER, False, {"admin_role": str(QA_ROLE_ID)}),
    (ALICE, False, {"admin_ids": frozenset({ALICE.id})}),
    (ALICE, True, {"admin_ids": frozenset({ALICE.id})}),
    (MANAGER, False, {"admin_guilds": frozenset({GUILD_ID})}),
    (ALICE, False, {"admin_ids": frozenset({ALICE.id}), "admin_guilds": frozenset({GUILD_ID + 1})}),
]


def _label(case: tuple[FakeUser, bool, dict[str, Any]]) -> str:
    user, dm, changes = case
    return f"{user.name}-{'dm' if dm else 'guild'}" + "".join(f"-{k}={v}" for k, v in changes.items())


@pytest.mark.parametrize("case", REFUSED, ids=[_label(c) for c in REFUSED])
async def test_admin_commands_are_refused_to_members_who_are_not_admins(
    fake: FakeDiscord, service: QAService, docs: Path, case: tuple[FakeUser, bool, dict[str, Any]]
) -> None:
    user, dm, changes = case
    (docs / "planted.txt").write_text("A planted document about zebras.\n", encoding="utf-8")
    stored = await service.store.hashes()
    await service.ask("Who is Steve Witkoff?", via="test")  # something /stats would reveal
    async with run_bot(bot_with(fake, service, **changes)):
        # Discord's default would hide these commands from members; a server admin can change that (and
        # the fake, like such a server, delivers the command to anyone): the bot must refuse by itself.
        synced = {c["name"]: c for c in fake.commands(fake.guild.id)}
        assert int(synced["reindex"]["default_member_permissions"]) == MANAGE_GUILD
        assert int(synced["stats"]["default_member_permissions"]) == MANAGE_GUILD
        for command in ("reindex", "stats"):
            asked = await fake.send_interaction(command, user=user, dm=dm)
            reply = await only_reply(fake, asked)
            assert reply.kind == "callback" and reply.callback_type == 4 and reply.ephemeral, reply
            expected = "Only server admins can use this command."
            if command == "reindex" and changes.get("admin_guilds") and user in (ADMIN, MANAGER):
                expected = DEFAULT_FOR_OPERATORS  # they manage this server, which answers from the default documents
            assert reply.text == expected, reply.text
    assert not any("planted" in o.text or "Reindex finished" in o.text or "Question statistics" in o.text
                   for o in fake.outputs)
    assert await service.store.hashes() == stored and "planted.txt" not in service.index.documents


@pytest.mark.parametrize("case", ALLOWED, ids=[_label(c) for c in ALLOWED])
async def test_admins_may_use_admin_commands(
    fake: FakeDiscord, service: QAService, case: tuple[FakeUser, bool, dict[str, Any]]
) -> None:
    user, dm, changes = case
    async with run_bot(bot_with(fake, service, **changes)):
        asked = await fake.send_interaction("stats", user=user, dm=dm)
        reply = await fake.wait_for_reply(asked)
        assert reply.ephemeral and "Question statistics" in reply.text, reply.text


async def test_a_manage_server_member_may_reindex(fake: FakeDiscord, service: QAService, docs: Path) -> None:
    (docs / "planted.txt").write_text("A planted document about zebras.\n", encoding="utf-8")
    async with run_bot(bot_with(fake, service)):
        asked = await fake.send_interaction("reindex", user=MANAGER)
        report = await fake.wait_for_reply(asked, lambda o: o.kind == "edit_original" and bool(o.embeds))
        assert "1 added" in report.text
    assert "planted.txt" in service.index.documents


# --- nothing pings, nothing breaks out of its quote ----------------------------------------------------------

HOSTILE_DOC = """Harbour notice @everyone [click](https://evil.example) `tick

Read [the full ferry timetable. The harbour ferry leaves at noon on Sunday](https://evil.example/phish). Bring tickets.

The `ferry captain said the harbour is calm. The ferry crew is ready` today.

The ||spoiler of the ferry. The ferry route crosses the bay|| quickly.

> The ferry pier is closed. ```python
import os``` the ferry ticket office opens at nine.

@everyone the ferry party starts at eight <@&1000000000000000111> and <@1000000000000000011> host it in
<#1000000000000000101>.

Ends with a backslash \\ the ferry engine is loud \\

# The ferry *deck* is _wet_. ~~The ferry horn~~ is __very__ loud @here.

-# The ferry fare is *five* pounds.** Children ride the ferry for free.
"""
FERRY_QUESTIONS = [
    "When does the harbour ferry leave?", "Is the harbour calm?", "What route does the ferry cross?",
    "When does the ticket office open?", "When does the ferry party start?", "Is the ferry engine loud?",
    "Is the ferry deck wet?", "How much is the ferry fare?", "Do children ride the ferry for free?",
]
MARKUP = set("*_~|`[]")  # characters Discord's markdown acts on; "\\" is checked as part of escapes
PING = re.compile(r"@everyone|@here|<@[!&]?\d+>|<#\d+>")


def unescaped_markup(text: str) -> list[str]:
    """Markdown characters in `text` that are not escaped by a backslash (as Discord reads escapes)."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in MARKUP:
            found.append(text[i])
        i += 1
    return found


def split_unescaped(text: str, marker: str) -> list[str]:
    """`text` split at each occurrence of `marker` that is not escaped."""
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith(marker, i):
            parts.append(text[start:i])
            i = start = i + len(marker)
        else:
            i += 1
    return [*parts, text[start:]]


def assert_inert(text: str, where: str, *, line_start: bool = False) -> None:
    """Text from a document or a user: no markup that acts, nothing that pings."""
    assert not unescaped_markup(text), (where, text)
    assert not PING.search(text), (where, text)
    if line_start:  # no block markup (quote, heading, subtext, list) where a line starts
        assert not re.match(r"\s*(>|#|-#|-\s)", text), (where, text)


ATTRIBUTION = re.compile(r"— \*(?P<title>.+)\* · (?P<source>.+) · ¶\d+(?: · \d{4}-\d\d-\d\d)?")


def assert_answer_is_contained(description: str) -> None:
    """Every line is one of the renderer's: a quote `> before**sentence**after`, or `— *title* · file · ¶N`;
    what comes from the document, in each of their pieces, is inert."""
    for block in description.split("\n\n"):
        *quote, attribution = block.split("\n")
        assert quote, block
        for line in quote:
            assert line.startswith("> "), line
            pieces = split_unescaped(line[2:], "**")  # the renderer's bold around the answering sentence
            assert len(pieces) == 3, line
            for n, piece in enumerate(pieces):
                assert_inert(piece, line, line_start=n == 0)
        match = ATTRIBUTION.fullmatch(attribution)
        assert match, attribution
        assert_inert(match["title"], attribution)
        assert_inert(match["source"], attribution)


def no_pings(output: SentMessage) -> bool:
    """Whether a message disables every mention (bare acknowledgements and deletions carry none)."""
    if (output.kind == "callback" and output.callback_type not in (4, 7)) or output.kind.startswith("delete"):
        return True
    allowed = output.allowed_mentions or {}
    return allowed.get("parse") == [] and not allowed.get("users") and not allowed.get("roles")


@pytest.fixture
def hostile_docs(docs: Path) -> Path:
    """The seeds plus a notice full of markdown, mentions and links, under a name with markdown too."""
    (docs / "ferry_notice_*v2*.txt").write_text(HOSTILE_DOC, encoding="utf-8")
    return docs


async def test_nothing_a_document_contains_pings_or_breaks_out_of_its_quote(
    fake: FakeDiscord, hostile_docs: Path, tmp_path: Path
) -> None:
    service = await QAService.open(tmp_path / "hostile.sqlite3", hostile_docs)
    try:
        async with run_bot(bot_with(fake, service, admin_ids=frozenset({ADMIN.id}))):
            for question in FERRY_QUESTIONS:
                asked = await fake.send_interaction("ask", {"question": question}, user=ALICE)
                reply = await fake.wait_for_reply(asked)
                [embed] = reply.embeds
                assert "ferry\\_notice" in embed["description"], (question, embed["description"])
                assert_answer_is_contained(embed["description"])
            for options in ({"document": "ferry_notice_*v2*.txt", "sentences": 15}, {"topic": "ferry"}):
                asked = await fake.send_interaction("summary", options, user=ALICE)
                [embed] = (await fake.wait_for_reply(asked)).embeds
                for block in embed["description"].split("\n"):
                    assert block.startswith(("> ", "— ")), block
                    if block.startswith("> "):
                        assert_inert(block[2:], block, line_start=True)
                    else:
                        assert_inert(re.sub(r" · ¶\d+.*", "", block[2:]), block)
            listing = await fake.wait_for_reply(await fake.send_interaction("sources", user=ALICE))
            assert "ferry" in listing.text
            assert not PING.search(listing.text)
            for line in listing.embeds[0]["description"].split("\n"):  # **title** / id · date · N passages
                if line.startswith("**"):
                    assert_inert(line[2:-2], line)
                else:
                    assert_inert(line.split(" · ")[0], line, line_start=True)
            sent = await fake.send_message("Is the ferry engine loud?", BOB, dm=True)
            assert_answer_is_contained((await fake.wait_for_reply(sent)).embeds[0]["description"])
    finally:
        await service.close()
    assert all(no_pings(o) for o in fake.outputs)
    assert not [r for r in fake.requests if r.status >= 400]


HOSTILE_QUESTIONS = [
    "@everyone @here who is the ferry captain? <@&1000000000000000111> <@1000000000000000011>",
    "[free nitro](https://evil.example) ||click|| `run` **now** ~~ok~~ __u__ \\ ferry?",
    "> quoted\n# heading\n-# small\n```\ncode\n``` where is the ferry?",
    "'); DROP TABLE questions;-- @everyone",
]


async def test_nothing_a_question_contains_pings_or_breaks_out(fake: FakeDiscord, service: QAService) -> None:
    async with run_bot(bot_with(fake, service, admin_ids=frozenset({ADMIN.id}))):
        for question in HOSTILE_QUESTIONS:
            for asked in (await fake.send_interaction("ask", {"question": question}, user=ALICE),
                          await fake.send_interaction("summary", {"topic": question}, user=ALICE),
                          await fake.send_interaction("summary", {"document": question}, user=ALICE)):
                reply = await fake.wait_for_reply(asked)
                assert not PING.search(reply.text), reply.text
                for embed in reply.embeds:
                    assert_inert(embed["title"], "title")
                if not reply.embeds:  # an error: one line, all of it inert
                    assert reply.content is not None and "\n" not in reply.content
                    assert_inert(reply.content, "error", line_start=True)
            sent = await fake.send_message(question, BOB, dm=True)
            dm = await fake.wait_for_reply(sent)
            assert not PING.search(dm.text)
            for embed in dm.embeds:
                assert_inert(embed["title"], "title")
        # Unanswered questions come back in /stats: quoted there too, inert.
        stats = await fake.wait_for_reply(await fake.send_interaction("stats", user=ADMIN))
        [field] = stats.embeds[0]["fields"]
        assert "drop table questions" in field["value"]
        for line in field["value"].split("\n"):
            assert_inert(line, "stats", line_start=True)
    assert all(no_pings(o) for o in fake.outputs)
    assert not [r for r in fake.requests if r.status >= 400]


# --- document names from users reach only the index, never the filesystem ------------------------------------

CANARY = "CANARY-d41d8cd98f00b204"
_opened: list[str] | None = None  # while a list, every audited file access is appended to it
_hooked: list[bool] = []  # an audit hook cannot be removed: it is added once, on first use


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Record file opens, listings and stats (sys.addaudithook: the interpreter's own record of them)."""
    if _opened is not None and event in ("open", "os.listdir", "os.scandir", "os.walk", "os.chdir", "glob.glob"):
        _opened.append(f"{event} {args[0]!r}")



@pytest.fixture
def file_accesses(secret: Path) -> Iterator[list[str]]:
    """Every file the process opens or lists inside the block."""
    global _opened
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked.append(True)
    _opened = []
    try:
        secret.read_text(encoding="utf-8")  # the hook sees what it must: this open is recorded
        assert _opened == [f"open {str(secret)!r}"], _opened
        del _opened[:]
        yield _opened
    finally:
        _opened = None


def hostile_names(docs: Path, secret: Path) -> list[str]:
    """Names a user could give for a document: paths in, out of and around the documents folder."""
    return [
        "../../etc/passwd", "/etc/passwd", "..", ".", "/", "~/.ssh/id_rsa", "file:///etc/passwd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..\\..\\windows\\win.ini", f"seeds/{SEED}", f"./{SEED}",
        f"docs/{SEED}", f"../docs/{SEED}", str(SEEDS / SEED), str(docs / SEED), f"{SEED}\x00", f"{SEED}\x00.png",
        "\x00", str(secret), "../secret.txt", f"{docs}/../secret.txt", "secret.txt", "x" * 6000,
    ]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file beside the documents folder that no command may ever read."""
    path = tmp_path / "secret.txt"
    path.write_text(f"{CANARY}\n\nThe password is {CANARY}.\n", encoding="utf-8")
    return path


async def test_document_names_resolve_only_to_indexed_documents(
    service: QAService, docs: Path, secret: Path, file_accesses: list[str]
) -> None:
    for name in hostile_names(docs, secret):
        with pytest.raises(UnknownDocumentError):
            await service.summary(document=name)
        assert all(s.id in service.index.documents for s in service.document_choices(name))
    assert file_accesses == []
    assert (await service.summary(document=SEED)).sentences  # the indexed id itself works


async def test_document_names_from_discord_never_reach_the_filesystem(
    fake: FakeDiscord, service: QAService, docs: Path, secret: Path, file_accesses: list[str]
) -> None:
    async with run_bot(bot_with(fake, service)):
        del file_accesses[:]  # start-up is not what this test is about
        for name in hostile_names(docs, secret):
            asked = await fake.send_interaction("summary", {"document": name}, user=ALICE)
            reply = await fake.wait_for_reply(asked)
            assert reply.ephemeral and reply.content and reply.content.startswith("No indexed document"), reply
            assert len(reply.content) <= 2000
            typed = await fake.send_autocomplete("summary", {"document": name}, "document", user=ALICE)
            choices = (await fake.wait_for_reply(typed)).choices or ()
            assert {c["value"] for c in choices} <= set(service.index.documents), choices
        for typed_value in ("../", "/etc", "passwd", "secret", "\x00"):
            typed = await fake.send_autocomplete("summary", {"document": typed_value}, "document", user=ALICE)
            assert (await fake.wait_for_reply(typed)).choices == ()
        accesses = list(file_accesses)
    assert accesses == [], accesses
    assert not any(CANARY in o.text or "root:" in o.text for o in fake.outputs)


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database over the seeds, built once for the CLI runs."""
    return tmp_path_factory.mktemp("cli") / "qa.sqlite3"


@pytest.mark.parametrize("name", ["/etc/passwd", str(SEEDS / SEED), f"seeds/{SEED}", "SECRET"])
def test_cli_summary_document_never_reads_a_path(cli_db: Path, tmp_path: Path, secret: Path, name: str) -> None:
    name = str(secret) if name == "SECRET" else name
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "DISCORD_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "summary", "--docs", str(SEEDS), "--db", str(cli_db), "--document", name],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: No indexed document is called {name!r}"), line
    assert CANARY not in result.stderr and "root:" not in result.stderr


# --- SQL only with parameters --------------------------------------------------------------------------------

SQL_CALLS = {"execute", "executemany", "executescript", "_all", "execute_fetchall", "execute_insert"}


def built_sql(source: str, filename: str = "<source>") -> tuple[int, list[str]]:
    """(number of SQL calls, those whose statement is not a constant string) in Python source."""
    tree = ast.parse(source)
    constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
    calls, built = 0, []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS and node.args):
            continue
        calls += 1
        statement = node.args[0]
        if isinstance(statement, ast.Name) and statement.id == "sql" and node.func.attr == "execute":
            continue  # Store._all(sql, args) passes its caller's statement on: the callers are checked
        if isinstance(statement, ast.Name):
            statement = constants.get(statement.id, statement)
        if not (isinstance(statement, ast.Constant) and isinstance(statement.value, str)):
            built.append(f"{filename}:{node.lineno}: {ast.unparse(statement)}")
    return calls, built


def test_every_sql_statement_is_a_constant_string() -> None:
    """No f-string, concatenation, % or .format builds SQL: values travel only as parameters."""
    total = 0
    for path in sorted([*(ROOT / "retrieval").glob("*.py"), *(ROOT / "bot").glob("*.py")]):
        calls, built = built_sql(path.read_text(encoding="utf-8"), path.name)
        assert built == [], built
        total += calls
    assert total >= 10, "the scan found the store's statements"


def test_the_sql_scan_catches_statements_built_from_values() -> None:
    source = """
SCHEMA = "CREATE TABLE t (x)"
async def f(db, store, name, n):
    await db.executescript(SCHEMA)
    await db.execute("SELECT 1 FROM t WHERE x = ?", (name,))
    await db.execute(f"SELECT 1 FROM t WHERE x = '{name}'")
    await db.execute("SELECT 1 FROM t WHERE x = '" + name + "'")
    await db.execute("SELECT 1 FROM t WHERE x = '%s'" % name)
    await store._all("SELECT 1 FROM t LIMIT {}".format(n))
    await db.executemany(query, rows)
"""
    calls, built = built_sql(source)
    assert calls == 7
    assert [int(b.split(":")[1]) for b in built] == [6, 7, 8, 9, 10], built  # all but the constant ones


INJECTIONS = [
    "'); DROP TABLE questions;--",
    "Robert'); DROP TABLE documents; --",
    "\" OR 1=1 --",
    "x' UNION SELECT value FROM meta --",
    "%s %d {0} ? :name $1 @p",
    "It's O'Brien's \"quote\"; -- and \\ backslash",
]


async def test_hostile_strings_are_stored_and_read_back_intact(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    name = "O'Brien'); DROP TABLE passages;-- report.txt"
    (docs / name).write_text("Ferry report\n\nThe ferry O'Brien runs daily; it carries cars.\n", encoding="utf-8")
    service = await QAService.open(tmp_path / "qa.sqlite3", docs)
    try:
        logged = [(await service.ask(q, via=q, user_id=q, channel=q)) for q in INJECTIONS]
        assert name in service.index.documents and (await service.summary(document=name)).sentences
        await service.store.set_meta(INJECTIONS[0], INJECTIONS[1])
        assert await service.store.get_meta(INJECTIONS[0]) == INJECTIONS[1]
        assert await service.questions.record_feedback(logged[0].question_id, INJECTIONS[2], 1)
        stats = await service.stats()
    finally:
        await service.close()
    assert stats.questions == len(INJECTIONS) and stats.thumbs_up == 1
    with sqlite3.connect(tmp_path / "qa.sqlite3") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rows = db.execute("SELECT question, via, user_id, channel FROM questions ORDER BY id").fetchall()
        documents = {r[0] for r in db.execute("SELECT id FROM documents")}
        assert db.execute("SELECT user_id FROM feedback").fetchall() == [(INJECTIONS[2],)]
    db.close()
    assert {"meta", "documents", "passages", "skipped", "questions", "feedback"} <= tables
    assert rows == [(a.answer.question, q, q, q) for a, q in zip(logged, INJECTIONS, strict=True)]
    assert [a.answer.question for a in logged] == [" ".join(q.split()) for q in INJECTIONS]
    assert name in documents and len(documents) == 6


# --- the token is never in a log line, an error or a reply (in process; the real process: test_bot_process) ---

SECRET = "MTA0.Sekr1t-in-process.token-never-shown"


async def test_the_token_never_appears_in_logs_errors_or_replies(
    service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    async with FakeDiscord(token=SECRET, guilds=[security_guild()]) as fake:
        with point_discord_py_at(fake):
            async with run_bot(bot_with(fake, service), token=SECRET):
                fake.fail_next("/callback", 429, retry_after=0.05)  # discord.py logs and retries it
                await fake.wait_for_reply(await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"}))
                fake.fail_next("/callback", 403, code=50013)  # not retried: an error logged with its traceback
                failed = await fake.send_interaction("ask", {"question": "Who is Steve Witkoff?"})
                assert "went wrong" in (await fake.wait_for_reply(failed, lambda o: o.content is not None)).text
                for asked in (await fake.send_interaction("summary", {"document": "../../etc/passwd"}),
                              await fake.send_interaction("reindex", user=ALICE),
                              await fake.send_interaction("stats", user=ADMIN),
                              await fake.send_interaction("reindex", user=ADMIN)):
                    await fake.wait_for_reply(asked, lambda o: o.kind != "callback" or o.callback_type != 5)
                await fake.send_message("Who is Steve Witkoff?", BOB, dm=True)
                await fake.wait_for_output(lambda o: o.kind == "channel_message")
                await fake.drop_gateway()  # reconnecting sends the token again
                await fake.wait_until_connected()
            with pytest.raises(discord.LoginFailure) as refused:  # and a wrong token: refused without showing it
                async with run_bot(bot_with(fake, service), token=SECRET + "-wrong"):
                    pass
    records = caplog.records
    lines = [caplog.handler.format(r) for r in records]  # message, arguments and traceback of each
    assert any(r.levelno == logging.DEBUG and r.name.startswith("discord.http") for r in records)
    assert any(r.levelno == logging.WARNING and "rate limited" in r.getMessage() for r in records)
    assert any(r.levelno == logging.ERROR and r.exc_info for r in records)
    assert [line for line in lines if SECRET in line] == []
    assert SECRET not in str(refused.value) and SECRET not in repr(refused.value)
    assert [o.text for o in fake.outputs if SECRET in o.text or SECRET in repr(o.body)] == []
