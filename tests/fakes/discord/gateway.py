"""The fake Discord's gateway: sessions per shard, IDENTIFY/READY, RESUME, replays, op 7/9.

Every dispatch is numbered (`s`) and logged in its shard's session; a RESUME with the
session's id and a sequence number it has sent replays every later dispatch (including
those pushed while the bot was away), then RESUMED; a stale one gets op 9.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord.records import RESUME_PATH
from tests.fakes.discord_gateway import APP_ID, BOT_ID, World, guild, user


@dataclass
class GatewayShard:
    """One shard's gateway session: its connection, sequence and dispatch log."""

    shard_id: int
    ws: web.WebSocketResponse | None = None
    live: bool = False  # the connection has identified or resumed
    session_id: str | None = None
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def connected(self) -> bool:
        """True while a connection that identified or resumed is open."""
        return self.ws is not None and not self.ws.closed and self.live


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard a guild's events go to (Discord's formula); DMs go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


class Gateway:
    """The gateway half of `FakeDiscord`: the test's pushes and the bot's connections."""

    token: str
    shard_count: int
    shards: dict[int, GatewayShard]
    world: World
    port: int
    identified: list[dict[str, Any]]
    resumes: list[dict[str, Any]]
    resumed: list[str]
    close_codes: list[int]
    connections: list[str]
    _sessions: int
    _gateway_lock: asyncio.Lock | None
    _loop: asyncio.AbstractEventLoop | None

    def push(self, event: str, data: dict[str, Any]) -> None:
        """Dispatch (op 0) with the next sequence number; while the bot is away, it is only
        logged in the session, and replayed when the bot resumes (as Discord does)."""
        guild_id = data.get("guild_id")
        shard = shard_of(None if guild_id is None else int(guild_id), self.shard_count)
        self._call(self._dispatch(self.shards[shard], event, data))

    def connected(self, shard: int | None = None) -> bool:
        """True while `shard` (default: every shard) has a live connection."""
        wanted = self.shards.values() if shard is None else [self.shards[shard]]
        return all(s.connected() for s in wanted)

    @property
    def session_id(self) -> str | None:
        """Shard 0's session id."""
        return self.shards[0].session_id

    @property
    def sequence(self) -> int:
        """The sequence number of shard 0's session's last dispatch."""
        return self.shards[0].seq

    def disconnect(self, code: int = 4000, *, shard: int = 0) -> None:
        """Close the bot's gateway connection with `code` (4000: unknown error, resumable);
        the session stays, so the bot may RESUME it."""
        self._call(self._close(self.shards[shard], code))

    def expire_session(self, *, shard: int = 0) -> None:
        """Forget the session, as Discord does some time after a disconnect: a RESUME of it
        gets op 9 (not resumable), and the bot must IDENTIFY again."""
        self._call(self._expire(self.shards[shard]))

    def request_reconnect(self, *, shard: int = 0) -> None:
        """Send op 7 RECONNECT: the bot must reconnect (and resume); until it has, dispatches
        are only logged in the session."""
        self._call(self._reconnect(self.shards[shard]))

    def _call(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(work, self._loop).result(5)

    # -- gateway -----------------------------------------------------------------------
    async def _send(self, ws: web.WebSocketResponse | None, payload: dict[str, Any]) -> None:
        assert ws is not None
        await ws.send_str(json.dumps(payload))

    async def _dispatch(self, shard: GatewayShard, event: str, data: dict[str, Any]) -> None:
        assert self._gateway_lock is not None
        async with self._gateway_lock:  # one order on the wire: no push inside a replay
            await self._emit(shard, event, data)

    async def _emit(self, shard: GatewayShard, event: str, data: dict[str, Any]) -> None:
        """Number, log and (when the shard is connected) send a dispatch; hold the lock."""
        shard.seq += 1
        payload = {"op": 0, "t": event, "s": shard.seq, "d": data}
        shard.log.append(payload)
        if shard.connected():
            await self._send(shard.ws, payload)

    async def _close(self, shard: GatewayShard, code: int) -> None:
        ws = shard.ws
        shard.live = False
        if ws is not None and not ws.closed:
            self.close_codes.append(code)
            await ws.close(code=code, message=b"fake gateway closed the connection")

    async def _expire(self, shard: GatewayShard) -> None:
        assert self._gateway_lock is not None
        async with self._gateway_lock:
            shard.session_id = None
            shard.log = []

    async def _reconnect(self, shard: GatewayShard) -> None:
        await self._send(shard.ws, {"op": 7, "d": None, "s": None, "t": None})
        shard.live = False

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections.append(request.path_qs)
        bound: GatewayShard | None = None  # the shard this connection identified or resumed
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": 41_250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            op = payload.get("op")
            if op == 1:
                await self._send(ws, {"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                self.identified.append(payload["d"])
                bound = await self._identify(ws, payload["d"])
            elif op == 6:
                bound = await self._resume(ws, payload["d"]) or bound
        if bound is not None and bound.ws is ws:
            bound.live = False
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewayShard:
        """Bind the connection to the shard its IDENTIFY names ([0, 1] when it names none)."""
        shard_id, count = data.get("shard") or [0, 1]
        if count != self.shard_count or shard_id not in self.shards:
            await ws.close(code=4010, message=b"Invalid shard")  # as Discord does
            self.close_codes.append(4010)
            return self.shards[0]
        shard = self.shards[shard_id]
        if shard.ws is not None and shard.ws is not ws and not shard.ws.closed:
            shard.live = False
        shard.ws = ws
        await self._ready(shard)
        return shard

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewayShard | None:
        """Replay what the bot missed since `seq`, then RESUMED; or op 9 when it cannot."""
        self.resumes.append(data)
        seq = data.get("seq")
        shard = next(
            (
                s
                for s in self.shards.values()
                if s.session_id is not None and s.session_id == data.get("session_id")
            ),
            None,
        )
        if (
            data.get("token") != self.token
            or shard is None
            or not isinstance(seq, int)
            or seq > shard.seq
        ):
            # Not resumable: the bot must open a new connection and identify.
            await self._send(ws, {"op": 9, "d": False, "s": None, "t": None})
            return None
        assert self._gateway_lock is not None and shard.session_id is not None
        async with self._gateway_lock:
            shard.ws = ws
            for missed in [p for p in shard.log if p["s"] > seq]:
                await self._send(ws, missed)
            shard.live = True
            self.resumed.append(shard.session_id)
            await self._emit(shard, "RESUMED", {"_trace": ["fake-discord-gateway"]})
        return shard

    async def _ready(self, shard: GatewayShard) -> None:
        """A new session: READY (with its id and resume URL), then each of the shard's guilds."""
        assert self._gateway_lock is not None
        async with self._gateway_lock:
            self._sessions += 1
            shard.session_id = f"fake-session-{self._sessions}"
            shard.seq = 0
            shard.log = []
            shard.live = True
            guild_ids = [
                g
                for g in sorted(self.world.members)
                if shard_of(g, self.shard_count) == shard.shard_id
            ]
            ready = {
                "v": 10,
                "user": {**user(BOT_ID), "verified": True, "mfa_enabled": False, "flags": 0},
                "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
                "session_id": shard.session_id,
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}{RESUME_PATH}",
                "application": {"id": str(APP_ID), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "shard": [shard.shard_id, self.shard_count],
            }
            await self._emit(shard, "READY", ready)
            for guild_id in guild_ids:
                await self._emit(shard, "GUILD_CREATE", guild(guild_id, self.world))
