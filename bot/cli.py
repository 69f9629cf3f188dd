"""The `qa-bot` command line: ask, chat, sources, reindex, stats, summary, add, remove, forget, run, sync, start."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from retrieval.errors import QAError, UnknownDocumentError

from . import logs
from .config import Settings, load_settings
from .terminal_input import StdinReader, Terminated, until_sigterm
from .uploads import MAX_UPLOAD_BYTES

if TYPE_CHECKING:
    from .service import QAService

# The engine (numpy, scipy) and the renderers are imported by the commands that use them: `qa-bot --help`
# and a mistyped command then answer at once (bench/results/startup.md).

log = logging.getLogger("qa-bot")


def _common_options(parser: argparse.ArgumentParser, *, inherited: bool) -> None:
    """--docs, --db, --json and --guild; a subcommand's copy leaves unset values to the copy before the command."""
    keep: dict[str, Any] = {"default": argparse.SUPPRESS} if inherited else {}
    parser.add_argument("--docs", metavar="DIR", help="documents folder (default: QA_DOCS or seeds/)", **keep)
    parser.add_argument("--db", metavar="PATH", help="SQLite database (default: QA_DB or data/qa.sqlite3)", **keep)
    parser.add_argument("--json", action="store_true", help="print JSON, one object a line", **keep)
    parser.add_argument("--guild", metavar="ID", type=_guild_id,
                        help="act on this Discord server's own collection (default: the default collection)", **keep)


