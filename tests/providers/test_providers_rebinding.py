"""Guarantee 10: a key goes only to the address that was checked (no DNS-rebinding window).

The resolver is the test's: either the system's ``socket.getaddrinfo`` scripted per host
(what both the old check and the connection used), or the transport's own ``resolve``
seam. Listeners are real sockets on 127.0.0.1 that count every connection they accept.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.errors import ProviderError, UnsafeBaseURL
from bot.providers import Providers
from bot.providers.pool import _Backend
from bot.providers.types import ChatMessage, ChatRequest, KeySpec
from bot.providers.urls import ConnectGuard, is_public

REQUEST = ChatRequest(model="gpt-4o-mini", messages=(ChatMessage("user", "hi"),))
PUBLIC = "93.184.216.34"
SECRET = "sk-proj-RebindVictimKey0123456789abcdefXYZ"


@dataclass
class Listener:
    """A TCP listener on 127.0.0.1 that counts connections and keeps what they sent."""

    port: int = 0
    accepted: int = 0
    received: bytearray = field(default_factory=bytearray)


@pytest.fixture
async def loopback() -> AsyncIterator[Listener]:
    state = Listener()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.accepted += 1
        with contextlib.suppress(TimeoutError, ConnectionError):
            state.received += await asyncio.wait_for(reader.read(65536), 2.0)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class ScriptedDNS:
    """Per-host answers for the system resolver: each look-up takes the next; the last stays."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)


@pytest.fixture
def scripted_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedDNS]:
    """Script ``socket.getaddrinfo`` (the stdlib resolver, not our code) for some names."""
    dns = ScriptedDNS()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        queue = dns.answers.get(name)
        if not queue:
            return real(host, port, *args, **kwargs)
        dns.asked.append(name)
        addr = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (addr, port or 443))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield dns


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The network stops at loopback: a connection to any other address is refused at once
    (no packet leaves this machine) and recorded, so a test sees where it would have gone."""
    import anyio

    real = anyio.connect_tcp
    attempts: list[str] = []

    async def connect_tcp(remote_host: Any, remote_port: int, **kwargs: Any) -> Any:
        host = str(remote_host)
        if not ipaddress.ip_address(host).is_loopback:
            attempts.append(host)
            raise ConnectionRefusedError(f"test network: {host} is off this machine")
        return await real(remote_host, remote_port, **kwargs)

    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    yield attempts


async def _chat(p: Providers, key: KeySpec) -> ProviderError | None:
    try:
        async for _ in p.stream_chat(key, REQUEST):
            pass
    except ProviderError as exc:
        return exc
    return None


async def test_rebinding_after_the_check_never_reaches_the_private_address(
    scripted_dns: ScriptedDNS, loopback: Listener, offline: list[str]
) -> None:
    """First answer public, every later one 127.0.0.1: the key must not reach 127.0.0.1.

    Before the fix the call-time check resolved (public: passed, cached 60 s) and the
    connection resolved again (127.0.0.1) and sent the key there.
    """
    scripted_dns.answers["rebind.example.com"] = [PUBLIC, "127.0.0.1"]
    strict = Providers(timeout=3.0, max_attempts=1)
    key = KeySpec("openai-compatible", SECRET, f"https://rebind.example.com:{loopback.port}/v1")
    try:
        error = await _chat(strict, key)
    finally:
        await strict.aclose()
    await asyncio.sleep(0.1)
    assert loopback.accepted == 0, "a connection went to the rebound private address"
    assert SECRET.encode() not in loopback.received
    # The call could only go to the checked public address (off this test machine).
    assert error is not None
    assert offline == [PUBLIC]
    assert scripted_dns.asked == ["rebind.example.com"], "the host was resolved more than once"


async def test_key_verification_is_guarded_the_same_way(
    scripted_dns: ScriptedDNS, loopback: Listener
) -> None:
    """`key add` / `key test` verify with a list-models call: same connection, same check."""
    scripted_dns.answers["verify.example.com"] = [PUBLIC, "127.0.0.1"]
    strict = Providers(timeout=3.0, max_attempts=1)
    key = KeySpec("openai-compatible", SECRET, f"https://verify.example.com:{loopback.port}/v1")
    try:
        with pytest.raises(ProviderError):
            await strict.verify_key(key)
    finally:
        await strict.aclose()
    await asyncio.sleep(0.1)
    assert loopback.accepted == 0
    assert scripted_dns.asked == ["verify.example.com"]


async def test_a_passed_check_is_not_cached_past_a_rebinding(
    scripted_dns: ScriptedDNS, loopback: Listener
) -> None:
    """Public twice, then 127.0.0.1: each new connection is checked on its own answer.

    Before the fix a passed check was cached for 60 s, so the second call skipped the check
    and its connection went wherever the host pointed by then.
    """
    scripted_dns.answers["later.example.com"] = [PUBLIC, PUBLIC, "127.0.0.1"]
    strict = Providers(timeout=3.0, max_attempts=1)
    key = KeySpec("openai-compatible", SECRET, f"https://later.example.com:{loopback.port}/v1")
    errors: list[ProviderError | None] = []
    try:
        for _ in range(3):
            errors.append(await _chat(strict, key))
    finally:
        await strict.aclose()
    await asyncio.sleep(0.1)
    assert loopback.accepted == 0, "a connection went to the rebound private address"
    last = errors[-1]
    assert isinstance(last, UnsafeBaseURL), last
    assert last.provider == "openai-compatible" and "non-public" in str(last)


@pytest.mark.parametrize(
    "answer", ["64:ff9b::7f00:1", "64:ff9b:1::a00:1", "::127.0.0.1", "::ffff:127.0.0.1"]
)
async def test_a_host_resolving_to_an_embedded_private_address_is_refused_on_connect(
    scripted_dns: ScriptedDNS, loopback: Listener, answer: str
) -> None:
    scripted_dns.answers["embedded.example.com"] = [answer]
    strict = Providers(timeout=3.0, max_attempts=1)
    key = KeySpec("openai-compatible", SECRET, f"https://embedded.example.com:{loopback.port}/v1")
    try:
        error = await _chat(strict, key)
    finally:
        await strict.aclose()
    assert isinstance(error, UnsafeBaseURL)
    assert loopback.accepted == 0


# ----- the transport connects to the address it resolved, with the original name -----------


def _cert_for(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_goes_to_the_resolved_address_with_the_host_name_for_sni_and_host(
    tmp_path: Path,
) -> None:
    """One resolution per new connection; SNI, certificate and `Host` use the URL's name."""
    cert, key = _cert_for(tmp_path, "api.provider.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sni: list[str | None] = []

    def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sni.append(name)

    server_ctx.sni_callback = record_sni
    hosts: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            hosts.extend(
                line.split(b":", 1)[1].strip().decode()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"host:")
            )
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["127.0.0.1"]

    client_ctx = ssl.create_default_context(cafile=str(cert))
    guard = ConnectGuard(allow_private=True, resolve=resolve)
    url = f"https://api.provider.test:{port}/v1/models"
    try:
        async with httpcore.AsyncConnectionPool(
            ssl_context=client_ctx, network_backend=_Backend(guard)
        ) as pool:
            for _ in range(3):
                response = await pool.request("GET", url)
                assert response.status == 200 and response.content == b"ok"
    finally:
        server.close()
    assert sni == ["api.provider.test"]
    assert hosts == [f"api.provider.test:{port}"] * 3
    # The keep-alive connection is reused: no look-up per request, one per connection.
    assert asked == [("api.provider.test", port)]


