"""A TCP proxy in a background thread whose link can be cut and restored (a database outage)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from types import TracebackType


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`; `cut()` drops everything, `restore()` re-listens.

    `forget()` imitates a middlebox that lost its flows without telling anyone: the open
    connections stay open on the client's side, silent, until the client sends, which is
    answered with a reset. New connections are forwarded as usual.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._pairs: dict[asyncio.StreamWriter, asyncio.StreamWriter] = {}  # client -> server
        self._forgotten: set[asyncio.StreamWriter] = set()
        self.port = 0

    def _call(self, coro: Coroutine[object, object, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        client: asyncio.StreamWriter,
        upstream: bool,
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if upstream and client in self._forgotten:
                    client.transport.abort()
                    return
                writer.write(data)
                await writer.drain()
        if client not in self._forgotten:
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            return
        self._pairs[client_w] = server_w
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, client=client_w, upstream=True),
                self._pipe(server_r, client_w, client=client_w, upstream=False),
            )
        finally:
            self._pairs.pop(client_w, None)
            self._forgotten.discard(client_w)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client, server in list(self._pairs.items()):
            for writer in (client, server):
                writer.transport.abort()  # a reset, as when the database host goes away
        self._pairs.clear()
        self._forgotten.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _forget(self) -> None:
        for client, server in list(self._pairs.items()):
            self._forgotten.add(client)
            server.transport.abort()  # the far side is gone; the client is not told

    def start(self) -> TcpProxy:
        """Start the loop and listen on a free port."""
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """Stop listening and reset every open connection."""
        self._call(self._close())

    def restore(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def forget(self) -> None:
        """Lose every open connection silently (see the class docstring)."""
        self._call(self._forget())

    def close(self) -> None:
        """Cut and stop the thread."""
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
