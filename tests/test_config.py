"""Settings: the SPEC's table exactly, `.env` files, secrets hidden, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from tests.kits.helpers import run_byokbot

SPEC_VARIABLES = (
    "BYOKBOT_DATABASE_URL",
    "BYOKBOT_MASTER_KEY",
    "BYOKBOT_MASTER_KEY_FILE",
    "BYOKBOT_OLD_MASTER_KEYS",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "BYOKBOT_SLACK_API_URL",
    "DISCORD_BOT_TOKEN",
    "BYOKBOT_DISCORD_API_URL",
    "BYOKBOT_HTTP_HOST",
    "BYOKBOT_HTTP_PORT",
    "BYOKBOT_LOG_LEVEL",
    "BYOKBOT_LOG_FORMAT",
    "BYOKBOT_ALLOW_PRIVATE_BASE_URLS",
    "BYOKBOT_METRICS_TOKEN",
    "DISCORD_SHARD_COUNT",
    "DISCORD_SHARD_IDS",
)
SECRETS = {
    "BYOKBOT_MASTER_KEY": "bWFzdGVyLWtleS1wbGFudGVkLXZhbHVlLTMyYnl0ZXM=",
    "BYOKBOT_OLD_MASTER_KEYS": "b2xkLWtleS1wbGFudGVkLXZhbHVlLTMyLWJ5dGVzLiE=",
    "SLACK_BOT_TOKEN": "xoxb-111-222-PlantedBotToken",
    "SLACK_SIGNING_SECRET": "planted-signing-secret-8f2c1",
    "SLACK_APP_TOKEN": "xapp-1-A111-PlantedAppToken",
    "SLACK_CLIENT_SECRET": "planted-client-secret-77ab",
    "DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.PlantedDiscordTokenValue0123456",
    "BYOKBOT_METRICS_TOKEN": "planted-metrics-token-5e1f0c",
}


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No SPEC variable in the environment and a working directory without `.env`."""
    for name in SPEC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_are_the_spec_table(clean: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./data/byokbot.db"
    assert settings.master_key is None
    assert settings.master_key_file == Path("./data/master.key")
    assert settings.old_master_key_list == []
    assert settings.slack_bot_token is None and settings.slack_signing_secret is None
    assert settings.slack_app_token is None
    assert settings.slack_client_id is None and settings.slack_client_secret is None
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.discord_bot_token is None
    assert settings.discord_api_url == "https://discord.com/api/v10"
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 3000)
    assert (settings.log_level, settings.log_format) == ("INFO", "console")
    assert settings.allow_private_base_urls is False
    assert settings.metrics_token is None
    assert settings.discord_shard_count is None and settings.discord_shard_ids is None
    assert not settings.slack_configured and not settings.discord_configured


def test_every_variable_is_read(clean: pytest.MonkeyPatch) -> None:
    values = {
        **SECRETS,
        "BYOKBOT_DATABASE_URL": "postgresql+psycopg://u@db:5432/byok",
        "BYOKBOT_MASTER_KEY_FILE": "/run/secrets/master.key",
        "SLACK_CLIENT_ID": "123.456",
        "BYOKBOT_SLACK_API_URL": "http://127.0.0.1:9/api",
        "BYOKBOT_DISCORD_API_URL": "http://127.0.0.1:9/api/v10",
        "BYOKBOT_HTTP_HOST": "127.0.0.1",
        "BYOKBOT_HTTP_PORT": "0",
        "BYOKBOT_LOG_LEVEL": "debug",
        "BYOKBOT_LOG_FORMAT": "JSON",
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        "DISCORD_SHARD_COUNT": "4",
        "DISCORD_SHARD_IDS": "0, 3",
    }
    assert set(values) == set(SPEC_VARIABLES)
    for name, value in values.items():
        clean.setenv(name, value)
    s = load_settings()
    assert s.database_url == values["BYOKBOT_DATABASE_URL"]
    assert s.master_key is not None
    assert s.master_key.get_secret_value() == SECRETS["BYOKBOT_MASTER_KEY"]
    assert s.master_key_file == Path("/run/secrets/master.key")
    assert [k.get_secret_value() for k in s.old_master_key_list] == [
        SECRETS["BYOKBOT_OLD_MASTER_KEYS"]
    ]
    assert s.slack_bot_token and s.slack_bot_token.get_secret_value() == SECRETS["SLACK_BOT_TOKEN"]
    assert s.slack_signing_secret is not None and s.slack_app_token is not None
    assert s.slack_client_id == "123.456" and s.slack_client_secret is not None
    assert s.slack_api_url == "http://127.0.0.1:9/api/"  # slack_sdk needs the trailing slash
    assert s.discord_bot_token is not None
    assert s.discord_api_url == "http://127.0.0.1:9/api/v10"
    assert (s.http_host, s.http_port) == ("127.0.0.1", 0)
    assert (s.log_level, s.log_format) == ("DEBUG", "json")
    assert s.allow_private_base_urls is True
    assert s.metrics_token is not None
    assert s.metrics_token.get_secret_value() == SECRETS["BYOKBOT_METRICS_TOKEN"]
    assert (s.discord_shard_count, s.discord_shard_ids) == (4, (0, 3))
    assert s.slack_configured and s.discord_configured


