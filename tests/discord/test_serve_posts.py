"""Unprompted posts on Discord through the real `byokbot serve`: the digest via the poster.

Both tests share the module's `byokbot serve` (`shared_discord`, tests/discord/conftest.py);
each names the digest channel itself.
"""

from __future__ import annotations

from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver
from tests.fakes.discord_gateway import ADMIN, CHANNEL, OTHER_GUILD_CHANNEL


def test_digest_now_is_posted_to_the_digest_channel(
    shared_discord: DiscordDriver, shared_fake: FakeDiscord
) -> None:
    discord, fake = shared_discord, shared_fake
    reply = discord.command("digest", "channel", {}, user=ADMIN).text
    assert "digest" in reply, reply
    answer = discord.command("digest", "now", {}, user=ADMIN)
    assert answer.all_ephemeral
    assert answer.text.startswith("digest of") and "posted in" in answer.text, answer.text
    posts = fake.calls_to("POST", f"/channels/{CHANNEL}/messages")
    assert posts, fake.summary()
    text = " ".join(str(p.body.get("content") or "") for p in posts if p.body)
    assert "AI usage" in text and "today so far" in text, text
    assert all(p.body is None or "message_reference" not in p.body for p in posts)
    assert all(len(str((p.body or {}).get("content") or "")) <= 2_000 for p in posts)
    assert fake.calls_to("POST", f"/channels/{OTHER_GUILD_CHANNEL}/messages") == []
    before = len(posts)
    answer = discord.command("digest", "now", {"day": "yesterday"}, user=ADMIN)
    assert answer.text.startswith("digest of") and "posted in" in answer.text, answer.text
    later = fake.calls_to("POST", f"/channels/{CHANNEL}/messages")[before:]
    assert "no AI calls" in " ".join(str((p.body or {}).get("content") or "") for p in later)


def test_a_digest_channel_of_another_guild_is_never_posted_to(
    shared_discord: DiscordDriver, shared_fake: FakeDiscord
) -> None:
    discord, fake = shared_discord, shared_fake
    options = {"channel": str(OTHER_GUILD_CHANNEL)}
    reply = discord.command("digest", "channel", options, user=ADMIN).text
    assert str(OTHER_GUILD_CHANNEL) in reply, reply
    answer = discord.command("digest", "now", {}, user=ADMIN)
    assert "could not be posted" in answer.text, answer.text
    assert fake.calls_to("POST", f"/channels/{OTHER_GUILD_CHANNEL}/messages") == []
    assert fake.calls_to("POST", f"/channels/{CHANNEL}/messages") == []
