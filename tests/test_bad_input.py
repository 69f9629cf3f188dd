"""Hostile questions and documents: always a well-formed reply within Discord's limits, never a crash or a ping."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fake_discord import FakeDiscord, run_bot
from fake_discord_payloads import ALICE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_discord_e2e import TestBot

from bot import render_discord as render
from bot.config import Settings
from bot.discord_ask import question_text
from bot.service import QAService
from retrieval.answer import answer
from retrieval.documents import read_folder
from retrieval.errors import QAError
from retrieval.reindex import build
from retrieval.summary import summarize_collection, summarize_document, summarize_topic

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
PING = re.compile(r"@everyone|@here|<@[!&]?\d+>")

HOSTILE = [
    "",
    "   \n\t ",
    "x" * 6000,
    "Who is " + "Witkoff " * 700,
    "What\u200b is\u200d the\u2060 ceasefire?",
    "\u202eWho is Steve Witkoff?\u202c",
    "ما هو وقف إطلاق النار؟ Who is Witkoff?",
    "🕊️🇮🇱🇺🇸 Who is Steve Witkoff? 🤝",
    "**bold** __under__ ~~strike~~ > quote `code` Who is Witkoff?",
    "```python\nimport os; os.system('rm -rf /')\n``` Who is Witkoff?",
    "@everyone @here <@&123456789012345678> <@!1> Who is Steve Witkoff?",
    "\x00\x01\x07\x1b[31m Who is Witkoff?",
    "[click](https://evil.example/) Who is Witkoff?",
]

questions = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=900, max_size=6500),
    st.builds(lambda a, b: f"{a} Who is Steve Witkoff? {b}", st.text(max_size=50), st.text(max_size=50)),
)


@pytest.fixture(scope="module")
def loop_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QAService]:
    """One service over the seeds for the whole module (hypothesis runs many examples)."""
    tmp = tmp_path_factory.mktemp("bad")
    service = asyncio.run(QAService.open(tmp / "qa.sqlite3", SEEDS))
    yield service
    asyncio.run(service.close())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(question=questions)
def test_any_question_gets_a_well_formed_reply(loop_service: QAService, question: str) -> None:
    async def ask() -> None:
        try:
            asked = await loop_service.ask(question_text(question), "k", via="test")
        except QAError as exc:  # empty or too long: a clear message, which must itself be safe
            assert str(exc) and len(str(exc)) < 300
            return
        embed = render.answer_embed(asked.answer)
        assert render.embed_fits(embed)
        assert not PING.search((embed.title or "") + (embed.description or ""))
        for quote in asked.answer.quotes:
            assert quote.passage[quote.start : quote.end] == quote.text

    asyncio.run(ask())


documents = st.one_of(
    st.binary(max_size=4000),
    st.text(max_size=3000).map(lambda t: t.encode("utf-8")),
    st.builds(lambda n: ("word " * n).encode(), st.integers(0, 200_000)),  # one huge line, no breaks
    st.builds(lambda a, b: a.encode("utf-8") + b.encode("latin-1"), st.text(max_size=200),
              st.text(alphabet="éàüß", min_size=1, max_size=20)),  # mixed encodings
    st.builds(lambda t: t.encode("utf-16"), st.text(min_size=1, max_size=200)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blobs=st.lists(documents, min_size=1, max_size=4))
def test_any_folder_reads_and_indexes_without_crashing(tmp_path_factory: pytest.TempPathFactory,
                                                       blobs: list[bytes]) -> None:
    folder = tmp_path_factory.mktemp("docs")
    shutil.copy(SEEDS / "004_311b2db2833709a6.txt", folder / "good.txt")
    for n, blob in enumerate(blobs):
        (folder / f"f{n}.txt").write_bytes(blob)
    docs, skipped = read_folder(folder)
    assert {d.id for d in docs} | {s.name for s in skipped} == {p.name for p in folder.iterdir()}
    assert "good.txt" in {d.id for d in docs}
    assert all(s.reason for s in skipped)
    index = build(docs)
    assert index.search(index.query_vector("Netanyahu Washington"), 3)


# Documents made to hurt the renderer: markdown and mentions everywhere, no sentence ends, one endless line.
PIECES = [*"abc xyz*_~|`>#-[]()<@&!:\\\n.", "@everyone", "@here", "<@&123456789012345678>", "```", "||", "zebra "]
hostile_text = st.lists(st.sampled_from(PIECES), min_size=1, max_size=1500).map("".join)
endless = st.builds(lambda n, w: (w + " ") * n, st.integers(1, 20_000), st.sampled_from(["xyz", "**xyz**", "@here"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(texts=st.lists(st.one_of(hostile_text, endless), min_size=1, max_size=3), question=questions)
def test_answers_and_summaries_of_any_documents_fit_discord_and_ping_no_one(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str], question: str
) -> None:
    folder = tmp_path_factory.mktemp("hostile")
    for n, text in enumerate(texts):
        (folder / f"h{n}.txt").write_text(text, encoding="utf-8")
    docs, _skipped = read_folder(folder)
    index = build(docs)
    embeds = [render.summary_embed(summarize_collection(index, 15)),
              render.summary_embed(summarize_topic(index, "xyz abc", 15))]
    embeds += [render.summary_embed(summarize_document(index, d.id, 15)) for d in docs]
    for asked in (question_text(question), "xyz abc", "everyone here"):
        try:
            embeds.append(render.answer_embed(answer(index, asked)))
        except QAError:
            pass
    for embed in embeds:
        assert render.embed_fits(embed), embed.to_dict()
        assert not PING.search((embed.title or "") + (embed.description or "")), embed.to_dict()


# --- the same through the real bot and the fake Discord -------------------------------------------


@pytest.fixture
async def bot(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[TestBot]:
    """The real bot over the seeds."""
    service = await QAService.open(tmp_path / "qa.sqlite3", SEEDS)
    client = TestBot(service, Settings(cooldown_seconds=0, dev_guild=fake.guild.id), guild_ready_timeout=0.1)
    try:
        async with run_bot(client, timeout=10):
            yield client
    finally:
        await service.close()


def assert_no_crash(fake: FakeDiscord, caplog: pytest.LogCaptureFixture) -> None:
    """Every reply was a real one: no "something went wrong", no error logged, nothing Discord refused."""
    assert not [o.text for o in fake.outputs if "went wrong" in o.text]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    errors = [r for r in fake.requests if r.status >= 400]
    assert not errors, [(r.path, r.status, r.response) for r in errors]


async def test_hostile_questions_through_discord(
    fake: FakeDiscord, bot: TestBot, caplog: pytest.LogCaptureFixture
) -> None:
    for question in HOSTILE:
        slash = await fake.send_interaction("ask", {"question": question}, user=ALICE)
        reply = await fake.wait_for_reply(slash, timeout=15)
        assert reply.allowed_mentions is not None and reply.allowed_mentions.get("parse") == []
        assert not PING.search(reply.text), reply.text
        dm = await fake.send_message(question or "?", ALICE, dm=True)
        answer = await fake.wait_for_reply(dm, timeout=15)
        assert not PING.search(answer.text)
    assert_no_crash(fake, caplog)


async def test_hostile_documents_through_discord(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "docs"
    shutil.copytree(SEEDS, folder)
    (folder / "endless.txt").write_text("The zebra @everyone **runs** " * 40_000, encoding="utf-8")  # one line
    (folder / "unbroken.md").write_text("\n".join(f"zebra line {i} `tick ||" for i in range(5000)), encoding="utf-8")
    (folder / "mixed.txt").write_bytes("zebra café ".encode() + "zebra café".encode("latin-1"))
    (folder / "random.txt").write_bytes(bytes(range(256)) * 40)
    service = await QAService.open(tmp_path / "qa.sqlite3", folder)
    client = TestBot(service, Settings(cooldown_seconds=0, dev_guild=fake.guild.id, admin_ids=frozenset({ALICE.id})),
                     guild_ready_timeout=0.1)
    try:
        async with run_bot(client, timeout=10):
            events = [await fake.send_interaction("ask", {"question": "Which zebra runs?"}, user=ALICE),
                      await fake.send_interaction("summary", {"document": "endless.txt", "sentences": 15}),
                      await fake.send_interaction("summary", {"document": "unbroken.md", "sentences": 15}),
                      await fake.send_interaction("summary", {"topic": "zebra", "sentences": 15}),
                      await fake.send_interaction("summary", {"sentences": 15}),
                      await fake.send_interaction("sources")]
            replies = [await fake.wait_for_reply(e, timeout=15) for e in events]
            assert "zebra" in replies[0].text.lower() and "endless" in replies[1].text
            dm = await fake.send_message("Which zebra runs?", ALICE, dm=True)
            replies.append(await fake.wait_for_reply(dm, timeout=15))
            reindex = await fake.send_interaction("reindex", user=ALICE)
            report = await fake.wait_for_reply(reindex, lambda o: o.kind == "edit_original" and bool(o.embeds))
            assert "mixed.txt" in report.text and "random.txt" in report.text  # skipped, with their reasons
    finally:
        await service.close()
    for reply in replies:
        assert not PING.search(reply.text), reply.text
        assert reply.allowed_mentions is not None and reply.allowed_mentions.get("parse") == []
    assert_no_crash(fake, caplog)
