"""A real HTTP fake of the Slack Web API on 127.0.0.1 (port 0), for tests and the benchmark.

Modelled on slack-bolt's tests/mock_web_api_server: a threaded stdlib HTTP server that
answers the Web API methods byokbot uses, records every call (method, params, token),
and can be scripted: users.info fixtures (admin, owner, member, guest, restricted,
external, failing look-up), thread replies, refused or expiring streams, HTTP 429s with
Retry-After, OAuth installs of several workspaces, and the files.uploadV2 path.

Files attached to messages are served at their `url_private` (`/files-pri/<team>-<id>/
<name>`, and `.../download/<name>`) only to a request bearing that workspace's bot
token (anything else gets 403); every download is recorded with its Authorization
header (`downloads()`). A file can lie about its size (a generated body, chunked) or
redirect elsewhere.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.slack_state import (
    ADMIN,
    APP_ID,
    BOT_ID,
    BOT_USER,
    EXTERNAL_ADMIN,
    EXTERNAL_MEMBER,
    FAILING,
    GUEST,
    MEMBER,
    OTHER_ADMIN,
    OTHER_TEAM,
    OWNER,
    STRANGER,
    TEAM,
    ULTRA_GUEST,
    Call,
    Download,
    FakeSlackState,
    Fault,
    StoredFile,
    Team,
    default_users,
)


class FakeSlackAPI:
    """The fake server; use as a context manager or call `start()` / `stop()`."""

    def __init__(self, *, team: str = TEAM, token: str = "xoxb-fake-bot-token") -> None:
        self.state = FakeSlackState()
        self.state.teams[token] = Team(team_id=team, token=token, name="Fake Team")
        self.default_token = token
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def forget(self) -> None:
        """Clear what the fake recorded and was told to do (files stay: never reused)."""
        with self._lock:
            state = self.state
            state.calls.clear()
            state.response_posts.clear()
            state.downloads.clear()
            state.faults.clear()
            state.replies.clear()
            state.stream_appends.clear()
            state.refuse_streaming = False

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeSlackAPI:
        """Serve on 127.0.0.1 on a free port in a daemon thread."""
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlackAPI:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        assert self._server is not None, "fake not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The Web API base URL (for `BYOKBOT_SLACK_API_URL`), ending with '/'."""
        return self.root_url + "/api/"

    # -- scripting -------------------------------------------------------------------
    def add_team(self, team_id: str, token: str, *, bot_user_id: str = BOT_USER) -> Team:
        """Make a second workspace known (its token authenticates as that team)."""
        team = Team(team_id=team_id, token=token, bot_user_id=bot_user_id, name=team_id)
        with self._lock:
            self.state.teams[token] = team
        return team

    def add_oauth_code(self, code: str, team: Team) -> None:
        """`oauth.v2.access` with this code installs the app in `team`."""
        with self._lock:
            self.state.oauth_codes[code] = team

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with an HTTP error (or ok=false `error`)."""
        with self._lock:
            self.state.faults.setdefault(method, []).append(
                Fault(status=status, retry_after=retry_after, remaining=times, error=error)
            )

    def set_thread(self, channel: str, thread_ts: str, messages: list[dict[str, Any]]) -> None:
        """What `conversations.replies` returns for a thread (oldest first, parent included)."""
        with self._lock:
            self.state.replies[(channel, thread_ts)] = messages

    def add_file(
        self,
        content: bytes = b"",
        *,
        name: str = "screenshot.png",
        mimetype: str = "image/png",
        size: int | None = None,
        team: str | None = None,
        length: int | None = None,
        redirect_to: str | None = None,
    ) -> dict[str, Any]:
        """Serve a file; returns its object as a message event's `files` carry it.

        `size` is what the object declares (default: the real size); `length` serves that
        many generated bytes instead of `content`; `redirect_to` answers 302 to that URL.
        """
        team_id = team or next(iter(self.state.teams.values())).team_id
        file_id = "F" + self._next_ts().replace(".", "")
        stored = StoredFile(file_id, team_id, content, length, redirect_to)
        with self._lock:
            self.state.files[file_id] = stored
        real = length if length is not None else len(content)
        base = f"{self.root_url}/files-pri/{team_id}-{file_id}"
        quoted = urllib.parse.quote(name)
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": real if size is None else size,
            "mode": "hosted",
            "url_private": f"{base}/{quoted}",
            "url_private_download": f"{base}/download/{quoted}",
        }

    def downloads(self) -> list[Download]:
        """Every request for a file, in order."""
        with self._lock:
            return list(self.state.downloads)

    def file_request(self, path: str, authorization: str | None) -> tuple[int, StoredFile | None]:
        """Record a file request; (status, the file to serve when 200 or 302)."""
        key = path.removeprefix("/files-pri/").split("/", 1)[0]
        team_id, _, file_id = key.partition("-")
        with self._lock:
            stored = self.state.files.get(file_id)
            tokens = {t.token for t in self.state.teams.values() if t.team_id == team_id}
            if stored is None or stored.team_id != team_id:
                status = 404
            elif authorization is None or authorization.removeprefix("Bearer ") not in tokens:
                status = 403
            else:
                status = 302 if stored.redirect_to else 200
            self.state.downloads.append(Download(path, authorization, status, time.time()))
        return status, stored if status in (200, 302) else None

    def count_served(self, file_id: str, sent: int) -> None:
        """Add to the bytes written for a file."""
        with self._lock:
            self.state.served_bytes[file_id] = self.state.served_bytes.get(file_id, 0) + sent

    def response_url(self, name: str = "cmd") -> str:
        """A response_url served by this fake (posts are recorded in `response_posts`)."""
        return f"{self.root_url}/response/{name}"

    # -- inspection ------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method, in order."""
        with self._lock:
            return [c for c in self.state.calls if c.method == method]

    def all_calls(self) -> list[Call]:
        """Every recorded call, in order."""
        with self._lock:
            return list(self.state.calls)

    def responses(self, name: str | None = None) -> list[dict[str, Any]]:
        """JSON bodies posted to the response_url `name` (every one when None), in order."""
        with self._lock:
            return [body for path, body in self.state.response_posts if name in (None, path)]

    def wait_for(self, predicate: Callable[[FakeSlackAPI], bool], *, timeout: float = 10.0) -> None:
        """Poll until `predicate(self)` is true; raise AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out; calls: {[c.method for c in self.all_calls()]}")

    # -- request handling (called from server threads) ---------------------------------
    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_700_000_000 + n}.{n:06d}"

    def _take_fault(self, method: str) -> Fault | None:
        faults = self.state.faults.get(method)
        if not faults:
            return None
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.pop(0)
        return fault

    def handle(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one Web API call: (status, JSON body, extra headers)."""
        with self._lock:
            self.state.calls.append(Call(method, params, token, time.time()))
            index = len(self.state.calls) - 1
            fault = self._take_fault(method)
            if fault is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                if fault.error is not None:
                    return 200, {"ok": False, "error": fault.error}, headers
                return fault.status, {"ok": False, "error": "ratelimited"}, headers
            if method == "oauth.v2.access":
                return 200, self._oauth_access(params), {}
            if method == "apps.connections.open":
                if token != self.state.app_token or self.state.socket_url is None:
                    return 200, {"ok": False, "error": "invalid_auth"}, {}
                return 200, {"ok": True, "url": self.state.socket_url}, {}
            team = self.state.teams.get(token or "")
            if team is None:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            body = self._answer(method, params, team)
            if body["ok"] and method.startswith("chat.") and "ts" in body:
                self.state.calls[index] = replace(self.state.calls[index], ts=str(body["ts"]))
            return 200, body, {}

    def _oauth_access(self, params: dict[str, Any]) -> dict[str, Any]:
        team = self.state.oauth_codes.pop(str(params.get("code", "")), None)
        if team is None:
            return {"ok": False, "error": "invalid_code"}
        self.state.teams[team.token] = team
        return {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": ADMIN},
            "scope": "app_mentions:read,chat:write,commands",
            "token_type": "bot",
            "access_token": team.token,
            "bot_user_id": team.bot_user_id,
            "team": {"id": team.team_id, "name": team.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _answer(self, method: str, params: dict[str, Any], team: Team) -> dict[str, Any]:
        ok: dict[str, Any] = {"ok": True}
        channel = str(params.get("channel", ""))
        if method == "auth.test":
            return ok | {
                "url": "https://fake.slack.com/",
                "team": team.name,
                "user": "byokbot",
                "team_id": team.team_id,
                "user_id": team.bot_user_id,
                "bot_id": team.bot_id,
                "is_enterprise_install": False,
            }
        if method == "users.info":
            user = self.state.users.get(str(params.get("user", "")))
            if user is None or params.get("user") == FAILING:
                return {"ok": False, "error": "user_not_found"}
            return ok | {"user": user}
        if method == "conversations.replies":
            key = (channel, str(params.get("ts", "")))
            return ok | {"messages": list(self.state.replies.get(key, [])), "has_more": False}
        if method == "conversations.open":
            return ok | {"channel": {"id": "D" + str(params.get("users", "X")).split(",")[0]}}
        if method in ("chat.postMessage", "chat.update"):
            ts = str(params.get("ts") or self._next_ts())
            return ok | {"channel": channel, "ts": ts, "message": {"ts": ts}}
        if method == "chat.postEphemeral":
            return ok | {"message_ts": self._next_ts()}
        if method == "chat.startStream":
            if self.state.refuse_streaming:
                return {"ok": False, "error": "method_not_supported_for_channel_type"}
            ts = self._next_ts()
            self.state.stream_appends[ts] = 0
            return ok | {"channel": channel, "ts": ts}
        if method == "chat.appendStream":
            ts = str(params.get("ts", ""))
            if ts not in self.state.stream_appends:
                return {"ok": False, "error": "message_not_in_streaming_state"}
            self.state.stream_appends[ts] += 1
            limit = self.state.stream_expires_after
            if limit is not None and self.state.stream_appends[ts] > limit:
                del self.state.stream_appends[ts]
                return {"ok": False, "error": "message_not_in_streaming_state"}
            return ok | {"channel": channel, "ts": ts}
        if method == "chat.stopStream":
            ts = str(params.get("ts", ""))
            if self.state.stream_appends.pop(ts, None) is None:
                return {"ok": False, "error": "message_not_in_streaming_state"}
            return ok | {"channel": channel, "ts": ts, "message": {"ts": ts}}
        if method == "views.open":
            return ok | {"view": {"id": "V" + self._next_ts().replace(".", "")}}
        if method == "files.getUploadURLExternal":
            file_id = "F" + self._next_ts().replace(".", "")
            return ok | {"upload_url": f"{self.root_url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files")
            parsed = json.loads(files) if isinstance(files, str) else files or []
            return ok | {"files": [{"id": f.get("id"), "title": f.get("title")} for f in parsed]}
        if method == "apps.uninstall":
            return ok
        return {"ok": False, "error": "unknown_method"}

    def record_response_post(self, name: str, body: dict[str, Any]) -> None:
        """Store a post to the response_url `name`."""
        with self._lock:
            self.state.response_posts.append((name, body))

    def record_upload(self, file_id: str, content: bytes) -> None:
        """Store bytes uploaded to an upload URL."""
        with self._lock:
            self.state.uploads[file_id] = content


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (a bot process stopping) are not the fake's business


class _Handler(BaseHTTPRequestHandler):
    owner: FakeSlackAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _params(self, raw: bytes) -> dict[str, Any]:
        parsed = urllib.parse.urlsplit(self.path)
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(parsed.query))
        ctype = self.headers.get("Content-Type", "")
        if raw and "json" in ctype:
            params.update(json.loads(raw))
        elif raw and "x-www-form-urlencoded" in ctype:
            params.update(urllib.parse.parse_qsl(raw.decode()))
        return params

    def _token(self, params: dict[str, Any]) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :]
        token = params.get("token")
        return str(token) if token else None

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raw = self._read_body()
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/upload/"):
            self.owner.record_upload(path.rsplit("/", 1)[-1], raw)
            data = b"OK"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if path.startswith("/files-pri/"):
            self._file(path)
            return
        if path.startswith("/response/"):
            self.owner.record_response_post(path.rsplit("/", 1)[-1], json.loads(raw or b"{}"))
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if not path.startswith("/api/"):
            self._send_json(404, {"ok": False, "error": "not_found"}, {})
            return
        params = self._params(raw)
        status, body, headers = self.owner.handle(path[len("/api/") :], params, self._token(params))
        self._send_json(status, body, headers)

    def _file(self, path: str) -> None:
        status, stored = self.owner.file_request(path, self.headers.get("Authorization"))
        if stored is None:
            data = b"<html>not allowed</html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if stored.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", stored.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if stored.length is None:
            self.send_header("Content-Length", str(len(stored.content)))
            self.end_headers()
            self.wfile.write(stored.content)
            self.owner.count_served(stored.file_id, len(stored.content))
            return
        # A body longer than declared, sent chunked (no Content-Length to check up front).
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = bytes(range(256)) * 256  # 64 KiB
        left = stored.length
        try:
            while left > 0:
                piece = block[: min(left, len(block))]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.owner.count_served(stored.file_id, len(piece))
                left -= len(piece)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the client hung up: that is the point


__all__ = [
    "ADMIN",
    "APP_ID",
    "BOT_ID",
    "BOT_USER",
    "EXTERNAL_ADMIN",
    "EXTERNAL_MEMBER",
    "FAILING",
    "GUEST",
    "MEMBER",
    "OTHER_ADMIN",
    "OTHER_TEAM",
    "OWNER",
    "STRANGER",
    "TEAM",
    "ULTRA_GUEST",
    "Call",
    "Download",
    "FakeSlackAPI",
    "FakeSlackState",
    "Fault",
    "StoredFile",
    "Team",
    "default_users",
]
