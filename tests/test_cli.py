"""The `qa-bot` command line, run as a real process (`python -m bot`) over copies of the seeds.

Each process spends about a second importing scikit-learn, so the independent commands are started
together by the module fixture `runs`, each in its own folder (no `.env` there unless a test puts one),
and every test checks the outcome of its own command.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.service import QAService
from retrieval.documents import parse_document, read_folder
from retrieval.passages import all_passages
from tests.support.processes import clean_env, qa_bot

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
WITKOFF = "Who is Steve Witkoff?"
WITKOFF_SOURCE = "004_311b2db2833709a6.txt"
WITKOFF_SENTENCE = (
    "Netanyahu and Trump's Mideast envoy Steve Witkoff on Feb. 3 began the daunting work of brokering "
    "the next phase of a ceasefire agreement."
)
NOT_FOUND = "What is the capital of Mongolia?"
QUOTE_KEYS = {"text", "source", "title", "paragraph", "date", "score"}
LONG_QUESTION = "why " * 400  # over the 1,000-character limit


@dataclass(frozen=True)
class Run:
    """A finished command and the folder it ran in."""

    cwd: Path
    db: Path
    result: subprocess.CompletedProcess[str]

    @property
    def json(self) -> list[dict[str, object]]:
        """Standard output as JSON lines, after checking the command succeeded quietly."""
        assert self.result.returncode == 0, self.result.stderr
        assert self.result.stderr == ""
        return [json.loads(line) for line in self.result.stdout.splitlines()]


def paths(folder: Path, docs: Path) -> list[str]:
    return ["--docs", str(docs), "--db", str(folder / "db" / "qa.sqlite3")]


def _prepare_reindex(folder: Path) -> list[str]:
    """A first index built in this process, then a folder edited four ways."""
    docs, db = folder / "docs", folder / "db" / "qa.sqlite3"
    shutil.copytree(SEEDS, docs)

    async def build() -> None:
        await (await QAService.open(db, docs)).close()

    asyncio.run(build())
    (docs / "zebra.md").write_text("Zebras crossed the Limpopo river in March.\n")
    with (docs / "001_6f0a259a21d08320.txt").open("a") as f:
        f.write("\n\nA new closing paragraph.\n")
    (docs / "002_cda3340852537e62.txt").unlink()
    (docs / "scan.txt").write_bytes(b"\x00\x01\x02" * 100)
    return ["reindex", "--json", "--docs", str(docs), "--db", str(db)]


def _prepare_corrupt(folder: Path, docs: Path) -> list[str]:
    (folder / "db").mkdir()
    (folder / "db" / "qa.sqlite3").write_text("not a database\n" * 100)
    shutil.copy(folder / "db" / "qa.sqlite3", folder / "original")
    return ["ask", WITKOFF, *paths(folder, docs)]


def _prepare_env_file(folder: Path, docs: Path) -> list[str]:
    (folder / ".env").write_text(f"QA_DOCS={docs}\nQA_DB={folder / 'db' / 'qa.sqlite3'}\n")
    return ["sources", "--json"]


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the seeds shared by the commands that only read it."""
    folder = tmp_path_factory.mktemp("shared") / "docs"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, docs: Path) -> dict[str, Run]:
    """Every independent command, run concurrently, each in a fresh folder with its own database."""
    commands: dict[str, tuple[Callable[[Path], list[str]], str]] = {
        "ask json": (lambda f: ["ask", WITKOFF, "--json", *paths(f, docs)], ""),
        "ask stdin": (lambda f: ["ask", "--json", *paths(f, docs)],
                      f"{WITKOFF}\n\n   \n{NOT_FOUND}\n{NOT_FOUND.upper()}\n"),
        "chat": (lambda f: ["chat", "--json", *paths(f, docs)], f"{WITKOFF}\nWhat did he do on Feb. 3?\n"),
        "sources": (lambda f: ["sources", "--json", *paths(f, docs)], ""),
        "reindex": (_prepare_reindex, ""),
        "ask text": (lambda f: ["ask", *WITKOFF.split(), *paths(f, docs)], ""),  # the words, unquoted
        "missing docs": (lambda f: ["sources", "--docs", str(f / "no-such-folder"), "--db", str(f / "qa.db")], ""),
        "empty question": (lambda f: ["ask", "  ", *paths(f, docs)], ""),
        "corrupt db": (lambda f: _prepare_corrupt(f, docs), ""),
        "no command": (lambda f: [], ""),
        "env file": (lambda f: _prepare_env_file(f, docs), ""),
        "flags first": (lambda f: ["--json", *paths(f, docs), "sources"], ""),
        "chat text": (lambda f: ["chat", *paths(f, docs)], f"{WITKOFF}\nWhat did he do on Feb. 3?\n{NOT_FOUND}\n"),
        "ask json bad line": (lambda f: ["ask", "--json", *paths(f, docs)], f"{WITKOFF}\n{LONG_QUESTION}\n"),
        "unknown near": (lambda f: ["summary", "--document", WITKOFF_SOURCE.replace("_3", "_4"), *paths(f, docs)], ""),
        "unknown far": (lambda f: ["summary", "--document", "minutes.txt", *paths(f, docs)], ""),
    }
    base = tmp_path_factory.mktemp("runs")
    prepared = {}
    for name, (prepare, stdin) in commands.items():
        folder = base / name.replace(" ", "-")
        folder.mkdir()
        prepared[name] = (folder, prepare(folder), stdin)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(qa_bot, f, *args, stdin=stdin) for name, (f, args, stdin) in prepared.items()}
    return {name: Run(prepared[name][0], prepared[name][0] / "db" / "qa.sqlite3", f.result())
            for name, f in futures.items()}


