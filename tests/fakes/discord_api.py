"""A real fake of Discord on 127.0.0.1 (port 0): the REST API discord.py calls, and a gateway.

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

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_gateway import (
    APP_ID,
    ATTACHMENT_SIZE_LIMIT,
    BOT_ID,
    World,
    app_info,
    bot_message,
    channel,
    guild,
    member,
    next_id,
    registered,
    user,
    webhook_message,
)
from tests.fakes.loop_server import LoopServer

TOKEN = "fake-discord-bot-token"
EPHEMERAL = 1 << 6
DEFERRED = 5
MODAL = 9
PREFIX = "/api/v10"
GATEWAY_PATH = "/gateway"  # what GET /gateway/bot names
RESUME_PATH = "/gateway-resume"  # the session's resume_gateway_url
CDN_PATH = "/attachments"  # attachments, as cdn.discordapp.com serves them


@dataclass
class Upload:
    """One file part of a multipart request: form field (`files[0]`), file name, bytes."""

    field: str
    filename: str
    content_type: str
    content: bytes


@dataclass
class Call:
    """One REST request: method, path after the API prefix, JSON body, uploads, our status."""

    method: str
    path: str
    body: Any
    files: list[Upload] = field(default_factory=list)
    authorization: str = ""
    at: float = 0.0  # time.monotonic() when it arrived
    status: int = 200


@dataclass
class CdnFile:
    """An attachment the fake CDN serves: bytes, or a generated body of `length` bytes."""

    content: bytes = b""
    length: int | None = None
    served: int = 0  # bytes written so far


@dataclass(frozen=True)
class CdnRequest:
    """One request to the fake CDN: its path and the Authorization header (None: none)."""

    path: str
    authorization: str | None


@dataclass
class RateLimit:
    """A scripted 429 for the next `times` calls of `method` on paths starting with `prefix`."""

    method: str
    prefix: str
    times: int
    retry_after: float
    is_global: bool = False
    until: float = 0.0  # while the bucket is exhausted, early retries get 429 too


@dataclass
class Failure:
    """A scripted error answer for the next `times` matching calls (uploads only, if set)."""

    method: str
    prefix: str
    status: int
    code: int
    message: str
    times: int
    uploads_only: bool = False


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


class FakeDiscord(LoopServer):
    """The fake; use as a context manager. `push()` sends a dispatch to the connected bot."""

    label = "fake Discord"

    def __init__(self, *, token: str = TOKEN, shards: int = 1) -> None:
        self.token = token
        self.shard_count = shards
        self.world = World()
        # Bytes per uploaded file: told in each interaction, a larger upload gets 413.
        self.attachment_size_limit = ATTACHMENT_SIZE_LIMIT
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}  # every message the bot sent or edited
        self.identified: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []  # every RESUME's `d` (token, session_id, seq)
        self.resumed: list[str] = []  # session ids resumed (RESUMED sent)
        self.close_codes: list[int] = []  # codes the fake closed connections with
        self.connections: list[str] = []  # path and query of every gateway connection
        self._sessions = 0
        self.shards = {n: GatewayShard(n) for n in range(shards)}
        self._rate_limits: list[RateLimit] = []
        self.cdn_files: dict[str, CdnFile] = {}  # path -> file
        self.cdn_requests: list[CdnRequest] = []
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self._gateway_lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The REST base URL (for BYOKBOT_DISCORD_API_URL)."""
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    async def _startup(self) -> None:
        self._gateway_lock = asyncio.Lock()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get(GATEWAY_PATH, self._gateway)
        app.router.add_get(RESUME_PATH, self._gateway)  # READY's resume_gateway_url
        app.router.add_route("*", PREFIX + "/{tail:.*}", self._rest)
        app.router.add_get(CDN_PATH + "/{tail:.*}", self._cdn)
        await self._bind(app)

    async def _shutdown(self) -> None:
        for shard in self.shards.values():
            if shard.ws is not None and not shard.ws.closed:
                await shard.ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    # -- the test's side ---------------------------------------------------------------
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

    def rate_limit(
        self,
        method: str,
        prefix: str,
        *,
        times: int = 1,
        retry_after: float = 0.5,
        is_global: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` on `prefix…` with 429 (and any call in
        that bucket before `retry_after` has passed), as Discord does."""
        with self._lock:
            self._rate_limits.append(RateLimit(method, prefix, times, retry_after, is_global))

    def fail(
        self,
        method: str,
        prefix: str,
        *,
        status: int,
        code: int,
        message: str,
        times: int = 1,
        uploads_only: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` on `prefix…` with Discord's error body
        (`{"message", "code"}`), e.g. 400 / 50035 Invalid Form Body."""
        with self._lock:
            self._failures.append(
                Failure(method, prefix, status, code, message, times, uploads_only)
            )

    def add_attachment(
        self,
        content: bytes = b"",
        *,
        filename: str = "screenshot.png",
        content_type: str | None = "image/png",
        size: int | None = None,
        length: int | None = None,
        channel_id: int = 0,
    ) -> dict[str, Any]:
        """Serve an attachment on the fake CDN; returns the object a message carries.

        `size` is what it declares (default: the real size); `length` serves that many
        generated bytes instead of `content`.
        """
        attachment_id = next_id()
        path = f"{CDN_PATH}/{channel_id}/{attachment_id}/{filename}"
        with self._lock:
            self.cdn_files[path] = CdnFile(content, length)
        real = length if length is not None else len(content)
        url = f"http://127.0.0.1:{self.port}{path}?ex=65f0&is=65e0&hm=fakesignature"
        found: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": real if size is None else size,
            "url": url,
            "proxy_url": url,
        }
        if content_type is not None:
            found["content_type"] = content_type
        return found

    def cdn_file(self, attachment: dict[str, Any]) -> CdnFile:
        """The served file behind an attachment object."""
        path = "/" + str(attachment["url"]).split("/", 3)[3].split("?", 1)[0]
        with self._lock:
            return self.cdn_files[path]

    def calls_to(self, method: str, prefix: str) -> list[Call]:
        """Recorded calls of `method` whose path starts with `prefix`."""
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    def remember(self, data: dict[str, Any]) -> None:
        """Make a message fetchable (an earlier message of a reply chain)."""
        with self._lock:
            self.messages[int(data["id"])] = data

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages the bot posted in a channel, oldest first, as they look now."""
        with self._lock:
            found = [
                m
                for m in self.messages.values()
                if m["channel_id"] == str(channel_id) and m["author"]["id"] == str(BOT_ID)
            ]
        return sorted(found, key=lambda m: int(m["id"]))

    def wait_for(self, check: Callable[[FakeDiscord], bool], *, timeout: float = 15.0) -> None:
        """Wait until `check(self)` holds, or fail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"condition not met in {timeout}s; calls: {self.summary()}")

    def summary(self) -> list[str]:
        """`METHOD path` of every call so far."""
        with self._lock:
            return [f"{c.method} {c.path}" for c in self.calls]

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

    # -- CDN -------------------------------------------------------------------------
    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        """An attachment's bytes (recorded with the Authorization header it came with)."""
        with self._lock:
            self.cdn_requests.append(CdnRequest(request.path, request.headers.get("Authorization")))
            found = self.cdn_files.get(request.path)
        if found is None:
            return web.Response(status=404, text="Not Found")
        if found.length is None:
            found.served += len(found.content)
            return web.Response(body=found.content, content_type="application/octet-stream")
        # A body of `length` generated bytes, chunked (no Content-Length to check up front).
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        left = found.length
        try:
            while left > 0:
                piece = b"x" * min(left, 64 * 1024)
                await response.write(piece)
                found.served += len(piece)
                left -= len(piece)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the bot stopped reading: what it took is in `served`
        return response

    # -- REST --------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await _read_body(request)
        call = Call(
            method=request.method,
            path=path,
            body=body,
            files=files,
            authorization=request.headers.get("Authorization", ""),
            at=time.monotonic(),
        )
        with self._lock:
            self.calls.append(call)
            refused = self._limited(call) or self._failed(call)
        if refused is not None:
            call.status = refused.status
            return refused
        if request.headers.get("Authorization") != f"Bot {self.token}" and not path.startswith(
            ("/interactions/", "/webhooks/")
        ):
            call.status = 401
            return _error(401, 0, "401: Unauthorized")
        if any(len(f.content) > self.attachment_size_limit for f in files):
            call.status = 413
            return _error(413, 40005, "Request entity too large")
        response = self._route(request.method, path.rstrip("/").split("/")[1:], body, files)
        call.status = response.status
        return response

    def _failed(self, call: Call) -> web.Response | None:
        """A scripted error answer covering `call` (under `_lock`)."""
        for failure in self._failures:
            if (
                failure.times > 0
                and failure.method == call.method
                and call.path.startswith(failure.prefix)
                and (call.files or not failure.uploads_only)
            ):
                failure.times -= 1
                return _error(failure.status, failure.code, failure.message)
        return None

    def _limited(self, call: Call) -> web.Response | None:
        """Discord's 429 when a scripted rate limit covers `call` (under `_lock`)."""
        for limit in self._rate_limits:
            if limit.method != call.method or not call.path.startswith(limit.prefix):
                continue
            if call.at < limit.until:  # retried before `retry_after` had passed
                return _rate_limited(limit.until - call.at, limit.is_global)
            if limit.times > 0:
                limit.times -= 1
                limit.until = call.at + limit.retry_after
                return _rate_limited(limit.retry_after, limit.is_global)
        return None

    def _route(self, method: str, parts: list[str], body: Any, files: list[Upload]) -> web.Response:
        match (method, parts):
            case ("GET", ["users", "@me"]):
                return _json({**user(BOT_ID), "verified": True, "flags": 0})
            case ("GET", ["oauth2", "applications", "@me"]):
                return _json(app_info())
            case ("GET", ["gateway", "bot"]):
                return _json(
                    {
                        "url": f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}",
                        "shards": self.shard_count,
                        "session_start_limit": {
                            "total": 1000,
                            "remaining": 999,
                            "reset_after": 0,
                            "max_concurrency": 1,
                        },
                    }
                )
            case ("PUT", ["applications", _app, "commands"]):
                return _json([registered(c) for c in body or []])
            case ("POST", ["channels", cid, "messages"]):
                return _json(self._store(int(cid), body or {}, files))
            case ("PATCH", ["channels", cid, "messages", mid]):
                return self._edit(int(mid), body or {})
            case ("GET", ["channels", cid, "messages", mid]):
                with self._lock:
                    found = self.messages.get(int(mid))
                return _json(found) if found else _error(404, 10008, "Unknown Message")
            case ("GET", ["channels", cid]):
                gid = self.world.channels.get(int(cid))
                if gid is None:
                    return _error(404, 10003, "Unknown Channel")
                return _json(channel(int(cid), gid))
            case ("GET", ["users", uid]) if uid.isdigit():
                return _json(user(int(uid)))
            case ("POST", ["users", "@me", "channels"]):
                recipient = int(body["recipient_id"])
                return _json({"id": str(recipient + 1), "type": 1, "recipients": [user(recipient)]})
            case ("GET", ["guilds", gid, "members", uid]):
                if int(uid) not in self.world.members.get(int(gid), set()):
                    return _error(404, 10007, "Unknown Member")
                return _json(member(int(uid), int(gid)))
            case ("POST", ["interactions", iid, _token, "callback"]):
                return _json({"interaction": {"id": iid, "type": 2}})
            case ("POST", ["webhooks", _app, _token]):
                return _json(webhook_message(body or {}, attachments(body or {}, files)))
            case ("PATCH", ["webhooks", _app, _token, "messages", _mid]):
                return _json(webhook_message(body or {}))
        return _error(404, 0, "404: Not Found")

    def _store(self, channel_id: int, body: dict[str, Any], files: list[Upload]) -> dict[str, Any]:
        gid = self.world.channels.get(channel_id)
        data = bot_message(
            body,
            channel_id=str(channel_id),
            attachments=attachments(body, files),
            kind=19 if body.get("message_reference") else 0,  # 19: a reply
        )
        if gid is not None:
            data["guild_id"] = str(gid)
        if body.get("message_reference"):
            data["message_reference"] = body["message_reference"]
        with self._lock:
            self.messages[int(data["id"])] = data
        return data

    def _edit(self, message_id: int, body: dict[str, Any]) -> web.Response:
        with self._lock:
            found = self.messages.get(message_id)
            if found is None:
                return _error(404, 10008, "Unknown Message")
            if "content" in body:
                found["content"] = body["content"]
                found["edited_timestamp"] = "2024-01-01T00:00:01+00:00"
            return _json(found)


