"""The machinery every fake provider shares: a real aiohttp server in a background thread.

A fake listens on ``127.0.0.1`` (port 0), records every request it receives and can be
scripted to misbehave for its next N requests (see ``Fault``). It has no latency of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import json
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import web

from bot.providers.types import Usage
from tests.fakes.loop_server import LoopServer

Endpoint = Literal["chat", "models"]
FaultKind = Literal[
    "status", "html", "redirect", "hang", "cut", "no_usage", "error_event", "malformed"
]
DEFAULT_REPLY = "Hello from the fake provider."
DEFAULT_USAGE = Usage(input_tokens=12, output_tokens=7)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake saw it (header names lower-cased)."""

    method: str
    path: str
    query: Mapping[str, str]
    raw_url: str
    headers: Mapping[str, str]
    json: Any
    body: bytes = field(repr=False)


@dataclass(slots=True)
class StreamLog:
    """What one streamed answer got to the client: text chunks sent, and how it ended."""

    text_chunks: int = 0
    completed: bool = False  # every event and the end of the body went out
    disconnected: bool = False  # the client closed the connection mid-stream


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted misbehaviour; build one with the class methods below."""

    kind: FaultKind
    status: int = 200
    body: bytes | str | Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    code: str | None = None
    after: int | None = None
    endpoint: Endpoint | None = None

    @classmethod
    def http_status(
        cls,
        status: int,
        *,
        code: str | None = None,
        body: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        endpoint: Endpoint | None = None,
    ) -> Self:
        """Answer ``status`` with the provider's native error body (``code`` = its error code)."""
        return cls("status", status, body, dict(headers or {}), code, None, endpoint)

    @classmethod
    def html(cls, status: int = 502, *, endpoint: Endpoint | None = None) -> Self:
        """Answer like a broken load balancer: an HTML page."""
        page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
        return cls("html", status, page, {}, None, None, endpoint)

    @classmethod
    def redirect(
        cls, location: str, *, status: int = 307, endpoint: Endpoint | None = None
    ) -> Self:
        """Answer a redirect to ``location`` (a client must not follow it with the key)."""
        return cls("redirect", status, None, {"location": location}, None, None, endpoint)

    @classmethod
    def hang(cls, *, after: int | None = None, endpoint: Endpoint | None = None) -> Self:
        """Accept and never answer (or stall after ``after`` text chunks of a stream)."""
        return cls("hang", 200, None, {}, None, after, endpoint)

    @classmethod
    def cut(cls, *, after: int = 1) -> Self:
        """Stream ``after`` text chunks, then drop the connection mid-stream."""
        return cls("cut", 200, None, {}, None, after, "chat")

    @classmethod
    def no_usage(cls) -> Self:
        """Stream normally but never report usage."""
        return cls("no_usage", 200, None, {}, None, None, "chat")

    @classmethod
    def error_event(cls, *, code: str = "overloaded_error", after: int = 0) -> Self:
        """Answer 200, stream ``after`` text chunks, then an in-stream error event."""
        return cls("error_event", 200, None, {}, code, after, "chat")

    @classmethod
    def malformed(cls, *, after: int = 0) -> Self:
        """Answer 200 and, after ``after`` text chunks, a chunk that is not valid JSON."""
        return cls("malformed", 200, None, {}, None, after, "chat")


Handler = Callable[[web.Request, RecordedRequest, "Fault | None"], Awaitable[web.StreamResponse]]


