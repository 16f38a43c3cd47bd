"""Settings from the environment and `.env`, exactly the SPEC's table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


class Settings(BaseSettings):
    """Every variable the SPEC names; secrets are `SecretStr` so they never show in a repr."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        # `BYOKBOT_MASTER_KEY=` (empty, as compose files often leave it) means "unset".
        env_ignore_empty=True,
    )

    database_url: str = Field(
        default="sqlite:///./data/byokbot.db", validation_alias="BYOKBOT_DATABASE_URL"
    )
    master_key: SecretStr | None = Field(default=None, validation_alias="BYOKBOT_MASTER_KEY")
    master_key_file: Path = Field(
        default=Path("./data/master.key"), validation_alias="BYOKBOT_MASTER_KEY_FILE"
    )
    old_master_keys: SecretStr = Field(
        default=SecretStr(""), validation_alias="BYOKBOT_OLD_MASTER_KEYS"
    )
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_CLIENT_SECRET"
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias="BYOKBOT_SLACK_API_URL"
    )
    discord_bot_token: SecretStr | None = Field(default=None, validation_alias="DISCORD_BOT_TOKEN")
    discord_api_url: str = Field(
        default="https://discord.com/api/v10", validation_alias="BYOKBOT_DISCORD_API_URL"
    )
    http_host: str = Field(default="0.0.0.0", validation_alias="BYOKBOT_HTTP_HOST")
    http_port: int = Field(default=3000, ge=0, le=65535, validation_alias="BYOKBOT_HTTP_PORT")
    log_level: LogLevel = Field(default="INFO", validation_alias="BYOKBOT_LOG_LEVEL")
    log_format: Literal["console", "json"] = Field(
        default="console", validation_alias="BYOKBOT_LOG_FORMAT"
    )
    allow_private_base_urls: bool = Field(
        default=False, validation_alias="BYOKBOT_ALLOW_PRIVATE_BASE_URLS"
    )
    metrics_token: SecretStr | None = Field(default=None, validation_alias="BYOKBOT_METRICS_TOKEN")
    discord_shard_count: int | None = Field(
        default=None, ge=1, validation_alias="DISCORD_SHARD_COUNT"
    )
    # NoDecode: the value is `0,1`, not JSON; `_split_shard_ids` parses it.
    discord_shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = Field(
        default=None, validation_alias="DISCORD_SHARD_IDS"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("slack_api_url", mode="after")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins method names onto the base URL, so it must end with "/".
        return value if value.endswith("/") else value + "/"

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _split_shard_ids(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split(",")]
        if not all(part.isascii() and part.isdigit() for part in parts):
            # The value itself is not repeated: whatever was pasted here may be a secret.
            raise ValueError("must be comma-separated shard numbers such as 0,1")
        return tuple(int(part) for part in parts)

    @field_validator("discord_shard_ids", mode="after")
    @classmethod
    def _shard_ids_fit_count(
        cls, value: tuple[int, ...] | None, info: ValidationInfo
    ) -> tuple[int, ...] | None:
        if value is None:
            return None
        if "discord_shard_count" not in info.data:
            return value  # the count is invalid itself; its own error is reported
        count = info.data["discord_shard_count"]
        if count is None:
            raise ValueError("needs DISCORD_SHARD_COUNT (the total number of shards) as well")
        if not value:
            raise ValueError("must name at least one shard")
        if len(set(value)) != len(value):
            raise ValueError("names a shard twice")
        too_big = [shard for shard in value if shard >= count]
        if too_big:
            raise ValueError(
                f"shard {too_big[0]} is out of range: ids go from 0 to {count - 1} "
                f"for DISCORD_SHARD_COUNT={count}"
            )
        return value

    @property
    def old_master_key_list(self) -> list[SecretStr]:
        """The comma-separated `BYOKBOT_OLD_MASTER_KEYS`, each as a secret."""
        raw = self.old_master_keys.get_secret_value()
        return [SecretStr(part.strip()) for part in raw.split(",") if part.strip()]

    @property
    def slack_configured(self) -> bool:
        """True when any Slack mode has its credentials."""
        return bool(
            self.slack_signing_secret
            and (self.slack_bot_token or self.slack_app_token or self.slack_client_id)
        ) or bool(self.slack_app_token and self.slack_bot_token)

    @property
    def discord_configured(self) -> bool:
        """True when a Discord bot token is set."""
        return self.discord_bot_token is not None


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into one-line `ConfigError`s."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc") or ("?",)
        name = str(loc[0])
        message = str(first.get("msg", "invalid"))
        # Our own validators' messages, without pydantic's "Value error, " prefix.
        message = message.removeprefix("Value error, ")
        # Never echo the offending value: it may be a secret.
        raise ConfigError(f"invalid setting {name}: {message}", setting=name) from None
