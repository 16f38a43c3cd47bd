"""The fake Discord's REST API: every call recorded, scripted 429s and errors, messages kept."""

from __future__ import annotations

import threading
import time
from typing import Any

from aiohttp import web

from tests.fakes.discord.records import GATEWAY_PATH, Call, Failure, RateLimit, Upload
from tests.fakes.discord.responses import (
    attachments,
    error_response,
    json_response,
    rate_limited,
    read_body,
)
from tests.fakes.discord_gateway import (
    BOT_ID,
    World,
    app_info,
    bot_message,
    channel,
    member,
    registered,
    user,
    webhook_message,
)


class Rest:
    """The REST half of `FakeDiscord`: `/api/v10/...` as discord.py calls it."""

    token: str
    port: int
    shard_count: int
    world: World
    attachment_size_limit: int
    calls: list[Call]
    messages: dict[int, dict[str, Any]]
    _rate_limits: list[RateLimit]
    _failures: list[Failure]
    _lock: threading.Lock

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

    # -- REST --------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await read_body(request)
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
            return error_response(401, 0, "401: Unauthorized")
        if any(len(f.content) > self.attachment_size_limit for f in files):
            call.status = 413
            return error_response(413, 40005, "Request entity too large")
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
                return error_response(failure.status, failure.code, failure.message)
        return None

    def _limited(self, call: Call) -> web.Response | None:
        """Discord's 429 when a scripted rate limit covers `call` (under `_lock`)."""
        for limit in self._rate_limits:
            if limit.method != call.method or not call.path.startswith(limit.prefix):
                continue
            if call.at < limit.until:  # retried before `retry_after` had passed
                return rate_limited(limit.until - call.at, limit.is_global)
            if limit.times > 0:
                limit.times -= 1
                limit.until = call.at + limit.retry_after
                return rate_limited(limit.retry_after, limit.is_global)
        return None

    def _route(self, method: str, parts: list[str], body: Any, files: list[Upload]) -> web.Response:
        match (method, parts):
            case ("GET", ["users", "@me"]):
                return json_response({**user(BOT_ID), "verified": True, "flags": 0})
            case ("GET", ["oauth2", "applications", "@me"]):
                return json_response(app_info())
            case ("GET", ["gateway", "bot"]):
                return json_response(
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
                return json_response([registered(c) for c in body or []])
            case ("POST", ["channels", cid, "messages"]):
                return json_response(self._store(int(cid), body or {}, files))
            case ("PATCH", ["channels", cid, "messages", mid]):
                return self._edit(int(mid), body or {})
            case ("GET", ["channels", cid, "messages", mid]):
                with self._lock:
                    found = self.messages.get(int(mid))
                return (
                    json_response(found) if found else error_response(404, 10008, "Unknown Message")
                )
            case ("GET", ["channels", cid]):
                gid = self.world.channels.get(int(cid))
                if gid is None:
                    return error_response(404, 10003, "Unknown Channel")
                return json_response(channel(int(cid), gid))
            case ("GET", ["users", uid]) if uid.isdigit():
                return json_response(user(int(uid)))
            case ("POST", ["users", "@me", "channels"]):
                recipient = int(body["recipient_id"])
                return json_response(
                    {"id": str(recipient + 1), "type": 1, "recipients": [user(recipient)]}
                )
            case ("GET", ["guilds", gid, "members", uid]):
                if int(uid) not in self.world.members.get(int(gid), set()):
                    return error_response(404, 10007, "Unknown Member")
                return json_response(member(int(uid), int(gid)))
            case ("POST", ["interactions", iid, _token, "callback"]):
                return json_response({"interaction": {"id": iid, "type": 2}})
            case ("POST", ["webhooks", _app, _token]):
                return json_response(webhook_message(body or {}, attachments(body or {}, files)))
            case ("PATCH", ["webhooks", _app, _token, "messages", _mid]):
                return json_response(webhook_message(body or {}))
        return error_response(404, 0, "404: Not Found")

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
                return error_response(404, 10008, "Unknown Message")
            if "content" in body:
                found["content"] = body["content"]
                found["edited_timestamp"] = "2024-01-01T00:00:01+00:00"
            return json_response(found)
