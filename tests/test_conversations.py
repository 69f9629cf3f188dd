"""Conversations (issue 11): elliptical follow-ups, pronouns, a switch to an unanswerable question, and
no repeated quote — through the engine, `qa-bot chat --json` (real processes) and the real bot
against the fake Discord. Typos answered as the spelt question, with the correction shown."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.render_discord import answer_embed
from bot.render_text import answer_text
from bot.service import QAService
from retrieval.answer import answer
from retrieval.documents import read_folder
from retrieval.index import Index
from retrieval.model import Answer
from retrieval.passages import all_passages
from tests.support.bots import TestBot, settings_for
from tests.support.conversation_cases import CONVERSATIONS, Turn
from tests.support.fake_discord import FakeDiscord, run_bot
from tests.support.fake_discord_payloads import FakeUser
from tests.support.processes import qa_bot

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
TYPO = "How many Palestinan prisoners will be relesed?"
SPELT = "How many Palestinian prisoners will be released?"


@pytest.fixture(scope="module")
def index() -> Index:
    documents, _ = read_folder(SEEDS)
    return Index.build(documents, all_passages(documents))


def check_turn(turn: Turn, answered: bool, follow_up: bool, first: str, previous_first: str | None) -> None:
    """One turn's reply against what the conversation expects of it."""
    assert answered is turn.answered, (turn.question, first)
    if not turn.answered:
        assert first == ""
        return
    assert follow_up is turn.follow_up, turn.question
    for words in turn.holds:
        assert words in first, (turn.question, first)
    for words in turn.lacks:
        assert words not in first, (turn.question, first)
    if turn.follow_up and previous_first is not None and turn.lacks:
        assert first != previous_first


# --- the engine, as the service drives it ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONVERSATIONS))
async def test_conversations_through_the_service(name: str, tmp_path: Path) -> None:
    service = await QAService.open(tmp_path / "qa.sqlite3", SEEDS)
    try:
        previous = None
        for turn in CONVERSATIONS[name]:
            result = (await service.ask(turn.question, conversation="me")).answer
            first = result.quotes[0].text if result.quotes else ""
            check_turn(turn, result.answered, result.context_used, first, previous)
            previous = first
    finally:
        await service.close()


def test_without_the_previous_quote_the_follow_up_repeats_it(index: Index) -> None:
    """The repeated-quote rule is what changes the answer: without it, the quote just given comes first."""
    history = ("Who is Scott Lucas?",)
    given = answer(index, history[0]).quotes[0].text
    assert given in answer(index, "What did he say about Trump?", history).quotes[0].text
    assert answer(index, "What did he say about Trump?", history, quoted=(given,)).quotes[0].text != given


def test_a_repeated_quote_stays_when_nothing_else_answers(index: Index) -> None:
    history = ("How many hostages will be released in the first phase?",)
    given = answer(index, history[0]).quotes[0].text
    again = answer(index, "In exchange for what?", history, quoted=(given,))
    assert again.quotes[0].text == given and "2,000 Palestinian prisoners" in given


# --- qa-bot chat --json, one process a conversation ----------------------------------------------------


@pytest.fixture(scope="module")
def chats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, object]]]:
    """Every conversation piped into its own `qa-bot chat --json`, over copies of one built store."""
    base = tmp_path_factory.mktemp("chats")
    shutil.copytree(SEEDS, base / "docs")

    async def build() -> None:
        await (await QAService.open(base / "built" / "qa.sqlite3", base / "docs")).close()

    asyncio.run(build())
    folders = {}
    for n, name in enumerate(CONVERSATIONS):
        folders[name] = base / f"c{n}"
        shutil.copytree(base / "built", folders[name] / "db")

    def chat(name: str) -> subprocess.CompletedProcess[str]:
        stdin = "".join(t.question + "\n" for t in CONVERSATIONS[name])
        return qa_bot(folders[name], "chat", "--json", "--docs", str(base / "docs"), "--db",
                      str(folders[name] / "db" / "qa.sqlite3"), stdin=stdin)

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(CONVERSATIONS, pool.map(chat, CONVERSATIONS), strict=True))
    out = {}
    for name, result in done.items():
        assert result.returncode == 0 and result.stderr == "", result.stderr
        out[name] = [json.loads(line) for line in result.stdout.splitlines()]
    return out


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_conversations_through_qa_bot_chat_json(chats: dict[str, list[dict[str, object]]], name: str) -> None:
    replies = chats[name]
    assert [r["question"] for r in replies] == [t.question for t in CONVERSATIONS[name]]
    previous = None
    for turn, reply in zip(CONVERSATIONS[name], replies, strict=True):
        quotes = reply["quotes"]
        assert isinstance(quotes, list)
        first = quotes[0]["text"] if quotes else ""
        check_turn(turn, bool(reply["answered"]), bool(reply["context_used"]), first, previous)
        previous = first