def witkoff_paragraph() -> int:
    doc = parse_document(WITKOFF_SOURCE, (SEEDS / WITKOFF_SOURCE).read_bytes())
    return next(n for n, p in enumerate(doc.paragraphs, start=1) if WITKOFF_SENTENCE in p)


def one_error_line(run: Run) -> str:
    assert run.result.returncode != 0
    assert "Traceback" not in run.result.stderr
    lines = run.result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.result.stderr
    assert run.result.stdout == ""
    return lines[0]


# --- JSON output ---------------------------------------------------------------------------------------


def test_ask_json_prints_one_object_with_quotes(runs: dict[str, Run]) -> None:
    [reply] = runs["ask json"].json

    assert reply["question"] == WITKOFF and reply["answered"] is True
    quotes = reply["quotes"]
    assert isinstance(quotes, list) and 1 <= len(quotes) <= 3
    for quote in quotes:
        assert QUOTE_KEYS <= set(quote)
        doc = parse_document(quote["source"], (SEEDS / quote["source"]).read_bytes())
        assert quote["text"] in doc.paragraphs[quote["paragraph"] - 1]  # verbatim, from the paragraph named
        assert (quote["title"], quote["date"]) == (doc.title, doc.date)
        assert isinstance(quote["score"], float) and quote["score"] > 0
    assert quotes[0]["text"] == WITKOFF_SENTENCE
    assert (quotes[0]["source"], quotes[0]["paragraph"], quotes[0]["date"]) == (
        WITKOFF_SOURCE, witkoff_paragraph(), "2025-02-04",
    )
    assert [q["score"] for q in quotes] == sorted((q["score"] for q in quotes), reverse=True)


def test_ask_reads_one_question_a_line_and_stats_counts_them(runs: dict[str, Run], docs: Path) -> None:
    run = runs["ask stdin"]
    replies = run.json
    assert [r["question"] for r in replies] == [WITKOFF, NOT_FOUND, NOT_FOUND.upper()]  # blank lines skipped
    assert [r["answered"] for r in replies] == [True, False, False]
    assert replies[1]["quotes"] == []

    stats = Run(run.cwd, run.db, qa_bot(run.cwd, "stats", "--json", *paths(run.cwd, docs)))
    assert stats.json == [{
        "questions": 3, "answered": 1, "top_unanswered": [{"question": NOT_FOUND.lower(), "count": 2}],
        "thumbs_up": 0, "thumbs_down": 0, "problems": [],
    }]


def test_chat_json_carries_the_follow_up_context(runs: dict[str, Run]) -> None:
    first, second = runs["chat"].json

    assert first["context_used"] is False and first["answered"] is True
    assert second["question"] == "What did he do on Feb. 3?"
    assert second["context_used"] is True and second["answered"] is True
    assert second["quotes"][0]["text"] == WITKOFF_SENTENCE


def test_sources_json_lists_the_documents(runs: dict[str, Run], docs: Path) -> None:
    [listing] = runs["sources"].json

    documents, _ = read_folder(docs)
    assert listing == {"documents": [
        {"id": d.id, "title": d.title, "date": d.date, "passages": len(all_passages([d]))}
        for d in sorted(documents, key=lambda d: d.id)
    ]}
    assert len(listing["documents"]) == 5


def test_reindex_json_prints_the_report(runs: dict[str, Run]) -> None:
    run = runs["reindex"]
    [report] = run.json

    assert isinstance(report.pop("seconds"), float)
    documents, _ = read_folder(run.cwd / "docs")
    assert report == {
        "added": ["zebra.md"], "changed": ["001_6f0a259a21d08320.txt"], "removed": ["002_cda3340852537e62.txt"],
        "unchanged": ["000_fe643504d8637f7e.txt", "003_bdfb164ce3809aa8.txt", "004_311b2db2833709a6.txt"],
        "skipped": [{"name": "scan.txt", "reason": "it is a binary file"}],
        "passages": len(all_passages(documents)), "warnings": [],
    }


