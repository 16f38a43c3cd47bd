"""The discord.py floor of `bench/discord.py`: discord.py alone, answering each mention.

    python -m bench.discordbench.dpy

A plain `discord.Client` configured as byokbot's (same intents, no message cache, REST
and gateway pointed at the fake as `adapters/discord/client.py` does it) whose
`on_message` answers each human message that mentions it with one `message.reply` (a
reply created whole, no pings). None of byokbot's code, no database, no provider, no
streaming: what byokbot costs beyond it is ours; what it costs beyond the bare gateway
client (`baseline.py`) is discord.py's parsing and state. Environment:
`DISCORD_BOT_TOKEN`, `BYOKBOT_DISCORD_API_URL`.
"""

from __future__ import annotations

import asyncio
import logging
import os

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

REPLY = "OK, done."
NO_PINGS = discord.AllowedMentions.none()


class Floor(discord.Client):
    """Answers mentions with one reply each."""

    async def on_message(self, message: discord.Message) -> None:
        """One reply to a human's mention."""
        me = self.user
        if me is None or message.author.bot or not any(u.id == me.id for u in message.mentions):
            return
        try:
            await message.reply(REPLY, mention_author=False, allowed_mentions=NO_PINGS)
        except discord.DiscordException as exc:
            logging.getLogger(__name__).warning("could not answer (%s)", type(exc).__name__)


async def run(token: str, api_url: str) -> None:
    """Log in, learn the gateway's address, connect until the process is terminated."""
    intents = discord.Intents.none()
    intents.guilds = intents.guild_messages = intents.dm_messages = True
    intents.message_content = True
    Route.BASE = api_url.rstrip("/")
    client = Floor(intents=intents, allowed_mentions=NO_PINGS, max_messages=None)
    async with client:
        await client.login(token)
        _shards, gateway, _limits = await client.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
        await client.connect(reconnect=True)


def main() -> int:
    """Run until terminated."""
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(os.environ["DISCORD_BOT_TOKEN"], os.environ["BYOKBOT_DISCORD_API_URL"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
