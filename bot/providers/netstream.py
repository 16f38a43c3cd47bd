"""A provider connection's bytes: an asyncio protocol that reads as data arrives.

anyio's socket stream (httpcore's default) turns reading on and off around every read
(two `epoll_ctl` system calls), takes a cancel scope and a timer per read and per write
when a timeout is set, and sends a request's head and body in two `send` calls. This
stream keeps reading on (buffering at most `HIGH_WATER` bytes before it pauses), waits
on one future per empty read, leaves deadlines to the caller (`http.ReadDeadline`
cancels the task), and holds a short write until the next write or read so that a
request goes out in one `send`. Whether an idle connection was closed by the server is
known without a system call: the loop has already read its end of file.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import typing

import httpcore
from httpcore._exceptions import (
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
)

HIGH_WATER = 256 * 1024  # buffered and unread: stop reading from the socket
LOW_WATER = 64 * 1024
HOLD_UP_TO = 16 * 1024  # a request's head (and small body): sent with what follows


class _Protocol(asyncio.Protocol):
    """Buffers what arrives and wakes the one reader waiting for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.eof = False
        self.error: BaseException | None = None
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (also after `loop.start_tls` swaps it)."""
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Buffer `data`; stop reading while too much waits unread."""
        self.chunks.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        """The server closed its side: nothing more will come."""
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone, cleanly or not."""
        self.eof = True
        self.error = exc
        self._wake()
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        """The transport's buffer is full: writers wait for `resume_writing`."""
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        """The transport's buffer drained."""
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class NativeStream(httpcore.AsyncNetworkStream):
    """httpcore's network stream over an asyncio transport and `_Protocol`."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held: bytes | None = None
        self._socket: socket.socket | None = transport.get_extra_info("socket")

    @classmethod
    def adopt(
        cls, transport: asyncio.Transport, *, buffered: typing.Iterable[bytes], eof: bool
    ) -> NativeStream:
        """Take over a connected transport from its protocol (with what it buffered)."""
        protocol = _Protocol()
        protocol.connection_made(transport)
        for chunk in buffered:
            protocol.data_received(chunk)
        protocol.eof = eof
        transport.set_protocol(protocol)
        transport.set_write_buffer_limits()  # asyncio's defaults (anyio sets 0)
        transport.resume_reading()
        return cls(transport, protocol)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """The next bytes (at most `max_bytes`); b"" once the server closed."""
        protocol = self._protocol
        if self._held is not None:
            await self._flush(timeout)
        if not protocol.chunks and not protocol.eof:
            waiter = protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    async with asyncio.timeout(timeout):
                        await waiter
            except TimeoutError:
                raise ReadTimeout("read timed out") from None
        if not protocol.chunks:
            if protocol.error is not None:
                raise ReadError(type(protocol.error).__name__)
            return b""
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            protocol.chunks.appendleft(rest)
        protocol.size -= len(chunk)
        if protocol.paused and protocol.size < LOW_WATER:
            protocol.paused = False
            self._transport.resume_reading()
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send `buffer` (a short one goes out with the next write or read)."""
        if not buffer:
            return
        if self._held is not None:
            buffer = self._held + buffer
            self._held = None
        if len(buffer) <= HOLD_UP_TO:
            self._held = buffer
            return
        await self._send(buffer, timeout)

    async def _flush(self, timeout: float | None) -> None:
        held, self._held = self._held, None
        if held is not None:
            await self._send(held, timeout)

    async def _send(self, data: bytes, timeout: float | None) -> None:
        protocol = self._protocol
        if self._transport.is_closing():
            raise WriteError("the connection is closed")
        try:
            self._transport.write(data)
        except (RuntimeError, OSError) as exc:
            raise WriteError(type(exc).__name__) from None
        drained = protocol.drained
        if drained is None:
            return
        try:
            if timeout is None:
                await asyncio.shield(drained)
            else:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(drained)
        except TimeoutError:
            raise WriteTimeout("write timed out") from None

    async def aclose(self) -> None:
        """Close the connection (what was held unsent is dropped)."""
        self._held = None
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """TLS over this connection with asyncio's own TLS transport."""
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                self._transport,
                self._protocol,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except TimeoutError:
            self._transport.close()
            raise ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise ConnectError(str(exc)) from None
        if tls is None:  # pragma: no cover - only for a protocol that stops at once
            raise ConnectError("the TLS handshake ended the connection")
        self._protocol.connection_made(tls)
        return NativeStream(tls, self._protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        """What httpcore asks: ``is_readable`` (closed by the server), socket, TLS, addresses."""
        if info == "is_readable":
            protocol = self._protocol
            return protocol.eof or bool(protocol.chunks) or self._transport.is_closing()
        if info == "socket":
            return self._socket
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        return None
