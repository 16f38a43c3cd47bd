"""Ask an admin on Discord through the real `byokbot serve`: component interactions.

The refusal goes to the member's DMs with an **Ask an admin** button (persistent custom
id `byok:ask:<request>:<guild>`); pressing it posts the request to the digest channel
with **Approve** / **Deny**; clicks arrive as INTERACTION_CREATE type 3 through the fake
gateway, handled from their custom ids (no in-memory view), rights checked on every click.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver
from tests.fakes.discord_gateway import ADMIN, BOT_ID, CHANNEL, MEMBER, SECOND_CHANNEL
from tests.fakes.providers import FakeOpenAI

REPLY = "Answered on an admin's allowance."
DM = MEMBER + 1  # the fake's DM channel id with MEMBER


def _custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        str(item["custom_id"])
        for row in message.get("components") or []
        for item in row.get("components") or []
    ]


def _click(discord: DiscordDriver, custom_id: str, *, user: int, channel: int) -> str:
    key = discord.interact(
        3, {"custom_id": custom_id, "component_type": 2}, user=user, channel=channel
    )
    return discord.answer_of(key).text


def test_ask_approve_deny_through_component_interactions(
    discord: DiscordDriver, fake: FakeDiscord, provider: FakeOpenAI, engine: Engine
) -> None:
    provider.reply = REPLY
    discord.create_agent(provider.base_url)
    options = {"channel": str(SECOND_CHANNEL)}
    assert "digest" in discord.command("digest", "channel", options, user=ADMIN).text
    options2 = {"target": "writer", "usd": "0.0001", "per": "day"}
    discord.command("limit", "set", options2, user=ADMIN)

    discord.say(f"<@{BOT_ID}> a long essay", user=MEMBER)
    fake.wait_for(lambda f: any(_custom_ids(m) for m in f.channel_messages(DM)))
    refusal = next(m for m in fake.channel_messages(DM) if _custom_ids(m))
    (ask,) = _custom_ids(refusal)
    assert ask.startswith("byok:ask:") and "a long essay" not in json.dumps(refusal)
    request_id = ask.split(":")[2]
    assert not provider.chat_requests

    assert f"Asked the admins (request {request_id})" in _click(
        discord, ask, user=MEMBER, channel=DM
    )
    (post,) = [m for m in fake.channel_messages(SECOND_CHANNEL) if _custom_ids(m)]
    approve, deny = _custom_ids(post)
    assert (approve, deny) == (f"byok:approve:{request_id}", f"byok:deny:{request_id}")
    assert f"<@{MEMBER}>" in post["content"] and "a long essay" not in json.dumps(post)

    assert "Only byokbot admins" in _click(discord, approve, user=MEMBER, channel=SECOND_CHANNEL)
    assert f"Approved request {request_id}" in _click(
        discord, approve, user=ADMIN, channel=SECOND_CHANNEL
    )
    fake.wait_for(
        lambda f: any(
            "Send your message again." in str(m.get("content")) for m in f.channel_messages(DM)
        )
    )
    # Pressed again (a second admin, or a second replica's copy): nothing changes.
    assert "already approved" in _click(discord, deny, user=ADMIN, channel=SECOND_CHANNEL)

    discord.say(f"<@{BOT_ID}> a long essay", user=MEMBER)
    fake.wait_for(lambda f: bool(provider.chat_requests))
    assert len(provider.chat_requests) == 1
    with engine.connect() as conn:
        audit = conn.execute(
            text(
                "SELECT actor_id, action, outcome FROM audit_events"
                " WHERE action LIKE 'approval.%' ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in audit] == [
        (str(MEMBER), "approval.ask", "ok"),
        (str(MEMBER), "approval.approve", "denied"),
        (str(ADMIN), "approval.approve", "ok"),
        (str(ADMIN), "approval.deny", "error"),
    ]
    assert CHANNEL  # the refusal never went to the channel itself
    assert not any(_custom_ids(m) for m in fake.channel_messages(CHANNEL))
