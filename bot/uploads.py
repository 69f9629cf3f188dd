"""Files given to a server's collection (Discord attachments): names made safe, types and sizes checked,
saved atomically into the collection's folder; and a server's folder started from the default one."""

from __future__ import annotations

import os
import secrets
import shutil
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from retrieval.model import Skipped

ALLOWED_SUFFIXES = (".md", ".mdx", ".markdown", ".rst", ".txt", ".html", ".htm", ".pdf")
MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # Discord's own attachment limit for servers without boosts
MAX_NAME_CHARS = 100  # an autocomplete choice's name is at most 100 characters
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def safe_name(name: str) -> str:
    """The base name of `name` (after any folder, with either separator) with every character outside
    letters, digits, `.`, `_` and `-` turned into `_`, no leading dot (a hidden file is no document) and
    at most MAX_NAME_CHARS long, its suffix kept; "" when nothing is left."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c if c in _SAFE else "_" for c in base.strip()).lstrip(".")
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot:
        stem, suffix = cleaned, ""
    if len(cleaned) > MAX_NAME_CHARS:
        stem = stem[: MAX_NAME_CHARS - len(suffix) - 1]
        cleaned = f"{stem}.{suffix}" if dot else stem[:MAX_NAME_CHARS]
    return "" if not stem.strip("._-") else cleaned


def check_upload(name: str, size: int, max_bytes: int = MAX_UPLOAD_BYTES) -> str | Skipped:
    """The name to save an upload under, or why it is refused."""
    safe = safe_name(name)
    if not safe:
        return Skipped(name or "(no name)", "its name has no usable characters")
    if Path(safe).suffix.lower() not in ALLOWED_SUFFIXES:
        return Skipped(safe, f"only {', '.join(ALLOWED_SUFFIXES)} files can be added")
    if size > max_bytes:
        return Skipped(safe, f"it is larger than the limit of {max_bytes // (1024 * 1024)} MiB")
    if size == 0:
        return Skipped(safe, "it is empty")
    return safe


def save_uploads(folder: Path, files: Sequence[tuple[str, bytes]],
                 max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[list[str], list[Skipped]]:
    """Save the acceptable files into `folder` (created if needed), each written to a hidden temporary
    file and renamed into place, so the folder's readers (and its watcher) never see half a file.
    Returns the names saved and the files refused with their reasons."""
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[str] = []
    refused: list[Skipped] = []
    for name, data in files:
        checked = check_upload(name, len(data), max_bytes)
        if isinstance(checked, Skipped):
            refused.append(checked)
            continue
        target = folder / checked
        if target.is_symlink() or (target.exists() and not target.is_file()):
            refused.append(Skipped(checked, "a folder or link of that name is in the way"))
            continue
        tmp = folder / f".upload-{secrets.token_hex(6)}.tmp"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        saved.append(checked)
    return saved, refused


def copy_folder(source: Path, target: Path) -> int:
    """Copy the document files of `source` (regular files of the allowed types, hidden ones left out,
    links never followed) to `target`, keeping their relative paths; returns how many were copied."""
    copied = 0
    for root, dirs, files in os.walk(source, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file in files:
            path = Path(root) / file
            if file.startswith(".") or path.is_symlink() or path.suffix.lower() not in ALLOWED_SUFFIXES:
                continue
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
            copied += 1
    return copied
