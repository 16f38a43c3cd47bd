"""Settings from the environment and `.env`, exactly the SPEC's table."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
        # Never echo the offending value: it may be a secret.
        raise ConfigError(
            f"invalid setting {name}: {first.get('msg', 'invalid')}", setting=name
        ) from None
