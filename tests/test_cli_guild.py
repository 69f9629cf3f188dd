"""`qa-bot … --guild ID`: the terminal commands act on a server's own collection (run in this process)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.service import QAService

GUILD, OTHER = 5150, 6160
FILES = [
    ("bakery.txt", b"The bakery opens at six in the morning and sells rye bread until noon.\n"),
    ("orchard.rst", b"The orchard\n===========\n\nThe orchard grows quinces and medlars along the south wall.\n"),
]


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A default folder, a database beside which server GUILD has its own collection; the options naming them."""
    for name in [n for n in os.environ if n.startswith(("QA_", "DISCORD_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    docs, db = tmp_path / "default", tmp_path / "data" / "qa.sqlite3"
    docs.mkdir()
    (docs / "observatory.txt").write_text("The observatory telescope was built in 1887 by the brothers Carvalho.\n")

    async def prepare() -> None:
        service = await QAService.open(db, docs)
        await service.add_documents(GUILD, FILES)
        await service.close()

    asyncio.run(prepare())
    return ["--docs", str(docs), "--db", str(db), "--json"]


def run(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    status = main(list(args))
    out, err = capfd.readouterr()
    return status, [json.loads(line) for line in out.splitlines()], err


def test_sources_and_ask_act_on_the_servers_collection(folders: list[str], capfd: pytest.CaptureFixture[str]) -> None:
    status, [listed], _ = run(capfd, "sources", "--guild", str(GUILD), *folders)
    assert status == 0 and [d["id"] for d in listed["documents"]] == ["bakery.txt", "orchard.rst"]  # type: ignore[index]
    status, [asked], _ = run(capfd, "ask", "--guild", str(GUILD), "When does the bakery open?", *folders)
    assert status == 0 and asked["answered"] and asked["quotes"][0]["source"] == "bakery.txt"  # type: ignore[index]
    status, [default], _ = run(capfd, "ask", "When does the bakery open?", *folders)
    assert status == 0 and not default["answered"]
    status, [other], err = run(capfd, "sources", "--guild", str(OTHER), *folders)
    assert [d["id"] for d in other["documents"]] == ["observatory.txt"]  # type: ignore[index]
    assert "no collection of its own" in err


def test_reindex_and_stats_of_a_server(folders: list[str], capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "data" / "guilds" / str(GUILD) / "docs" / "bakery.txt").unlink()
    status, [report], _ = run(capfd, "reindex", "--guild", str(GUILD), *folders)
    assert status == 0 and report["removed"] == ["bakery.txt"] and report["unchanged"] == ["orchard.rst"]
    status, _, err = run(capfd, "reindex", "--guild", str(OTHER), *folders)
    assert status == 1 and "no documents of its own" in err
    status, [stats], _ = run(capfd, "stats", "--guild", str(GUILD), *folders)
    assert status == 0 and stats["questions"] == 0


def test_a_guild_id_must_be_a_number(folders: list[str], capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sources", "--guild", "../1", *folders])
    assert exited.value.code == 2 and "positive number" in capfd.readouterr().err


def test_add_and_remove_a_servers_documents(folders: list[str], capfd: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    (tmp_path / "lighthouse.md").write_bytes(b"# Lighthouse\n\nThe lighthouse has 212 steps to its lamp.\n")
    (tmp_path / "tool.exe").write_bytes(b"MZ")
    status, [report], _ = run(capfd, "add", "--guild", str(OTHER), "--copy-default", str(tmp_path / "lighthouse.md"),
                              str(tmp_path / "tool.exe"), *folders)
    assert status == 0 and sorted(report["added"]) == ["lighthouse.md", "observatory.txt"]  # type: ignore[arg-type]
    assert [s["name"] for s in report["skipped"]] == ["tool.exe"]  # type: ignore[index]
    status, [report], _ = run(capfd, "remove", "--guild", str(OTHER), "observatory.txt", *folders)
    assert status == 0 and report["removed"] == ["observatory.txt"]
    assert (tmp_path / "default" / "observatory.txt").exists()
    status, _, err = run(capfd, "remove", "observatory.txt", *folders)
    assert status == 1 and "needs --guild" in err and (tmp_path / "default" / "observatory.txt").exists()
