"""Base-URL safety: a key may only travel to a public https host (or a private one if allowed)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import anyio
import httpx

from bot.errors import UnsafeBaseURL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that are loopback/internal by definition, whatever DNS says (RFC 6761, cloud metadata).
_BLOCKED_NAMES = frozenset({"localhost", "localhost.localdomain", "metadata.google.internal"})
_BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
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


def _nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Spelled out rather than left to ``is_global``, whose tables differ between Python versions
# (3.11 calls NAT64, IPv4-compatible and site-local IPv6 addresses global).
_V4_BLOCKED = _nets(
    "0.0.0.0/8",  # "this network", the unspecified address
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local, cloud metadata
    "172.16.0.0/12",
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation
    "192.88.99.0/24",  # 6to4 relay anycast
    "192.168.0.0/16",
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation
    "203.0.113.0/24",  # documentation
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, broadcast
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_BLOCKED = _nets(
    "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID, ...
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation (RFC 9637)
)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def is_public(addr: IPAddress) -> bool:
    """True only for globally routable unicast addresses (IPv4-embedded forms judged inside).

    IPv6 must be global unicast (2000::/3): that alone refuses loopback, unspecified,
    IPv4-compatible (``::127.0.0.1``), NAT64 (``64:ff9b::/96``, ``64:ff9b:1::/48``),
    discard, ULA, link-local, site-local and multicast. A mapped (``::ffff:…``) or 6to4
    (2002::/16) address is judged by the IPv4 address it carries.
    """
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _MAPPED:
            return addr.ipv4_mapped is not None and is_public(addr.ipv4_mapped)
        if addr not in _V6_GLOBAL_UNICAST or addr.teredo is not None:
            return False
        if any(addr in net for net in _V6_BLOCKED):
            return False
        if addr.sixtofour is not None:
            return is_public(addr.sixtofour)
        return True
    return not any(addr in net for net in _V4_BLOCKED)


def check_resolved(provider: str, addresses: Iterable[str]) -> list[str]:
    """The addresses, each checked; UnsafeBaseURL unless every one of them is public."""
    found: list[str] = []
    for text in addresses:
        addr = literal_ip(text.split("%", 1)[0])
        if addr is None:
            raise UnsafeBaseURL("the base URL host resolves oddly", provider=provider)
        if not is_public(addr):
            raise UnsafeBaseURL(
                "the base URL host resolves to a non-public address" + _HINT, provider=provider
            )
        found.append(text)
    if not found:
        raise UnsafeBaseURL("the base URL host does not resolve", provider=provider)
    return found


def _addresses(infos: Iterable[tuple[object, ...]]) -> list[str]:
    seen: dict[str, None] = {}
    for *_, sockaddr in infos:
        if isinstance(sockaddr, tuple):
            seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def resolve_sync(provider: str, url: httpx.URL) -> None:
    """Resolve the host now (blocking) and require public addresses (the early, friendly check).

    The check that protects the key is the connection's own (``ConnectGuard``): this one only
    tells an admin at ``key add`` time that the URL will never be usable.
    """
    host = url.raw_host.decode("ascii")
    infos: list[tuple[object, ...]] | None = None
    with contextlib.suppress(OSError, UnicodeError):
        infos = list(socket.getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM))
    if infos is None:
        raise UnsafeBaseURL("the base URL host does not resolve", provider=provider)
    check_resolved(provider, _addresses(infos))


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, in its preference order."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _addresses(infos)


class ConnectGuard:
    """Resolve a host once per new connection and vet every address before it is used.

    The transport connects to exactly the addresses returned here (never resolving again),
    so the check and the connection cannot disagree: no DNS-rebinding window, and no
    cached verdict that outlives the answer it was made on.
    """

    def __init__(self, *, allow_private: bool, resolve: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self._resolve = resolve or system_resolve

    async def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to, in order.

        Raises UnsafeBaseURL (its provider left for the caller to fill in) if any address is
        not public, and OSError when the name does not resolve (a transient failure).
        """
        name = host.strip("[]")
        if not self.allow_private:
            _check_host_name("", name)
        literal = literal_ip(name)
        if literal is not None:
            found = [str(literal)]
        else:
            found = await self._resolve(name, port)
            if not found:
                raise OSError("the host does not resolve")
        if self.allow_private:
            return found
        return check_resolved("", found)
