"""A real fake of Discord on 127.0.0.1 (port 0): the REST API discord.py calls, and a gateway.

The package: `server` (`FakeDiscord`, the app and the test's side), `rest`, `gateway`, `cdn`,
`records` (what is recorded and scripted) and `responses` (Discord's bodies and headers).

One aiohttp app in a background thread serves `/api/v10/...` (the base URL for
`BYOKBOT_DISCORD_API_URL`) and a websocket at `/gateway` speaking the gateway protocol in
plain JSON text frames: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, and
dispatches the test pushes (MESSAGE_CREATE, INTERACTION_CREATE). Every REST call is
recorded (multipart uploads with their bytes; a file over `attachment_size_limit` gets
413 as on Discord); channel messages are kept (created, edited) so tests can read what
the bot shows.

Sharding as on Discord: `FakeDiscord(shards=2)` makes GET /gateway/bot recommend two
shards; each connection's IDENTIFY names its `[shard_id, shard_count]`, its READY lists
only that shard's guilds (guild -> shard by `(guild_id >> 22) % shard_count`), and a
guild's dispatches go only to its shard's connection (DMs to shard 0). Several processes
may each hold some of the shards.

Like Discord, the gateway keeps a session per shard: every dispatch is numbered (`s`)
and logged.
A test can drop the connection (`disconnect(4000)`) or ask the bot to reconnect (op 7);
a RESUME (op 6) with the session's id and a sequence number it has sent is answered by
replaying every later dispatch (including those pushed while the bot was away) and then
RESUMED. A stale resume gets op 9 (not resumable), and the bot must IDENTIFY afresh.
REST calls can be scripted to answer 429 with Discord's body and rate-limit headers, or
another error with Discord's `{"message", "code"}` body.

Attachments of pushed messages are served like Discord's CDN at `/attachments/...` on the
same origin (`add_attachment` returns the attachment object a MESSAGE_CREATE carries);
every CDN request is recorded with its Authorization header (`cdn_requests`). An
attachment can lie about its size (a generated body, chunked).
"""

from __future__ import annotations

from tests.fakes.discord.gateway import GatewayShard, shard_of
from tests.fakes.discord.records import (
    CDN_PATH,
    DEFERRED,
    EPHEMERAL,
    GATEWAY_PATH,
    MODAL,
    PREFIX,
    RESUME_PATH,
    TOKEN,
    Call,
    CdnFile,
    CdnRequest,
    Failure,
    RateLimit,
    Upload,
)
from tests.fakes.discord.responses import attachments
from tests.fakes.discord.server import FakeDiscord

__all__ = [
    "CDN_PATH",
    "DEFERRED",
    "EPHEMERAL",
    "GATEWAY_PATH",
    "MODAL",
    "PREFIX",
    "RESUME_PATH",
    "TOKEN",
    "Call",
    "CdnFile",
    "CdnRequest",
    "Failure",
    "FakeDiscord",
    "GatewayShard",
    "RateLimit",
    "Upload",
    "attachments",
    "shard_of",
]