def _guild_id(text: str) -> int:
    """A Discord server id given on the command line."""
    if not text.strip().isascii() or not text.strip().isdigit() or not 0 < int(text) < 2**64:
        raise argparse.ArgumentTypeError(f"a server id is a positive number, not {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    """The argument parser; --docs, --db, --json and --guild go before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, inherited=True)
    parser = argparse.ArgumentParser(
        prog="qa-bot", description="Answers questions about a folder of documents by quoting them."
    )
    _common_options(parser, inherited=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ask = sub.add_parser("ask", parents=[common], help="answer a question (or one per line of stdin)")
    ask.add_argument("question", nargs="*", help="the question; omit to read one per line from stdin")
    sub.add_parser("chat", parents=[common], help="a conversation; follow-up questions keep context")
    sub.add_parser("sources", parents=[common], help="list the indexed documents")
    sub.add_parser("reindex", parents=[common], help="rebuild the index from the documents folder")
    sub.add_parser("stats", parents=[common], help="questions asked, answered, and feedback")
    add = sub.add_parser("add", parents=[common], help="add document files to a server's own collection (--guild)")
    add.add_argument("files", nargs="+", metavar="FILE", help="files to add (.md .mdx .markdown .rst .txt .html .pdf)")
    add.add_argument("--copy-default", action="store_true",
                     help="a server's new collection starts with a copy of the default documents")
    remove = sub.add_parser("remove", parents=[common], help="remove a document from a server's own collection")
    remove.add_argument("document", metavar="ID", help="the document's id (see `sources --guild ID`)")
    summary = sub.add_parser("summary", parents=[common], help="verbatim summary of a document, a topic or all")
    summary.add_argument("--document", metavar="ID", help="summarise this indexed document (see `sources`)")
    summary.add_argument("--topic", metavar="TEXT", help="summarise what the documents say about a topic")
    summary.add_argument("--sentences", type=int, metavar="N",
                         help="at most N sentences (1-15; 5 unless --words is given)")
    summary.add_argument("--words", type=int, metavar="N",
                         help="at most N words in all (10 or more): whole sentences that fit")
    forget = sub.add_parser("forget", parents=[common], help="erase what the question log holds about a user")
    forget.add_argument("user_id", metavar="USER_ID", help="the member's Discord user id (a number)")
    sub.add_parser("run", parents=[common], help="start the Discord bot (needs DISCORD_TOKEN)")
    sub.add_parser("sync", parents=[common], help="register the slash commands with Discord now")
    sub.add_parser("start", parents=[common], help="the Discord bot with a token, else the terminal chat")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `qa-bot` script; returns the exit status."""
    args = _parser().parse_args(argv)
    if not args.command:
        _parser().print_help()
        return 2
    try:
        settings = load_settings().with_paths(args.docs, args.db)
        if args.command == "start":
            args.command = "run" if settings.token else "chat"
        # Terminal commands keep standard error for warnings; the Discord bot logs at the set level.
        level = settings.log_level if args.command in ("run", "sync") else "WARNING"
        logs.configure(level, secrets=[settings.token])
        if args.command in ("run", "sync"):
            from .discord_runner import run_discord

            return run_discord(settings, sync_only=args.command == "sync")
        return asyncio.run(_COMMANDS[args.command](settings, args))
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`qa-bot ask --json | head -1`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # the user gets one line; the log keeps the traceback
        log.debug("unexpected error", exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _with_service(settings: Settings, args: argparse.Namespace,
                        body: Callable[[QAService], Awaitable[int]]) -> int:
    """Open the service (building the index on first start), apply QA_LOG_DAYS, run `body`, close. A terminal
    command does not watch the folders: it reads them when it starts (the bot watches).
    SIGTERM stops it cleanly: the service is closed (the question log writes what waits), status 143."""

    from .service import QAService

    async def run() -> int:
        service = await QAService.from_settings(settings, _progress_printer(), watch=False)
        try:
            await service.purge()
            return await body(service)
        finally:
            await service.close()

    try:
        return await until_sigterm(run())
    except Terminated:
        return 143


def _emit(args: argparse.Namespace, text: str, obj: dict[str, Any], out: TextIO | None = None) -> None:
    """Print text, or one JSON object on its own line with --json (to standard output as it is now)."""
    print(json.dumps(obj, ensure_ascii=False) if args.json else text, file=out or sys.stdout, flush=True)


def _progress_printer() -> Callable[[str], None]:
    """Progress on standard error: one line rewritten in place on a terminal, else nothing."""
    if not sys.stderr.isatty():
        return lambda _msg: None

    def show(message: str) -> None:
        sys.stderr.write("\r\033[K" + message)
        sys.stderr.flush()
        if message.startswith("Done"):
            sys.stderr.write("\n")

    return show


async def _answer_one(service: QAService, args: argparse.Namespace, question: str, conversation: str | None,
                      echo: bool = False) -> bool:
    """Answer and print one question; a bad question is reported and False returned.
    `echo` prints the question first, so that answers to piped questions can be told apart."""
    from . import render_text as render

    if echo and not args.json:
        shown = " ".join(question.split())
        print(f"you> {shown if len(shown) <= 200 else shown[:199] + '…'}")
    try:
        asked = await service.ask(question, conversation, via="terminal", guild=args.guild)
    except QAError as exc:
        if args.json:  # keeps one object per question, so a program can pair lines with questions
            _emit(args, "", {"question": question.strip(), "answered": False, "quotes": [], "error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return False
    _emit(args, render.answer_text(asked.answer), render.answer_json(asked.answer))
    return True


async def _ask(settings: Settings, args: argparse.Namespace) -> int:
    async def body(service: QAService) -> int:
        if args.question:
            return 0 if await _answer_one(service, args, " ".join(args.question), None) else 1
        ok = True
        stdin = StdinReader()
        while line := await stdin.readline():
            if line.strip():
                ok = await _answer_one(service, args, line, None, echo=True) and ok
                if not args.json:
                    print()
        return 0 if ok else 1

    return await _with_service(settings, args, body)


async def _chat(settings: Settings, args: argparse.Namespace) -> int:
    async def body(service: QAService) -> int:
        interactive = sys.stdin.isatty()
        if interactive and not args.json:
            where = (service.collections.folder(args.guild) if args.guild and service.has_collection(args.guild)
                     else settings.docs)
            print(f"Ask about the {len(service.sources(args.guild))} documents in {where}/ "
                  "(follow-up questions keep context; Ctrl-D or 'quit' to leave).")
        stdin = StdinReader()
        while True:
            line = await stdin.readline("you> " if interactive else None)
            if not line:
                break
            if line.strip().lower() in ("quit", "exit"):
                break
            if line.strip():
                await _answer_one(service, args, line, "terminal", echo=not interactive)
                if not args.json:
                    print()
        return 0

    return await _with_service(settings, args, body)


async def _sources(settings: Settings, args: argparse.Namespace) -> int:
    from . import render_text as render

    async def body(service: QAService) -> int:
        _note_default(service, args)
        sources = service.sources(args.guild)
        _emit(args, render.sources_text(sources), render.sources_json(sources))
        return 0

    return await _with_service(settings, args, body)


def _note_default(service: QAService, args: argparse.Namespace) -> None:
    """Say (on standard error) that a server without its own collection is served the default one."""
    if args.guild is not None and not service.has_collection(args.guild):
        print(f"note: server {args.guild} has no collection of its own: it uses the default documents.",
              file=sys.stderr)


async def _reindex(settings: Settings, args: argparse.Namespace) -> int:
    from . import render_text as render

    async def body(service: QAService) -> int:
        report = await service.reindex(_progress_printer(), guild=args.guild)
        _emit(args, render.report_text(report), render.report_json(report))
        return 0

    return await _with_service(settings, args, body)


def _needs_guild(args: argparse.Namespace) -> int:
    """The server a command that changes a server's own collection acts on (--guild), or QAError."""
    if args.guild is None:
        raise QAError(f"`{args.command}` needs --guild ID: the default collection is the documents folder "
                      "itself (add or remove its files there, then `qa-bot reindex`).")
    return int(args.guild)


async def _add(settings: Settings, args: argparse.Namespace) -> int:
    from . import render_text as render

    guild = _needs_guild(args)
    files = []
    for name in args.files:
        try:
            with open(name, "rb") as fh:  # no more than the limit and one byte: enough to refuse a larger one
                files.append((Path(name).name, fh.read(MAX_UPLOAD_BYTES + 1)))
        except OSError as exc:
            raise QAError(f"Cannot read {name!r}: {exc.strerror or exc}.") from exc

    async def body(service: QAService) -> int:
        report = await service.add_documents(guild, files, args.copy_default, _progress_printer())
        _emit(args, render.report_text(report), render.report_json(report))
        return 0

    return await _with_service(settings, args, body)


async def _remove(settings: Settings, args: argparse.Namespace) -> int:
    from . import render_text as render

    guild = _needs_guild(args)

    async def body(service: QAService) -> int:
        report = await service.remove_document(guild, args.document, _progress_printer())
        _emit(args, render.report_text(report), render.report_json(report))
        return 0

    return await _with_service(settings, args, body)


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    from . import render_text as render

    async def body(service: QAService) -> int:
        stats = await service.stats(guild=args.guild)
        text = (f"{stats.questions} questions, {stats.answered} answered; "
                f"feedback 👍 {stats.thumbs_up} 👎 {stats.thumbs_down}")
        text += "".join(f"\nwarning: {p}" for p in stats.problems)
        _emit(args, text, render.stats_json(stats))
        return 0

    return await _with_service(settings, args, body)


async def _summary(settings: Settings, args: argparse.Namespace) -> int:
    from retrieval.summary import sentence_limit

    from . import render_text as render

    async def body(service: QAService) -> int:
        try:
            sentences = sentence_limit(args.sentences, args.words)  # --words alone: the words decide
            summary = await service.summary(args.document, args.topic, sentences, args.words, guild=args.guild)
        except UnknownDocumentError as exc:
            print(f"error: {render.unknown_document(exc, service.sources(args.guild))}", file=sys.stderr)
            return 1
        _emit(args, render.summary_text(summary), render.summary_json(summary))
        return 0

    return await _with_service(settings, args, body)


async def _forget(settings: Settings, args: argparse.Namespace) -> int:
    from . import render_text as render

    user_id = args.user_id.strip()
    if not user_id.isascii() or not user_id.isdigit():
        raise QAError(f"USER_ID must be a Discord user id (a number), not {args.user_id!r}.")

    async def body(service: QAService) -> int:
        erased = await service.forget(user_id)
        text = (f"Erased what the log held about user {user_id}: {render.plural(erased.questions, 'question')} "
                f"made anonymous (they still count), {render.plural(erased.votes, 'feedback vote')} deleted.")
        _emit(args, text, {"user_id": user_id, "questions": erased.questions, "votes": erased.votes})
        return 0

    return await _with_service(settings, args, body)


_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "summary": _summary,
    "ask": _ask, "chat": _chat, "sources": _sources, "reindex": _reindex, "stats": _stats, "forget": _forget,
    "add": _add, "remove": _remove,
}
