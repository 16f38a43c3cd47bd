"""Drives a `byokbot serve` connected to the fake Discord: environment, pushes, answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.discord import DEFERRED, EPHEMERAL, FakeDiscord
from tests.fakes.discord_gateway import (
    ADMIN,
    APP_ID,
    BOT_ID,
    CHANNEL,
    GUILD,
    MEMBER,
    command_data,
    interaction,
    message,
    modal_data,
    next_id,
)


def discord_env(
    *, database_url: str, master_key: str, fake: FakeDiscord, **extra: str
) -> dict[str, str]:
    """Environment for `byokbot serve` with Discord only, against `fake`."""
    return {
        "BYOKBOT_DATABASE_URL": database_url,
        "BYOKBOT_MASTER_KEY": master_key,
        "DISCORD_BOT_TOKEN": fake.token,
        "BYOKBOT_DISCORD_API_URL": fake.base_url,
        "BYOKBOT_LOG_LEVEL": "DEBUG",
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        **extra,
    }


@dataclass
class Answer:
    """What the bot answered one interaction: the callback and the follow-ups, in order."""

    callback: dict[str, Any]
    followups: list[dict[str, Any]]

    @property
    def deferred_ephemeral(self) -> bool:
        """The first response was "thinking…", visible to the user only."""
        flags = int((self.callback.get("data") or {}).get("flags") or 0)
        return self.callback.get("type") == DEFERRED and bool(flags & EPHEMERAL)

    @property
    def all_ephemeral(self) -> bool:
        """Every message of the answer is ephemeral."""
        bodies = [*self.followups]
        if self.callback.get("type") == 4:
            bodies.append(self.callback.get("data") or {})
        return bool(bodies) and all(int(b.get("flags") or 0) & EPHEMERAL for b in bodies)

    @property
    def text(self) -> str:
        """All the answer's text."""
        parts = [str(b.get("content") or "") for b in self.followups]
        if self.callback.get("type") == 4:
            parts.insert(0, str((self.callback.get("data") or {}).get("content") or ""))
        return "\n".join(parts)


class DiscordDriver:
    """Plays Discord's part against a running `byokbot serve`: interactions and messages."""

    def __init__(self, fake: FakeDiscord, *, log: Callable[[], str] | None = None) -> None:
        self.fake = fake
        self.log = log or (lambda: "")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the bot identified and reported itself ready (guilds cached)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.fake.connected() and "discord connected" in self.log():
                return
            time.sleep(0.05)
        raise AssertionError(f"the bot did not get ready:\n{self.log()}")

    def interact(self, kind: int, data: dict[str, Any], *, user: int, channel: int) -> str:
        """Push an INTERACTION_CREATE; returns the interaction token."""
        payload = interaction(
            kind=kind,
            data=data,
            user_id=user,
            channel_id=channel,
            attachment_size_limit=self.fake.attachment_size_limit,
        )
        self.fake.push("INTERACTION_CREATE", payload)
        return f"{payload['id']}/{payload['token']}"

    def callback_of(self, key: str, timeout: float = 15.0) -> dict[str, Any]:
        """The interaction's first response (callback body)."""
        path = f"/interactions/{key}/callback"
        self.fake.wait_for(lambda f: bool(f.calls_to("POST", path)), timeout=timeout)
        body = self.fake.calls_to("POST", path)[0].body
        assert isinstance(body, dict)
        return body

    def answer_of(self, key: str, timeout: float = 15.0) -> Answer:
        """The callback and (after a deferral) the follow-ups, once they stop coming."""
        callback = self.callback_of(key, timeout)
        token = key.split("/", 1)[1]
        hook = f"/webhooks/{APP_ID}/{token}"
        if callback.get("type") == DEFERRED:
            self.fake.wait_for(lambda f: bool(f.calls_to("POST", hook)), timeout=timeout)
        time.sleep(0.2)  # a further part, if any
        followups = [c.body for c in self.fake.calls if c.path.startswith(hook) and c.body]
        return Answer(callback=callback, followups=followups)

    def command(
        self,
        group: str | None,
        name: str,
        options: dict[str, Any],
        *,
        user: int,
        channel: int = CHANNEL,
    ) -> Answer:
        """Run `/byok [group] name option:value…` and collect the answer."""
        key = self.interact(2, command_data(group, name, options), user=user, channel=channel)
        return self.answer_of(key)

    def create_agent(
        self,
        provider_url: str,
        *,
        name: str = "writer",
        bind: bool = True,
        all_messages: bool = False,
        user: int = ADMIN,
    ) -> None:
        """key add + agent create (+ agent bind here) through real app commands."""
        key = f"{name}-key"
        options = {
            "provider": "openai",
            "name": key,
            "secret": "test-key",
            "base_url": provider_url,
            "no_verify": True,
        }
        reply = self.command("key", "add", options, user=user).text
        assert "stored" in reply, reply
        options = {"name": name, "key": key, "model": "gpt-4o-mini"}
        reply = self.command("agent", "create", options, user=user).text
        assert "created" in reply, reply
        if bind:
            options = {"name": name, "all_messages": all_messages}
            reply = self.command("agent", "bind", options, user=user).text
            assert "bound" in reply, reply

    def say(
        self,
        content: str,
        *,
        user: int = MEMBER,
        channel: int = CHANNEL,
        guild: int | None = GUILD,
        reply_to: int | None = None,
        message_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Push a MESSAGE_CREATE (mentions of the bot listed as Discord does); returns it."""
        mentioned = [BOT_ID] if f"<@{BOT_ID}>" in content else []
        data = message(
            message_id=message_id or next_id(),
            channel_id=channel,
            author_id=user,
            content=content,
            guild_id=guild,
            reply_to=reply_to,
            mentions=mentioned,
            attachments=attachments,
        )
        self.fake.push("MESSAGE_CREATE", data)
        return data

    def command_callback(
        self, group: str | None, name: str, options: dict[str, Any], *, user: int
    ) -> dict[str, Any]:
        """Run a command and return only its first response (a modal, say)."""
        key = self.interact(2, command_data(group, name, options), user=user, channel=CHANNEL)
        return self.callback_of(key)

    def submit_modal(
        self, custom_id: str, values: dict[str, str], *, user: int, channel: int = CHANNEL
    ) -> Answer:
        """Submit a modal the bot opened, with `values` typed into its inputs."""
        key = self.interact(5, modal_data(custom_id, values), user=user, channel=channel)
        return self.answer_of(key)
