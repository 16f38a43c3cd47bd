"""The Discord adapter's pure parts: plug-in selection, admin verdicts, mentions, splitting."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from adapters.discord import translation as tr
from adapters.discord.poster import guild_of
from bot.config import Settings
from bot.runtime import discover_plugins, select_plugins

BOT = 900000000000000001
_UNSET: dict[str, Any] = dict.fromkeys(
    ("slack_bot_token", "slack_signing_secret", "slack_app_token", "slack_client_id"), None
)


def _settings(token: str | None) -> Settings:
    return Settings(
        _env_file=None,
        discord_bot_token=SecretStr(token) if token is not None else None,
        **_UNSET,
    )


def test_the_plugin_is_selected_exactly_when_a_token_is_set() -> None:
    plugins = discover_plugins()
    assert plugins["discord"].name == "discord"
    chosen = select_plugins(plugins, _settings("a.b.c"), interactive=True)
    assert [p.name for p in chosen] == ["discord"]
    assert select_plugins(plugins, _settings(None), interactive=False) == []
    assert not plugins["discord"].is_configured(_settings("  "), interactive=False)


@pytest.mark.parametrize(
    ("administrator", "manage_guild", "in_guild", "verdict"),
    [
        (True, False, True, True),
        (False, True, True, True),
        (False, False, True, False),
        (True, True, False, False),  # a DM: no guild permissions apply
    ],
)
def test_admin_verdict_fails_closed_outside_a_guild(
    administrator: bool, manage_guild: bool, in_guild: bool, verdict: bool
) -> None:
    assert (
        tr.is_admin(administrator=administrator, manage_guild=manage_guild, in_guild=in_guild)
        is verdict
    )


def test_mentions_of_the_bot_only_are_detected_and_stripped() -> None:
    assert tr.mentions(f"<@{BOT}> hi", BOT) and tr.mentions(f"hey <@!{BOT}>", BOT)
    assert not tr.mentions(f"<@{BOT + 1}> hi", BOT) and not tr.mentions("hi", None)
    assert tr.strip_mention(f"<@{BOT}>   writer: hi <@{BOT + 1}>", BOT) == (
        f"writer: hi <@{BOT + 1}>"
    )


def test_workspaces_are_per_guild() -> None:
    assert tr.workspace_id(42) == "discord:42"
    assert guild_of("discord:42") == 42
    assert guild_of("slack:T1") is None and guild_of("discord:dm") is None
    place = tr.place(guild_id=None, channel_id=7, workspace="discord:42")
    assert place.is_direct and place.workspace_id == "discord:42" and place.channel_id == "7"


def test_split_keeps_every_character_and_the_limit() -> None:
    text = ("word " * 900).strip() + "\n" + "x" * 2_500
    pieces = tr.split_text(text)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= tr.MESSAGE_LIMIT for p in pieces)
    assert pieces[0].endswith(" ")  # cut between words, not inside one
    assert tr.split_text("") == [""]


def test_reply_chain_history_is_oldest_first_without_other_bots() -> None:
    chain = [  # newest first, as walked
        tr.ChainLink(author_id=BOT, author_is_bot=True, text="Blue."),
        tr.ChainLink(author_id=5, author_is_bot=True, text="noise from another bot"),
        tr.ChainLink(author_id=3, author_is_bot=False, text=f"<@{BOT}> name a colour"),
        tr.ChainLink(author_id=3, author_is_bot=False, text="   "),
    ]
    turns = tr.history_from_chain(chain, bot_id=BOT)
    assert [(t.role, t.text) for t in turns] == [
        ("user", "name a colour"),
        ("assistant", "Blue."),
    ]
    assert tr.history_from_chain(chain, bot_id=BOT, limit=1)[0].text == "Blue."
