"""Keep every test process on this machine: outside addresses are refused, never tried.

Imported by each Python process the tests start (`tests.kits.helpers.clean_env` puts this
folder on PYTHONPATH) and installed in the test process by `tests/conftest.py`. A test
may still resolve and reach loopback; a name that is not local gets "no such host" and an
outside IP literal "connection refused", at once and without a packet leaving: tests use
fakes on loopback, and a code path that would call a real provider (a preset base URL)
fails fast here exactly as on a machine without a network.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local(host: Any) -> bool:
    name = host.decode() if isinstance(host, bytes) else str(host or "")
    # The machine's own name is answered from /etc/hosts, not by a DNS server.
    if (
        name.lower() in _LOCAL_NAMES
        or name == socket.gethostname()
        or name.lower().endswith(".localhost")
    ):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_literal(host: Any) -> bool:
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


def install() -> None:
    """Refuse name look-ups and connections that would leave this machine."""
    if getattr(socket, "_byokbot_netguard", False):
        return
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # An IP literal is answered without asking anyone; a name may need a DNS server.
        if host is not None and not _is_local(host) and not _is_literal(host):
            raise socket.gaierror(socket.EAI_NONAME, "test network: outside names do not resolve")
        return real_getaddrinfo(host, *args, **kwargs)

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise ConnectionRefusedError(111, "test network: outside addresses are refused")

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket._byokbot_netguard = True  # type: ignore[attr-defined]


install()
