"""Settings, read once at start from the environment and `.env`, validated, then passed down."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values

from retrieval.errors import ConfigError
from retrieval.links import check_template

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    """Everything configurable; `.env.example` documents each variable."""

    token: str | None = field(default=None, repr=False)  # never printed
    docs: Path = Path("seeds")
    db: Path = Path("data/qa.sqlite3")
    admin_ids: frozenset[int] = frozenset()
    admin_role: str | None = None
    admin_guilds: frozenset[int] = frozenset()  # empty: every guild the bot is in
    dev_guild: int | None = None
    log_level: str = "INFO"
    answer_channels: frozenset[int] = frozenset()
    api_base: str | None = None
    gateway_url: str | None = None
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    cooldown_seconds: float = 3.0
    follow_up_seconds: float = 300.0
    source_url: str | None = None  # QA_SOURCE_URL: template of links to the quoted page
    log_days: int = 90  # days the question log keeps who asked what; 0 keeps only the counts
    watch: bool = True  # QA_WATCH: reindex a collection when its folder changes
    memory_mb: float = 1024.0  # QA_MEMORY_MB: servers' collections unload, least recently used first, past it
    data: Path | None = None  # QA_DATA: where servers' collections live (default: the database's folder)

    @property
    def data_dir(self) -> Path:
        """The data directory: servers' collections are under its `guilds/` folder."""
        return self.data or self.db.parent
    log_flush_seconds: float = 0.5  # at most this long between a question and its write to the log
    # QA_ANSWER_PROCESSES: worker processes answering about large indexes (0: the bot's threads answer all)
    answer_processes: int = field(default_factory=lambda: _auto_processes())
    reindex_process: bool = True  # QA_REINDEX_PROCESS: a large collection reindexes in a process of its own

    def with_paths(self, docs: str | None, db: str | None) -> Settings:
        """A copy with the documents folder and/or database overridden (command-line flags)."""
        return replace(self, docs=Path(docs) if docs else self.docs, db=Path(db) if db else self.db)


def load_settings(env: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Settings from `.env` (if present) overlaid by the environment; ConfigError on a bad value."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if env is None else env)

    def get(name: str) -> str | None:
        value = values.get(name, "").strip()
        return value or None

    level = (get("QA_LOG_LEVEL") or "INFO").upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"QA_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}.")
    shard_ids = _ints(get("QA_SHARD_IDS"), "QA_SHARD_IDS")
    shard_count = _int(get("QA_SHARD_COUNT"), "QA_SHARD_COUNT")
    if shard_count is not None and shard_count < 1:
        raise ConfigError("QA_SHARD_COUNT must be at least 1.")
    if shard_ids and not shard_count:
        raise ConfigError("QA_SHARD_IDS needs QA_SHARD_COUNT too.")
    if shard_count and shard_ids and any(not 0 <= s < shard_count for s in shard_ids):
        raise ConfigError(f"QA_SHARD_IDS must each be between 0 and {shard_count - 1}.")
    log_days = _int(get("QA_LOG_DAYS"), "QA_LOG_DAYS")
    if log_days is not None and not 0 <= log_days <= 100_000:
        raise ConfigError("QA_LOG_DAYS must be between 0 (keep only counts) and 100000 days.")
    watch = (get("QA_WATCH") or "1").lower()
    if watch not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ConfigError(f"QA_WATCH must be 1 (watch the documents folders) or 0, not {watch!r}.")
    memory_mb = _float(get("QA_MEMORY_MB"), "QA_MEMORY_MB", 1024.0)
    answer_processes = _answer_processes(get("QA_ANSWER_PROCESSES"))
    reindex_process = (get("QA_REINDEX_PROCESS") or "1").lower()
    if reindex_process not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ConfigError(f"QA_REINDEX_PROCESS must be 1 (reindex large collections in a process of their own) "
                          f"or 0, not {reindex_process!r}.")
    if memory_mb < 1:
        raise ConfigError("QA_MEMORY_MB must be at least 1.")
    return Settings(
        token=get("DISCORD_TOKEN"),
        docs=Path(get("QA_DOCS") or "seeds"),
        db=Path(get("QA_DB") or "data/qa.sqlite3"),
        admin_ids=frozenset(_ints(get("QA_ADMIN_IDS"), "QA_ADMIN_IDS") or ()),
        admin_role=get("QA_ADMIN_ROLE"),
        admin_guilds=frozenset(_ints(get("QA_ADMIN_GUILDS"), "QA_ADMIN_GUILDS") or ()),
        dev_guild=_int(get("QA_DEV_GUILD"), "QA_DEV_GUILD"),
        log_level=level,
        answer_channels=frozenset(_ints(get("QA_ANSWER_CHANNELS"), "QA_ANSWER_CHANNELS") or ()),
        api_base=get("DISCORD_API_BASE"),
        gateway_url=get("DISCORD_GATEWAY_URL"),
        shard_count=shard_count,
        shard_ids=tuple(shard_ids) if shard_ids else None,
        cooldown_seconds=_float(get("QA_COOLDOWN_SECONDS"), "QA_COOLDOWN_SECONDS", 3.0),
        follow_up_seconds=_float(get("QA_FOLLOW_UP_SECONDS"), "QA_FOLLOW_UP_SECONDS", 300.0),
        source_url=check_template(url) if (url := get("QA_SOURCE_URL")) else None,
        log_days=90 if log_days is None else log_days,
        watch=watch in ("1", "true", "yes", "on"),
        memory_mb=memory_mb,
        data=Path(data) if (data := get("QA_DATA")) else None,
        log_flush_seconds=_float(get("QA_LOG_FLUSH_SECONDS"), "QA_LOG_FLUSH_SECONDS", 0.5),
        answer_processes=answer_processes,
        reindex_process=reindex_process in ("1", "true", "yes", "on"),
    )


def _answer_processes(value: str | None) -> int:
    """QA_ANSWER_PROCESSES: `auto` (the default) is one process per core on a machine of two or more, else
    none; a number says how many (0: answer in the bot's own threads)."""
    if value is None or value.lower() == "auto":
        return _auto_processes()
    number = _int(value, "QA_ANSWER_PROCESSES")
    if number is None or not 0 <= number <= 64:
        raise ConfigError("QA_ANSWER_PROCESSES must be auto or a number of processes from 0 to 64.")
    return number


def _auto_processes() -> int:
    """QA_ANSWER_PROCESSES=auto: one answering process per core, on a machine of two or more."""
    cores = os.cpu_count() or 1
    return cores if cores >= 2 else 0


def _int(value: str | None, name: str) -> int | None:
    """An integer setting, or None when unset."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None


def _ints(value: str | None, name: str) -> list[int] | None:
    """A comma-separated list of integers, or None when unset."""
    if value is None:
        return None
    return [i for part in value.split(",") if part.strip() and (i := _int(part.strip(), name)) is not None]


def _float(value: str | None, name: str, default: float) -> float:
    """A non-negative number setting."""
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}.") from None
    if not math.isfinite(number):  # float() accepts "nan" and "inf"; nan would pass the check below
        raise ConfigError(f"{name} must be a finite number, not {value!r}.")
    if number < 0:
        raise ConfigError(f"{name} must not be negative.")
    return number
