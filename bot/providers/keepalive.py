"""The provider client's connection pool: idle connections per origin, newest first.

httpcore's own pool re-examines every connection it holds whenever a request joins or
leaves it (twice per call), checking each idle one's keep-alive and socket and counting
the idle ones once per idle one: with fifty keep-alive connections to a provider that
is thousands of checks per call. This pool takes the newest idle connection of the
request's origin, checks that one only, and puts it back when its response is closed.
The limits keep their meaning: at most `max_connections` open (a request waits for a
free one), at most `max_keepalive_connections` idle, none idle beyond `keepalive_expiry`.
"""

from __future__ import annotations

import asyncio
import collections
import time
import typing

import httpcore
from httpcore._async.connection import AsyncHTTPConnection
from httpcore._async.interfaces import AsyncConnectionInterface
from httpcore._exceptions import ConnectionNotAvailable, PoolTimeout, UnsupportedProtocol
from httpcore._synchronization import AsyncShieldCancellation

_Idle = collections.deque[tuple[AsyncConnectionInterface, float]]
_Key = tuple[bytes, bytes, int]  # an origin's scheme, host and port (`Origin` is unhashable)


def _key(origin: httpcore.Origin) -> _Key:
    return (origin.scheme, origin.host, origin.port)


class LeanPool(httpcore.AsyncConnectionPool):
    """An `httpcore.AsyncConnectionPool` that checks one connection per request."""

    def __init__(
        self,
        *,
        ssl_context: typing.Any,
        max_connections: int,
        max_keepalive_connections: int,
        keepalive_expiry: float,
        network_backend: httpcore.AsyncNetworkBackend,
    ) -> None:
        super().__init__(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=network_backend,
        )
        self._idle: dict[_Key, _Idle] = {}
        self._idle_count = 0
        self._busy: set[AsyncConnectionInterface] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def connections(self) -> list[AsyncConnectionInterface]:
        """Every open connection, busy ones first."""
        return [*self._busy, *(c for idle in self._idle.values() for c, _ in idle)]

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send `request` on a reused or new connection; the response returns it."""
        if request.url.scheme not in (b"http", b"https"):
            raise UnsupportedProtocol(f"unsupported URL scheme {request.url.scheme!r}")
        timeout = request.extensions.get("timeout", {}).get("pool")
        while True:
            connection = await self._checkout(request.url.origin, timeout)
            try:
                response = await connection.handle_async_request(request)
            except ConnectionNotAvailable:  # it changed state since the check: another one
                await self._checkin(connection)
                continue
            except BaseException:
                await self._checkin(connection)
                raise
            break
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_Returning(response.stream, self, connection),
            extensions=response.extensions,
        )

    async def _checkout(
        self, origin: httpcore.Origin, timeout: float | None
    ) -> AsyncConnectionInterface:
        while True:
            idle = self._idle.get(_key(origin))
            while idle:
                connection, _ = idle.pop()
                self._idle_count -= 1
                if connection.is_available() and not connection.has_expired():
                    self._busy.add(connection)
                    return connection
                await self._close(connection)
            if len(self._busy) + self._idle_count >= self._max_connections:
                if self._idle_count:  # make room: the oldest idle one of another origin
                    await self._close(self._pop_oldest())
                    continue
                await self._wait_for_room(timeout)
                continue
            connection = self.create_connection(origin)
            self._busy.add(connection)
            return connection

    def _pop_oldest(self) -> AsyncConnectionInterface:
        origin = min(
            (o for o, idle in self._idle.items() if idle), key=lambda o: self._idle[o][0][1]
        )
        connection, _ = self._idle[origin].popleft()
        self._idle_count -= 1
        return connection

    async def _wait_for_room(self, timeout: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            raise PoolTimeout("no connection became free in time") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # woken, then cancelled: pass it on
                self._wake()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def _checkin(self, connection: AsyncConnectionInterface) -> None:
        """A request is done with `connection`: keep it idle, or close it."""
        self._busy.discard(connection)
        if (
            isinstance(connection, AsyncHTTPConnection)
            and not connection.is_closed()
            and connection.is_idle()
            and self._idle_count < self._max_keepalive_connections
        ):
            key = _key(connection._origin)
            idle = self._idle.get(key)
            if idle is None:
                idle = self._idle[key] = collections.deque()
            now = time.monotonic()
            idle.append((connection, now))
            self._idle_count += 1
            self._wake()
            # Idle ones past their keep-alive go now rather than at their next use.
            expiry = self._keepalive_expiry
            while expiry is not None and idle and now - idle[0][1] > expiry:
                stale, _ = idle.popleft()
                self._idle_count -= 1
                await self._close(stale)
            return
        await self._close(connection)

    async def _close(self, connection: AsyncConnectionInterface) -> None:
        self._wake()
        if connection.is_closed():
            return
        with AsyncShieldCancellation():
            await connection.aclose()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        """Close every connection, idle or busy."""
        connections = self.connections
        self._idle.clear()
        self._idle_count = 0
        self._busy.clear()
        with AsyncShieldCancellation():
            for connection in connections:
                await connection.aclose()


class _Returning:
    """A response body that gives its connection back to the pool once closed."""

    def __init__(
        self,
        stream: typing.AsyncIterable[bytes],
        pool: LeanPool,
        connection: AsyncConnectionInterface,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._closed = False

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the body, then return the connection (idle) or close it."""
        if self._closed:
            return
        self._closed = True
        with AsyncShieldCancellation():
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
            await self._pool._checkin(self._connection)
