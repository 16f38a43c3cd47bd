"""The provider client's transport: connections to checked addresses, a lean pool.

httpx's transport keeps its exception mapping, but its pool is a `keepalive.LeanPool`
(one connection checked per request, not every pooled one twice) and its connections
are `netstream.NativeStream`s (reading left on, no timer per read, a request in one
`send`, and a closed-by-the-server check that needs no system call).

The backend is also where a key's destination is checked (SPEC Guarantee 10): it resolves
the host once per new connection, vets every address (``ConnectGuard``) and connects to
one of exactly those addresses. httpcore still passes the original host name to the TLS
handshake (SNI, certificate check) and httpx puts it in ``Host``, so nothing else changes.
Reused keep-alive connections stay on the address they were checked for.
"""

from __future__ import annotations

import asyncio
import logging
import typing

import anyio
import httpcore
import httpx
from httpcore._backends.anyio import AnyIOBackend, AnyIOStream
from httpcore._exceptions import ConnectError, ConnectTimeout, map_exceptions

from bot.providers.keepalive import LeanPool
from bot.providers.netstream import NativeStream
from bot.providers.urls import ConnectGuard

logger = logging.getLogger(__name__)


_TRANSPORT = ("set_protocol", "write", "resume_reading", "set_write_buffer_limits", "close")


def _native(stream: anyio.abc.ByteStream) -> NativeStream:
    """anyio's freshly connected socket stream, taken over by a `NativeStream`."""
    transport = getattr(stream, "_transport", None)
    protocol = getattr(stream, "_protocol", None)
    # Duck-typed: uvloop's transports have asyncio's interface but not its base class.
    if not all(hasattr(transport, name) for name in _TRANSPORT) or protocol is None:
        raise RuntimeError(  # pragma: no cover
            "anyio internals changed; the provider stream cannot adopt it"
        )
    return NativeStream.adopt(
        typing.cast(asyncio.Transport, transport),
        buffered=list(getattr(protocol, "read_queue", ())),
        eof=bool(getattr(protocol, "is_at_eof", False)),
    )


_HAPPY_EYEBALLS_DELAY = 0.25
_CONNECT_ERRORS: dict[type[Exception], type[Exception]] = {
    TimeoutError: ConnectTimeout,
    OSError: ConnectError,
    anyio.BrokenResourceError: ConnectError,
}


class _Backend(AnyIOBackend):
    """httpcore's anyio backend, handing out `NativeStream`s; with a guard, to vetted addresses."""

    def __init__(self, guard: ConnectGuard | None = None) -> None:
        self._guard = guard

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve once, vet every address, connect to one of them; then wrap the stream."""
        if self._guard is None:
            stream = await super().connect_tcp(host, port, timeout, local_address, socket_options)
            assert isinstance(stream, AnyIOStream)
            return _native(stream._stream)
        with map_exceptions(_CONNECT_ERRORS), anyio.fail_after(timeout):
            # UnsafeBaseURL is no OSError: it passes through httpcore and httpx unchanged.
            addresses = await self._guard.addresses(host, port)
            raw = await _connect_first(addresses, port, local_address)
            for option in socket_options or ():
                raw.extra(anyio.abc.SocketAttribute.raw_socket).setsockopt(*option)
        return _native(raw)


async def _connect_first(
    addresses: list[str], port: int, local_address: str | None
) -> anyio.abc.SocketStream:
    """A connection to one of `addresses` (IP literals: no DNS), tried like anyio's happy
    eyeballs: the next attempt starts 250 ms after the last, the first to connect wins."""
    if len(addresses) == 1:
        return await anyio.connect_tcp(addresses[0], port, local_host=local_address)
    winner: anyio.abc.SocketStream | None = None
    failures: list[OSError] = []

    async def attempt(address: str, done: anyio.Event) -> None:
        nonlocal winner
        try:
            stream = await anyio.connect_tcp(address, port, local_host=local_address)
        except OSError as exc:
            failures.append(exc)
        else:
            if winner is None:
                winner = stream
                group.cancel_scope.cancel()
            else:
                await stream.aclose()
        finally:
            done.set()

    try:
        async with anyio.create_task_group() as group:
            for address in addresses:
                done = anyio.Event()
                group.start_soon(attempt, address, done)
                with anyio.move_on_after(_HAPPY_EYEBALLS_DELAY):
                    await done.wait()
    except BaseException:
        if winner is not None:  # cancelled from outside (the connect timeout) after a win
            await anyio.aclose_forcefully(winner)
        raise
    if winner is None:
        raise OSError(f"all {len(failures)} addresses refused the connection")
    return winner


def provider_transport(
    limits: httpx.Limits, *, guard: ConnectGuard | None = None
) -> httpx.AsyncHTTPTransport:
    """httpx's transport with `limits`, on a `LeanPool` connecting through `_Backend(guard)`."""
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_ssl_context"):
        transport._pool = LeanPool(
            ssl_context=pool._ssl_context,
            max_connections=limits.max_connections or 100,
            max_keepalive_connections=limits.max_keepalive_connections or 20,
            keepalive_expiry=5.0 if limits.keepalive_expiry is None else limits.keepalive_expiry,
            network_backend=_Backend(guard),
        )
    elif guard is not None and not guard.allow_private:  # pragma: no cover - httpcore changed
        # Without our backend the address check would not run on the connection: refuse.
        raise RuntimeError("httpcore internals changed; the provider address guard cannot run")
    else:  # pragma: no cover - depends on the installed httpcore
        logger.info("httpcore internals changed; provider pool keeps its default backend")
    return transport
