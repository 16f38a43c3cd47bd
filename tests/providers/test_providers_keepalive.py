"""The provider pool (`keepalive.LeanPool`) against a real HTTP/1.1 server on loopback.

It reuses the newest idle connection, keeps at most its keep-alive limit idle, never
opens more than its connection limit (requests wait instead), and never sends a request
on a connection the server closed while it sat idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import httpcore

from bot.providers.keepalive import LeanPool
from bot.providers.pool import _Backend


@dataclass
class Server:
    """Answers every request with `ok`; counts connections, open ones at most, requests."""

    delay: float = 0.0
    close_after: bool = False  # close each connection after its answer, without saying so
    opened: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        self.writers.append(writer)
        try:
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests += 1
                await asyncio.sleep(self.delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
                if self.close_after:
                    return
        finally:
            self.open_now -= 1
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/chat"
    finally:
        for writer in server.writers:
            writer.close()
        listener.close()
        await listener.wait_closed()


def _pool(*, connections: int = 10, keepalive: int = 10, expiry: float = 5.0) -> LeanPool:
    return LeanPool(
        ssl_context=None,
        max_connections=connections,
        max_keepalive_connections=keepalive,
        keepalive_expiry=expiry,
        network_backend=_Backend(),
    )


async def _get(pool: LeanPool, url: str) -> bytes:
    response = await pool.request("POST", url, content=b'{"model": "m"}')
    return response.content


async def test_one_at_a_time_every_request_reuses_the_one_connection() -> None:
    server = Server()
    async with serving(server) as url:
        pool = _pool()
        for _ in range(5):
            assert await _get(pool, url) == b"ok"
        assert (server.opened, server.requests) == (1, 5)
        assert len(pool.connections) == 1
        await pool.aclose()


async def test_at_most_the_keepalive_limit_stays_idle() -> None:
    server = Server(delay=0.05)
    async with serving(server) as url:
        pool = _pool(keepalive=2)
        answers = await asyncio.gather(*(_get(pool, url) for _ in range(5)))
        assert answers == [b"ok"] * 5
        assert server.opened == 5
        assert len(pool.connections) == 2
        await pool.aclose()


async def test_requests_over_the_connection_limit_wait_for_a_free_one() -> None:
    server = Server(delay=0.05)
    async with serving(server) as url:
        pool = _pool(connections=2)
        answers = await asyncio.gather(*(_get(pool, url) for _ in range(6)))
        assert answers == [b"ok"] * 6
        assert server.most_open <= 2
        assert server.requests == 6
        await pool.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    server = Server(close_after=True)
    async with serving(server) as url:
        pool = _pool()
        for _ in range(3):
            assert await _get(pool, url) == b"ok"
            await asyncio.sleep(0.05)  # the server's close reaches us while idle
        assert (server.opened, server.requests) == (3, 3)
        await pool.aclose()


async def test_an_idle_connection_past_its_keepalive_is_replaced() -> None:
    server = Server()
    async with serving(server) as url:
        pool = _pool(expiry=0.05)
        assert await _get(pool, url) == b"ok"
        await asyncio.sleep(0.1)
        assert await _get(pool, url) == b"ok"
        assert server.opened == 2
        await pool.aclose()


async def test_a_cancelled_request_leaves_no_connection_behind() -> None:
    server = Server(delay=5.0)
    async with serving(server) as url:
        pool = _pool(connections=1)
        task = asyncio.create_task(_get(pool, url))
        await asyncio.sleep(0.1)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        assert pool.connections == []
        server.delay = 0.0
        assert await _get(pool, url) == b"ok"  # the one slot is free again
        await pool.aclose()


async def test_only_http_and_https() -> None:
    pool = _pool()
    try:
        await pool.request("GET", "ftp://127.0.0.1/x")
    except httpcore.UnsupportedProtocol:
        pass
    else:
        raise AssertionError("an ftp URL was accepted")
