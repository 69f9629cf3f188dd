"""Settings from an explicit environment mapping and a `.env` file in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from retrieval.errors import ConfigError

TOKEN = "MTIzNDU2Nzg5MDEy.secret-token.Xy_z"


def env_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_defaults_with_nothing_set(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path / "missing.env")

    assert settings == Settings()
    assert settings.token is None
    assert settings.docs == Path("seeds") and settings.db == Path("data/qa.sqlite3")
    assert settings.admin_ids == frozenset() and settings.answer_channels == frozenset()
    assert settings.log_level == "INFO"
    assert (settings.shard_count, settings.shard_ids, settings.dev_guild) == (None, None, None)
    assert (settings.cooldown_seconds, settings.follow_up_seconds) == (3.0, 300.0)


def test_the_process_environment_is_not_read_when_a_mapping_is_given(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_DOCS", "leaked")
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    settings = load_settings({}, None)
    assert settings.docs == Path("seeds") and settings.token is None


def test_the_example_env_file_loads_to_the_defaults() -> None:
    example = Path(__file__).resolve().parent.parent / ".env.example"
    assert load_settings({}, example) == Settings()


def test_env_file_values_are_read_and_the_environment_wins(tmp_path: Path) -> None:
    path = env_file(tmp_path, (
        "# a comment\n"
        f"DISCORD_TOKEN={TOKEN}\n"
        "QA_DOCS=from-file\n"
        'QA_DB="quoted path/qa.sqlite3"  # trailing comment\n'
        "QA_LOG_LEVEL=debug\n"
        "QA_ADMIN_ROLE=Moderators\n"
        "QA_COOLDOWN_SECONDS=1.5\n"
    ))

    from_file = load_settings({}, path)
    assert from_file.token == TOKEN
    assert from_file.docs == Path("from-file")
    assert from_file.db == Path("quoted path/qa.sqlite3")
    assert from_file.log_level == "DEBUG"  # case-insensitive
    assert from_file.admin_role == "Moderators"
    assert from_file.cooldown_seconds == 1.5

    overridden = load_settings({"QA_DOCS": "from-env", "QA_LOG_LEVEL": "warning", "QA_FOLLOW_UP_SECONDS": "60"}, path)
    assert overridden.docs == Path("from-env")
    assert overridden.log_level == "WARNING"
    assert overridden.follow_up_seconds == 60.0
    assert overridden.db == Path("quoted path/qa.sqlite3") and overridden.token == TOKEN  # the rest still from .env


def test_blank_values_mean_the_default(tmp_path: Path) -> None:
    settings = load_settings({"QA_DOCS": "   ", "QA_ADMIN_IDS": "", "DISCORD_TOKEN": " "}, None)
    assert settings.docs == Path("seeds") and settings.admin_ids == frozenset() and settings.token is None


def test_lists_of_ids_are_parsed(tmp_path: Path) -> None:
    settings = load_settings({
        "QA_ADMIN_IDS": "123456789012345678, 42,,7 ",
        "QA_ANSWER_CHANNELS": "1000000000000000001",
        "QA_DEV_GUILD": " 99 ",
        "QA_SHARD_COUNT": "4",
        "QA_SHARD_IDS": "0, 3",
        "QA_ADMIN_GUILDS": "5, 6",
    }, None)

    assert settings.admin_ids == frozenset({123456789012345678, 42, 7})
    assert settings.answer_channels == frozenset({1000000000000000001})
    assert settings.dev_guild == 99
    assert settings.shard_count == 4 and settings.shard_ids == (0, 3)
    assert settings.admin_guilds == frozenset({5, 6})


@pytest.mark.parametrize(("name", "value"), [
    ("QA_LOG_LEVEL", "LOUD"),
    ("QA_ADMIN_IDS", "123, abc"),
    ("QA_ADMIN_GUILDS", "my server"),
    ("QA_ANSWER_CHANNELS", "#general"),
    ("QA_DEV_GUILD", "my-server"),
    ("QA_SHARD_COUNT", "two"),
    ("QA_COOLDOWN_SECONDS", "soon"),
    ("QA_COOLDOWN_SECONDS", "-1"),
    ("QA_FOLLOW_UP_SECONDS", "five minutes"),
    ("QA_FOLLOW_UP_SECONDS", "nan"),
    ("QA_COOLDOWN_SECONDS", "inf"),
])
def test_an_invalid_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, None)


def test_an_invalid_value_in_the_env_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="QA_DEV_GUILD"):
        load_settings({}, env_file(tmp_path, "QA_DEV_GUILD=abc\n"))


@pytest.mark.parametrize("env", [
    {"QA_SHARD_IDS": "0,1"},  # ids without a count
    {"QA_SHARD_IDS": "0,4", "QA_SHARD_COUNT": "4"},  # 4 is out of range for 4 shards
    {"QA_SHARD_IDS": "-1", "QA_SHARD_COUNT": "2"},
])
def test_inconsistent_shards_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="QA_SHARD_IDS"):
        load_settings(env, None)


def test_the_token_never_appears_in_the_repr(tmp_path: Path) -> None:
    settings = load_settings({}, env_file(tmp_path, f"DISCORD_TOKEN={TOKEN}\nQA_DOCS=docs\n"))
    assert settings.token == TOKEN

    for shown in (repr(settings), str(settings), repr(settings.with_paths("other", "x.db")), f"{settings!r}"):
        assert TOKEN not in shown
        assert "secret" not in shown
    assert "docs" in repr(settings)  # the rest is shown


def test_with_paths_overrides_only_what_is_given() -> None:
    settings = load_settings({"QA_DOCS": "a", "QA_DB": "a.db", "DISCORD_TOKEN": TOKEN}, None)
    assert settings.with_paths(None, None) == settings
    assert settings.with_paths("b", None).docs == Path("b") and settings.with_paths("b", None).db == Path("a.db")
    assert settings.with_paths(None, "b.db").db == Path("b.db")
    assert settings.with_paths("b", "b.db").token == TOKEN