def test_flags_may_come_before_the_command(runs: dict[str, Run]) -> None:
    run = runs["flags first"]
    [listing] = run.json  # --json honoured, and --docs/--db: the database is the one named, not data/
    assert len(listing["documents"]) == 5
    assert run.db.is_file() and not (run.cwd / "data").exists()


def test_a_bad_line_gets_its_json_object_and_an_error_line(runs: dict[str, Run]) -> None:
    result = runs["ask json bad line"].result

    assert result.returncode == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["question"] == WITKOFF and first["answered"] is True
    assert second["question"] == LONG_QUESTION.strip() and second["answered"] is False and second["quotes"] == []
    assert "1,000" in second["error"]
    assert result.stderr.splitlines() == [f"error: {second['error']}"]


def test_a_closed_pipe_ends_quietly(tmp_path: Path, docs: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "ask", "--json", *paths(tmp_path, docs)], cwd=tmp_path, env=clean_env(),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdin and process.stdout and process.stderr
    process.stdin.write(f"{WITKOFF}\n".encode() * 300)  # ~600 kB of answers: more than a pipe holds
    process.stdin.close()
    assert json.loads(process.stdout.readline())["question"] == WITKOFF
    process.stdout.close()  # as `| head -1` does
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == b""


# --- text output ---------------------------------------------------------------------------------------


def test_ask_text_shows_the_quote_and_where_it_comes_from(runs: dict[str, Run]) -> None:
    result = runs["ask text"].result

    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())  # the quote is wrapped for the terminal
    assert WITKOFF_SENTENCE in flat
    attribution = f"“Netanyahu seeks firm backing from US during key visit” — {WITKOFF_SOURCE}, ¶{witkoff_paragraph()}"
    assert f"{attribution}, 2025-02-04" in flat
    assert not result.stdout.lstrip().startswith("{")


def test_piped_chat_shows_each_question_before_its_answer(runs: dict[str, Run]) -> None:
    result = runs["chat text"].result

    assert result.returncode == 0 and result.stderr == ""
    flat = " ".join(result.stdout.split())
    first = flat.index(f"you> {WITKOFF}")
    follow_up = flat.index("you> What did he do on Feb. 3?")
    missing = flat.index(f"you> {NOT_FOUND}")
    assert first < flat.index(WITKOFF_SENTENCE) < follow_up < flat.index(WITKOFF_SENTENCE, follow_up) < missing
    assert flat[missing:].startswith(f"you> {NOT_FOUND} I could not find that in the documents.")


# --- errors and usage ----------------------------------------------------------------------------------


def test_a_missing_documents_folder_is_one_error_line(runs: dict[str, Run]) -> None:
    run = runs["missing docs"]
    line = one_error_line(run)
    assert str(run.cwd / "no-such-folder") in line and "does not exist" in line


def test_an_empty_question_is_one_error_line(runs: dict[str, Run]) -> None:
    assert "empty" in one_error_line(runs["empty question"])


def test_a_corrupt_database_is_one_error_line(runs: dict[str, Run]) -> None:
    run = runs["corrupt db"]
    line = one_error_line(run)
    assert str(run.db) in line and "damaged" in line
    assert run.db.read_bytes() == (run.cwd / "original").read_bytes()


def test_an_unknown_document_names_the_closest_with_its_title(runs: dict[str, Run]) -> None:
    line = one_error_line(runs["unknown near"])
    assert line.startswith(f"error: No indexed document is called '{WITKOFF_SOURCE.replace('_3', '_4')}'.")
    assert f"Did you mean {WITKOFF_SOURCE} (“Netanyahu seeks firm backing from US during key visit”)" in line


def test_an_unknown_document_with_nothing_close_points_to_sources(runs: dict[str, Run]) -> None:
    line = one_error_line(runs["unknown far"])
    assert line == "error: No indexed document is called 'minutes.txt'; `qa-bot sources` lists them."


def test_no_command_prints_usage_and_exits_2(runs: dict[str, Run]) -> None:
    result = runs["no command"].result

    assert result.returncode == 2
    assert "usage: qa-bot" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_settings_come_from_the_env_file_in_the_current_folder(runs: dict[str, Run]) -> None:
    run = runs["env file"]
    [listing] = run.json
    assert len(listing["documents"]) == 5
    assert run.db.is_file()  # the database named in .env, not data/qa.sqlite3
