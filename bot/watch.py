"""The folder watcher: a document added, edited or removed in a collection's folder is indexed without a
command, once the folder has been quiet for a moment (QA_WATCH=0 turns it off).

One `watchfiles.awatch` (inotify on Linux, through the Rust `notify` crate) covers the default folder and
every server's folder under the data directory; each burst of changes is grouped by collection, and each
collection touched is reindexed: the reindex parses only the files whose bytes changed."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from retrieval.documents import READERS
from retrieval.errors import QAError

from .collections import Collections

log = logging.getLogger(__name__)


def _owner(path: Path, default: Path, root: Path) -> int | None | bool:
    """The server whose documents folder holds `path`, None for the default folder, False for neither
    (a server's database or index file, a hidden file, a type no reader reads)."""
    if path.suffix and path.suffix.lower() not in READERS:
        return False
    for base in (root, default):  # a server's folder first: it is the more specific when one holds the other
        try:
            parts = path.relative_to(base).parts
        except ValueError:
            continue
        if any(p.startswith(".") for p in parts):  # hidden: not a document (and uploads' temporary files)
            return False
        if base is root:
            if len(parts) >= 3 and parts[0].isdigit() and parts[1] == "docs":
                return int(parts[0])
            return False
        return None
    return False


async def watch_folders(collections: Collections, quiet: float, stop: asyncio.Event) -> None:
    """Until `stop` is set: after each burst of changes (`quiet` seconds without another), reindex each
    collection whose folder changed. Failures are logged; the watcher goes on."""
    from watchfiles import awatch  # only a serving process that watches needs it

    collections.root.mkdir(parents=True, exist_ok=True)  # so that a server's first folder is seen
    default, root = collections.default.docs.resolve(), collections.root.resolve()
    paths = [p for p in (default, root) if p.is_dir()]
    step = max(int(quiet * 1000), 50)

    def wanted(_change: object, path: str) -> bool:
        return _owner(Path(path), default, root) is not False

    log.info("watching %s for changes", " and ".join(str(p) for p in paths))
    try:
        async for changes in awatch(*paths, watch_filter=wanted, step=step, debounce=max(10 * step, 1600),
                                    stop_event=stop, recursive=True):
            touched: dict[int | None, int] = {}
            for _change, path in changes:
                owner = _owner(Path(path), default, root)
                if owner is not False:
                    touched[owner] = touched.get(owner, 0) + 1
            for guild, files in touched.items():
                await _reindex(collections, guild, files)
    except Exception:  # the system's limit of watches reached, a watched folder gone…: serving goes on
        log.exception("the folder watcher stopped: changes to the documents folders now need /reindex")


async def _reindex(collections: Collections, guild: int | None, files: int) -> None:
    """Reindex the collection of `guild` (None: the default) after `files` changes in its folder."""
    try:
        if guild is not None and not collections.has(guild):
            return  # its whole folder went away: nothing to serve from it
        async with collections.using(guild, own=guild is not None) as collection:
            log.debug("%s: %d changes in its folder", collection.name, files)
            await collection.reindex(wait=True, reason="watch")
    except QAError as exc:
        log.warning("watch: could not reindex %s: %s", "the default collection" if guild is None else
                    f"server {guild}", exc)
    except Exception:
        log.exception("watch: reindexing after a change failed")
