"""Base-URL safety: a key may only travel to a public https host (or a private one if allowed)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import Iterable

import httpx

from bot.errors import ProviderUnavailable, UnsafeBaseURL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that are loopback/internal by definition, whatever DNS says (RFC 6761, cloud metadata).
_BLOCKED_NAMES = frozenset({"localhost", "localhost.localdomain", "metadata.google.internal"})
_BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_DNS_TTL = 60.0
_HINT = " (an operator may allow it with BYOKBOT_ALLOW_PRIVATE_BASE_URLS=true)"


def parse_base_url(provider: str, raw: str, *, allow_private: bool) -> httpx.URL:
    """Parse and statically check a base URL; return it without a trailing slash."""
    text = raw.strip()
    url: httpx.URL | None = None
    with contextlib.suppress(httpx.InvalidURL, TypeError, ValueError):
        url = httpx.URL(text)
    # Raised outside the except: httpx's own error would quote the URL (maybe with a password).
    if url is None:
        raise UnsafeBaseURL("the base URL is not a valid URL", provider=provider)
    schemes = ("https", "http") if allow_private else ("https",)
    if url.scheme not in schemes:
        if allow_private:
            raise UnsafeBaseURL("the base URL must start with http(s)://", provider=provider)
        raise UnsafeBaseURL("the base URL must start with https://" + _HINT, provider=provider)
    if url.userinfo:
        raise UnsafeBaseURL("the base URL must not contain credentials", provider=provider)
    if url.query or url.fragment or "?" in text or "#" in text:
        raise UnsafeBaseURL("the base URL must not have a query or fragment", provider=provider)
    host = url.raw_host.decode("ascii").lower()
    if not host:
        raise UnsafeBaseURL("the base URL has no host", provider=provider)
    if not allow_private:
        _check_host_name(provider, host)
    path = url.raw_path.decode("ascii").rstrip("/")
    return url.copy_with(raw_path=path.encode("ascii"))


def _check_host_name(provider: str, host: str) -> None:
    """Reject hosts that are private by their very name or literal address."""
    name = host.strip("[]").rstrip(".")
    if name in _BLOCKED_NAMES or name.endswith(_BLOCKED_SUFFIXES) or not name:
        raise UnsafeBaseURL("the base URL points at a local host" + _HINT, provider=provider)
    literal = literal_ip(name)
    if literal is not None and not is_public(literal):
        raise UnsafeBaseURL(
            "the base URL points at a non-public address" + _HINT, provider=provider
        )


def literal_ip(host: str) -> IPAddress | None:
    """Return the address if ``host`` is an IP literal, including legacy forms like ``127.1``."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # inet_aton accepts the shorthand/octal/hex/integer forms the OS resolver also accepts.
    if all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public(addr: IPAddress) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is not None and not is_public(embedded):
            return False
        if addr.teredo is not None:
            return False
    return addr.is_global and not addr.is_multicast


def check_resolved(provider: str, addresses: Iterable[str]) -> None:
    """Raise UnsafeBaseURL unless every resolved address is public."""
    found = False
    for text in addresses:
        found = True
        addr = literal_ip(text.split("%", 1)[0])
        if addr is None:
            raise UnsafeBaseURL("the base URL host resolves oddly", provider=provider)
        if not is_public(addr):
            raise UnsafeBaseURL(
                "the base URL host resolves to a non-public address" + _HINT, provider=provider
            )
    if not found:
        raise UnsafeBaseURL("the base URL host does not resolve", provider=provider)


def _addresses(infos: Iterable[tuple[object, ...]]) -> list[str]:
    return [str(sockaddr[0]) for *_, sockaddr in infos if isinstance(sockaddr, tuple)]


def resolve_sync(provider: str, url: httpx.URL) -> None:
    """Resolve the host now (blocking) and require public addresses."""
    host = url.raw_host.decode("ascii")
    infos: list[tuple[object, ...]] | None = None
    with contextlib.suppress(OSError, UnicodeError):
        infos = list(socket.getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM))
    if infos is None:
        raise UnsafeBaseURL("the base URL host does not resolve", provider=provider)
    check_resolved(provider, _addresses(infos))


class ResolveCache:
    """Asynchronous DNS check with a short TTL, re-run before calls (DNS can change after add)."""

    def __init__(self, ttl: float = _DNS_TTL) -> None:
        self._ttl = ttl
        self._ok_until: dict[str, float] = {}

    async def check(self, provider: str, url: httpx.URL) -> None:
        """Raise UnsafeBaseURL if the host now resolves to a non-public address."""
        host = url.raw_host.decode("ascii")
        now = time.monotonic()
        if self._ok_until.get(host, 0.0) > now:
            return
        loop = asyncio.get_running_loop()
        infos: list[tuple[object, ...]] | None = None
        with contextlib.suppress(OSError, UnicodeError):
            infos = list(await loop.getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM))
        if infos is None:
            # A resolver hiccup at call time is transient, not a verdict on the URL.
            raise ProviderUnavailable(
                f"{provider}: the provider host does not resolve", provider=provider
            )
        check_resolved(provider, _addresses(infos))
        self._ok_until[host] = now + self._ttl