# --- the real bot against the fake Discord ---------------------------------------------------------------


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[QAService]:
    svc = await QAService.open(tmp_path / "db" / "qa.sqlite3", SEEDS)
    yield svc
    await svc.close()


def plain(text: str) -> str:
    """Discord text without markdown escapes and bold marks, for comparing words."""
    return text.replace("\\", "").replace("**", "")


def first_quote(description: str) -> str:
    """The first quote block of an answer embed (its lines before the first attribution)."""
    lines = []
    for line in description.splitlines():
        if line.startswith("— "):
            break
        if line.startswith("> "):
            lines.append(line[2:])
    return plain(" ".join(lines))


async def test_conversations_through_the_fake_discord(fake: FakeDiscord, service: QAService) -> None:
    client = TestBot(service, settings_for(fake), guild_ready_timeout=0.1)
    async with run_bot(client, timeout=10):
        for n, (name, turns) in enumerate(CONVERSATIONS.items()):
            asker = FakeUser(2_000_000_000_000_000_000 + n, f"asker-{n}")  # one DM conversation each
            previous = None
            for turn in turns:
                sent = await fake.send_message(turn.question, asker, dm=True)
                reply = await fake.wait_for_reply(sent, timeout=10)
                description = reply.embeds[0]["description"]
                answered = "couldn't find" not in description
                first = first_quote(description) if answered else ""
                follow_up = "Follow-up" in reply.text
                try:
                    check_turn(turn, answered, follow_up, first, previous)
                except AssertionError as exc:
                    raise AssertionError(f"{name}: {exc}") from exc
                previous = first


# --- typos -------------------------------------------------------------------------------------------------


def test_two_typos_are_answered_as_the_spelt_question(index: Index) -> None:
    typo, spelt = answer(index, TYPO), answer(index, SPELT)
    assert typo.corrected == (("palestinan", "palestinian"), ("relesed", "released"))
    assert spelt.corrected == ()
    assert typo.answered and spelt.answered
    assert [q.text for q in typo.quotes] == [q.text for q in spelt.quotes]
    assert "2,000 Palestinian prisoners" in typo.quotes[0].text
    assert typo.confidence == pytest.approx(spelt.confidence)


def test_typos_are_read_with_the_other_words(index: Index) -> None:
    result = answer(index, "Who is Stev Witkof?")  # "stev" is one edit from "step" too, a commoner word
    assert result.corrected == (("stev", "steve"), ("witkof", "witkoff"))
    assert "Steve Witkoff" in result.quotes[0].text


def test_real_words_the_documents_lack_are_not_typos(index: Index) -> None:
    result = answer(index, "What did Trump say about Mars?")  # "mars" is one edit from "wars"
    assert result.corrected == () and not result.answered


def test_the_correction_is_shown_in_the_terminal_and_in_discord(index: Index) -> None:
    result = answer(index, TYPO)
    text = answer_text(result)
    assert text.splitlines()[0] == "(searched for: *palestinian*, *released*)"
    assert "2,000 Palestinian prisoners" in text
    description = answer_embed(result).description or ""
    assert description.startswith("Searched for: *palestinian*, *released*\n\n> ")
    spelt = answer(index, SPELT)
    assert "searched for" not in answer_text(spelt)
    assert "Searched for" not in (answer_embed(spelt).description or "")


def test_a_correction_is_shown_with_a_not_found_too(index: Index) -> None:
    result = Answer("Who is Stev Witkof?", (), ("A title",), corrected=(("stev", "steve"),))
    assert answer_text(result).startswith("(searched for: *steve*)\n")
    assert (answer_embed(result).description or "").startswith("Searched for: *steve*\n\n")


def test_typos_through_qa_bot_ask(tmp_path: Path) -> None:
    db = ["--docs", str(SEEDS), "--db", str(tmp_path / "qa.sqlite3")]
    shown = qa_bot(tmp_path, "ask", TYPO, *db)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("(searched for: *palestinian*, *released*)\n")
    as_json = qa_bot(tmp_path, "ask", TYPO, "--json", *db)
    reply = json.loads(as_json.stdout)
    assert reply["corrected"] == [{"typed": "palestinan", "searched": "palestinian"},
                                  {"typed": "relesed", "searched": "released"}]
    assert reply["answered"] and "2,000 Palestinian prisoners" in reply["quotes"][0]["text"]


async def test_typos_through_the_fake_discord(fake: FakeDiscord, service: QAService) -> None:
    client = TestBot(service, settings_for(fake), guild_ready_timeout=0.1)
    async with run_bot(client, timeout=10):
        asked = await fake.send_interaction("ask", {"question": TYPO})
        reply = await fake.wait_for_reply(asked)
    description = reply.embeds[0]["description"]
    assert description.startswith("Searched for: *palestinian*, *released*\n\n> ")
    assert "2,000 Palestinian prisoners" in plain(description)
