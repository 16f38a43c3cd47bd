"""The provider client's transport: httpx's own, with a cheaper liveness check per connection.

httpcore's pool re-checks every pooled connection whenever a request joins or leaves it;
for each idle one it asks the stream whether its socket is readable (closed by the
server). anyio answers that by rebuilding the stream's whole attribute table, a
`getpeername` system call included, every time — with dozens of keep-alive
connections to one provider that scan was the largest single cost of a busy bot. The
stream here looks its socket up once (a stream's socket never changes) and answers the
check exactly as httpcore does.
"""

from __future__ import annotations

import logging
import ssl
import typing

import anyio
import httpcore
import httpx
from httpcore._backends.anyio import AnyIOBackend, AnyIOStream
from httpcore._utils import is_socket_readable

logger = logging.getLogger(__name__)


class _Stream(AnyIOStream):
    """An anyio stream whose socket is looked up once, not on every liveness check."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        super().__init__(stream)
        self._raw_socket = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)

    def get_extra_info(self, info: str) -> typing.Any:
        """httpcore's stream attributes; ``is_readable`` without rebuilding anyio's table."""
        if info == "is_readable":
            return is_socket_readable(self._raw_socket)
        if info == "socket":
            return self._raw_socket
        return super().get_extra_info(info)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """TLS over this stream (every real provider): the result keeps the fast check."""
        tls = await super().start_tls(ssl_context, server_hostname, timeout)
        assert isinstance(tls, AnyIOStream)
        return _Stream(tls._stream)


class _Backend(AnyIOBackend):
    """httpcore's anyio backend, handing out `_Stream`s."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect as httpcore does, then wrap the stream."""
        stream = await super().connect_tcp(host, port, timeout, local_address, socket_options)
        assert isinstance(stream, AnyIOStream)
        return _Stream(stream._stream)


def provider_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport with `limits`, its pool using the cheaper liveness check."""
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    pool = getattr(transport, "_pool", None)
    # Private attributes: if a future httpcore renames them, the stock backend stays in
    # place (correct, only slower).
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = _Backend()
    else:  # pragma: no cover - depends on the installed httpcore
        logger.info("httpcore internals changed; provider pool keeps its default backend")
    return transport