async def test_a_strict_guard_refuses_before_connecting(loopback: Listener) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return [PUBLIC, "127.0.0.1"]  # one bad address among good ones spoils the answer

    backend = _Backend(ConnectGuard(allow_private=False, resolve=resolve))
    with pytest.raises(UnsafeBaseURL):
        await backend.connect_tcp("mixed.example.com", loopback.port)
    with pytest.raises(UnsafeBaseURL):
        await backend.connect_tcp("127.0.0.1", loopback.port)
    with pytest.raises(UnsafeBaseURL):
        await backend.connect_tcp("localhost", loopback.port)
    await asyncio.sleep(0.05)
    assert loopback.accepted == 0


async def test_the_next_checked_address_is_tried_when_one_refuses(loopback: Listener) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["::1", "127.0.0.1"]  # nothing listens on ::1 at that port

    backend = _Backend(ConnectGuard(allow_private=True, resolve=resolve))
    stream = await backend.connect_tcp("dual.provider.test", loopback.port, timeout=5)
    assert stream.get_extra_info("server_addr")[0] == "127.0.0.1"
    await stream.aclose()
    await asyncio.sleep(0.05)
    assert loopback.accepted == 1


async def test_an_unresolvable_host_is_a_transient_connect_error() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "no such host")

    backend = _Backend(ConnectGuard(allow_private=False, resolve=resolve))
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("gone.example.com", 443)


# ----- the address classifier ----------------------------------------------------------------

REFUSED = [
    # IPv4: loopback, private, link-local/metadata, CGNAT, unspecified, multicast, reserved,
    # broadcast, documentation, benchmarking, IETF protocol assignments, 6to4 relay.
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0",
    "0.1.2.3", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "192.0.0.170",
    "192.88.99.1",
    # IPv6: loopback, unspecified, IPv4-compatible, IPv4-mapped and SIIT forms of private
    # addresses, NAT64 (well-known and local-use, whatever they embed), 6to4 and Teredo
    # embedding private addresses, link-local, site-local, ULA, multicast, documentation,
    # discard, SRv6, IETF protocol assignments.
    "::1", "::", "::127.0.0.1", "::7f00:1", "::10.0.0.1", "::169.254.169.254",
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
    "::ffff:0:127.0.0.1", "::ffff:0:8.8.8.8",
    "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::8.8.8.8", "64:ff9b:1::a00:1",
    "64:ff9b:1:ffff::1",
    "2002:7f00:1::", "2002:a00:1::1", "2002:a9fe:a9fe::1", "2002:c0a8:101::",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::1",
    "fe80::1", "fe80::1%1", "fec0::1", "fd00::1", "fc00::1", "ff02::1", "ff0e::1",
    "2001:db8::1", "3fff::1", "100::1", "5f00::1", "2001:2::1", "2001:10::1",
]  # fmt: skip

PUBLIC_ADDRESSES = [
    "8.8.8.8", "1.1.1.1", PUBLIC, "20.1.2.3", "100.128.0.1", "172.32.0.1",
    "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "2002:808:808::1",
]  # fmt: skip


@pytest.mark.parametrize("text", REFUSED)
def test_non_public_addresses_in_every_form_are_refused(text: str) -> None:
    assert not is_public(ipaddress.ip_address(text))
    if "%" in text:
        return  # a zone id has no place in a URL
    host = f"[{text}]" if ":" in text else text
    with pytest.raises(UnsafeBaseURL, match="non-public"):
        Providers().check_base_url("openai-compatible", f"https://{host}/v1")


@pytest.mark.parametrize("text", PUBLIC_ADDRESSES)
def test_public_addresses_pass(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))