def _json(data: Any, *, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only for exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


def _rate_limited(retry_after: float, is_global: bool) -> web.Response:
    """Discord's 429: JSON body with `retry_after` (seconds), the X-RateLimit-* headers, and
    `Via` (a 429 without it is Cloudflare's, which discord.py does not retry)."""
    seconds = round(max(retry_after, 0.001), 3)
    headers = {
        "Content-Type": "application/json",
        "Retry-After": str(max(1, round(seconds))),
        "Via": "1.1 google",
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + seconds:.3f}",
        "X-RateLimit-Reset-After": f"{seconds:.3f}",
        "X-RateLimit-Bucket": "fake-bucket-0001",
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": seconds, "global": is_global}
    return web.Response(body=json.dumps(body).encode(), status=429, headers=headers)


def attachments(body: dict[str, Any], files: list[Upload]) -> list[dict[str, Any]]:
    """The attachment objects Discord returns for a message's uploaded `files[n]` parts."""
    described = {str(a.get("id")): a for a in body.get("attachments") or []}
    out = []
    for upload in files:
        index = upload.field.removeprefix("files[").removesuffix("]")
        meta = described.get(index, {})
        name = meta.get("filename") or upload.filename
        url = f"https://cdn.discordapp.com/attachments/0/{next_id()}/{name}"
        out.append(
            {
                "id": str(next_id()),
                "filename": name,
                "size": len(upload.content),
                "url": url,
                "proxy_url": url,
                "content_type": upload.content_type,
                **({"description": meta["description"]} if meta.get("description") else {}),
            }
        )
    return out


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[Upload] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":  # type: ignore[union-attr]
                body = json.loads(await part.text())  # type: ignore[union-attr]
            elif part.filename:  # type: ignore[union-attr]
                files.append(
                    Upload(
                        field=str(part.name),  # type: ignore[union-attr]
                        filename=part.filename,  # type: ignore[union-attr]
                        content_type=part.headers.get("Content-Type", ""),  # type: ignore[union-attr]
                        content=bytes(await part.read()),  # type: ignore[union-attr]
                    )
                )
        return body, files
    raw = await request.read()
    try:
        return (json.loads(raw) if raw else None), []
    except ValueError:
        return None, []