def test_secrets_never_show_in_repr_str_or_dump(clean: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        clean.setenv(name, value)
    settings = load_settings()
    shown = (
        repr(settings) + str(settings) + settings.model_dump_json() + repr(settings.model_dump())
    )
    for value in SECRETS.values():
        assert value not in shown


def test_dotenv_is_read_and_environment_wins(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "BYOKBOT_HTTP_PORT=4000\nBYOKBOT_LOG_LEVEL=warning\nSLACK_BOT_TOKEN=xoxb-from-dotenv\n"
    )
    clean.setenv("BYOKBOT_LOG_LEVEL", "ERROR")
    settings = load_settings()
    assert settings.http_port == 4000
    assert settings.log_level == "ERROR"
    assert settings.slack_bot_token is not None


def test_empty_variables_mean_unset(clean: pytest.MonkeyPatch) -> None:
    for name in (
        "BYOKBOT_MASTER_KEY",
        "BYOKBOT_HTTP_PORT",
        "SLACK_BOT_TOKEN",
        "BYOKBOT_MASTER_KEY_FILE",
    ):
        clean.setenv(name, "")
    settings = load_settings()
    assert settings.master_key is None and settings.slack_bot_token is None
    assert settings.http_port == 3000
    assert settings.master_key_file == Path("./data/master.key")


def test_old_master_keys_list_parsing(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("BYOKBOT_OLD_MASTER_KEYS", " a= , ,b==,")
    assert [k.get_secret_value() for k in load_settings().old_master_key_list] == ["a=", "b=="]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BYOKBOT_HTTP_PORT", "http"),
        ("BYOKBOT_HTTP_PORT", "70000"),
        ("BYOKBOT_HTTP_PORT", "-1"),
        ("BYOKBOT_LOG_LEVEL", "LOUD"),
        ("BYOKBOT_LOG_FORMAT", "xml"),
        ("BYOKBOT_ALLOW_PRIVATE_BASE_URLS", "perhaps"),
        ("DISCORD_SHARD_COUNT", "0"),
        ("DISCORD_SHARD_COUNT", "two"),
    ],
)
def test_bad_values_are_one_line_errors(clean: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and name in message and caught.value.setting == name
    assert value not in message.split(":", 1)[0]


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [
        (None, "0,1", "DISCORD_SHARD_IDS: needs DISCORD_SHARD_COUNT"),
        ("4", "0,4", "DISCORD_SHARD_IDS: shard 4 is out of range: ids go from 0 to 3"),
        ("4", "1,1", "DISCORD_SHARD_IDS: names a shard twice"),
        ("4", "0;1", "DISCORD_SHARD_IDS: must be comma-separated shard numbers"),
        ("4", "0,,1", "DISCORD_SHARD_IDS: must be comma-separated shard numbers"),
        ("4", "-1", "DISCORD_SHARD_IDS: must be comma-separated shard numbers"),
        ("0", "0", "DISCORD_SHARD_COUNT: Input should be greater than or equal to 1"),
    ],
)
def test_shard_settings_are_checked_together(
    clean: pytest.MonkeyPatch, count: str | None, ids: str, expected: str
) -> None:
    if count is not None:
        clean.setenv("DISCORD_SHARD_COUNT", count)
    clean.setenv("DISCORD_SHARD_IDS", ids)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid setting {expected}") and "\n" not in message
    assert "Value error" not in message
    assert caught.value.setting == expected.split(":", 1)[0]


def test_a_shard_count_alone_is_one_process_with_every_shard(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("DISCORD_SHARD_COUNT", "2")
    settings = load_settings()
    assert (settings.discord_shard_count, settings.discord_shard_ids) == (2, None)


def test_bad_values_never_echo_the_value(clean: pytest.MonkeyPatch) -> None:
    """A misplaced secret in a typed variable is not repeated in the error."""
    clean.setenv("BYOKBOT_HTTP_PORT", "sk-proj-oops0123456789abcdefghij")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "sk-proj-oops" not in str(caught.value)


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        (command, env, expected)
        for command in ("serve", "shell", "migrate")
        for env, expected in (
            ({"BYOKBOT_LOG_LEVEL": "chatty"}, "invalid setting BYOKBOT_LOG_LEVEL"),
            ({"BYOKBOT_DATABASE_URL": "mysql://u@h/db"}, "invalid setting BYOKBOT_DATABASE_URL"),
            ({"BYOKBOT_DATABASE_URL": "::not a url::"}, "invalid setting BYOKBOT_DATABASE_URL"),
            (
                {"DISCORD_SHARD_IDS": "0"},
                "invalid setting DISCORD_SHARD_IDS: needs DISCORD_SHARD_COUNT",
            ),
        )
    ]
    + [
        (command, {"BYOKBOT_MASTER_KEY": "c2hvcnQ="}, "must decode to 32 bytes")
        for command in ("serve", "shell")
    ],
)
def test_bad_settings_stop_the_command_with_one_line_and_write_nothing(
    tmp_path: Path, command: str, env: dict[str, str], expected: str
) -> None:
    result = run_byokbot(command, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("byokbot: error: ") and expected in lines[-1]
    assert not (tmp_path / "data").exists()