class FakeServer(LoopServer):
    """Base class: threading, recording, faults. Subclasses add routes and wire formats."""

    label = "fake provider"

    #: the path the official SDK's base URL ends with (e.g. "/v1" for OpenAI)
    base_path = ""

    def __init__(
        self,
        *,
        valid_keys: Sequence[str] = ("test-key",),
        reply: str = DEFAULT_REPLY,
        usage: Usage | None = DEFAULT_USAGE,
        models: Sequence[str] | None = None,
        delay: float = 0.0,
    ) -> None:
        #: keys the fake accepts; add None to accept requests that carry no key (ollama "-")
        self.valid_keys: set[str | None] = set(valid_keys)
        self.reply = reply
        self.usage = usage
        self.models = list(models) if models is not None else None
        self.delay = delay
        self.requests: list[RecordedRequest] = []
        #: one entry per streamed answer (hostile tests: did the client stop reading?)
        self.streams: list[StreamLog] = []
        #: when set, the usage's output-token figure is reported as this value verbatim
        #: (hostile: 10**15, -5, 1.5, "12")
        self.output_figure: object = None
        #: hostile: echo the request's own key back as error code, in error messages, in
        #: in-stream error codes and as the x-request-id / request-id headers
        self.echo_key = False
        self._defaults = (tuple(valid_keys), reply, usage, self.models, delay)
        self._faults: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self.port = 0

    # ----- lifecycle -------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` with no path."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL the official SDK (and our ``KeySpec``) takes for this fake."""
        return self.origin + self.base_path

    async def _startup(self) -> None:
        self._release = asyncio.Event()
        # Real providers take requests of 20-50 MB (a base64 image or PDF of 20 MB).
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        await self._bind(app)

    async def _shutdown(self) -> None:
        assert self._release is not None and self._runner is not None
        self._release.set()
        await self._runner.cleanup()

    # ----- state -----------------------------------------------------------------------------
    def script(self, fault: Fault, *, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` matching requests (queued in order)."""
        with self._lock:
            self._faults.extend([fault] * times)

    def reset(self) -> None:
        """Forget requests and faults; restore the constructor's reply, usage, keys, models."""
        keys, reply, usage, models, delay = self._defaults
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.streams.clear()
        self.output_figure = None
        self.echo_key = False
        self.valid_keys, self.reply, self.usage = set(keys), reply, usage
        self.models, self.delay = (list(models) if models is not None else None), delay

    def flood(self, *, tokens: int = 1000, delay: float = 0.002) -> None:
        """Ignore ``max_tokens``: stream ``tokens`` one-token chunks, then report them all."""
        self.reply = CHUNK_BREAK.join(f" t{i % 10}" for i in range(tokens))
        self.usage = Usage(input_tokens=10, output_tokens=tokens)
        self.delay = delay

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Recorded requests that asked for a completion."""
        return [r for r in self.requests if self.endpoint_of(r) == "chat"]

    def _take_fault(self, endpoint: Endpoint | None) -> Fault | None:
        with self._lock:
            if self._faults and self._faults[0].endpoint in (None, endpoint):
                return self._faults.popleft()
        return None

    # ----- per-request -----------------------------------------------------------------------
    def endpoint_of(self, req: RecordedRequest) -> Endpoint | None:
        """Which kind of endpoint a request hit; subclasses decide."""
        raise NotImplementedError

    def route(self, req: RecordedRequest) -> Handler | None:
        """The handler for a request, or None for 404."""
        raise NotImplementedError

    def key_of(self, req: RecordedRequest) -> str | None:
        """The key the request carried in this provider's header."""
        raise NotImplementedError

    def error_body(self, status: int, code: str | None) -> Mapping[str, Any]:
        """The provider's native JSON error body for ``status``."""
        raise NotImplementedError

    def error_event(self, code: str) -> bytes:
        """The provider's native in-stream error event."""
        raise NotImplementedError

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            raw_url=str(request.rel_url),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
            body=body,
        )
        with self._lock:
            self.requests.append(rec)
        _ECHO.set(self.key_of(rec) if self.echo_key else None)
        fault = self._take_fault(self.endpoint_of(rec))
        plain = ("status", "html", "redirect")
        if fault is not None and (
            fault.kind in plain or (fault.kind == "hang" and fault.after is None)
        ):
            return await self._plain_fault(fault)
        handler = self.route(rec)
        if handler is None:
            return self.json_error(404, "not_found")
        if self.key_of(rec) not in self.valid_keys:
            return self.json_error(401, None)
        return await handler(request, rec, fault)

    async def _plain_fault(self, fault: Fault) -> web.StreamResponse:
        if fault.kind == "hang":
            assert self._release is not None
            await self._release.wait()
            return web.Response(status=503)
        if fault.kind == "redirect":
            return web.Response(status=fault.status, headers=dict(fault.headers))
        if fault.kind == "html":
            return web.Response(status=fault.status, text=str(fault.body), content_type="text/html")
        if fault.body is None:
            return self.json_error(fault.status, fault.code, headers=fault.headers)
        raw = fault.body if isinstance(fault.body, bytes | str) else json.dumps(fault.body)
        return web.Response(status=fault.status, body=raw, headers=dict(fault.headers))

    def json_error(
        self, status: int, code: str | None, *, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        """A native JSON error response (echoing the request's key when ``echo_key``)."""
        echo = _ECHO.get()
        if echo is None:
            return web.json_response(
                self.error_body(status, code), status=status, headers=dict(headers or {})
            )
        body = json.loads(json.dumps(self.error_body(status, echo)))
        if isinstance(body.get("error"), dict):
            body["error"]["message"] = f"Incorrect API key provided: {echo}."
            if "code" in body["error"] and not isinstance(body["error"]["code"], int):
                body["error"]["code"] = echo
        echoed = {**dict(headers or {}), "x-request-id": echo, "request-id": echo}
        return web.json_response(body, status=status, headers=echoed)

    async def stream(
        self,
        request: web.Request,
        events: Sequence[tuple[bytes, bool]],
        fault: Fault | None,
    ) -> web.StreamResponse:
        """Send SSE ``events`` (bytes, is_text), applying a scripted mid-stream fault."""
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        response.headers["x-request-id"] = _ECHO.get() or "req_fake_0001"
        response.headers["request-id"] = _ECHO.get() or "req_fake_0001"
        await response.prepare(request)
        log = StreamLog()
        with self._lock:
            self.streams.append(log)
        sent_text = 0
        try:
            for data, is_text in events:
                if fault is not None and fault.after is not None and is_text:
                    if sent_text >= fault.after:
                        return await self._stream_fault(request, response, fault)
                    sent_text += 1
                if request.transport is None or request.transport.is_closing():
                    raise ConnectionResetError  # the client hung up
                await response.write(data)
                log.text_chunks += is_text
                if self.delay:
                    await asyncio.sleep(self.delay)
            if fault is not None and fault.after is not None:
                return await self._stream_fault(request, response, fault)
            await response.write_eof()
            log.completed = True
        except ConnectionResetError:
            log.disconnected = True
        except asyncio.CancelledError:
            log.disconnected = True
            raise
        return response

    async def _stream_fault(
        self, request: web.Request, response: web.StreamResponse, fault: Fault
    ) -> web.StreamResponse:
        if fault.kind == "cut":
            # Drop the TCP connection without the chunked-encoding terminator.
            if request.transport is not None:
                request.transport.abort()
            return response
        if fault.kind == "hang":
            assert self._release is not None
            await self._release.wait()
            return response
        if fault.kind == "error_event":
            await response.write(self.error_event(_ECHO.get() or fault.code or "overloaded_error"))
        elif fault.kind == "malformed":
            await response.write(b'data: {"choices": [{"delta": {"content": "oops"\n\n')
        await response.write_eof()
        return response


#: the key to echo back in the request being answered (``FakeServer.echo_key``)
_ECHO: contextvars.ContextVar[str | None] = contextvars.ContextVar("fake_echo", default=None)

#: a reply holding this is streamed in exactly the pieces it separates (never shown itself)
CHUNK_BREAK = "\x1e"


def split_reply(text: str) -> list[str]:
    """Split a reply into word-sized deltas, like a model streams tokens (or at CHUNK_BREAK)."""
    if CHUNK_BREAK in text:
        return [p for p in text.split(CHUNK_BREAK) if p]
    parts: list[str] = []
    for word in text.split(" "):
        parts.append(word if not parts else " " + word)
    return [p for p in parts if p]


def sse(data: Any, *, event: str | None = None) -> bytes:
    """One SSE event with JSON data."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()
