"""The provider pool's cheaper liveness check answers exactly like httpcore's own."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import httpcore
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from httpcore._backends.anyio import AnyIOBackend

from bot.providers.http import new_http_client
from bot.providers.netstream import NativeStream
from bot.providers.pool import _Backend


async def test_a_connection_closed_by_the_server_reads_as_readable_like_httpcore_says() -> None:
    closers: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ours = await _Backend().connect_tcp("127.0.0.1", port)
        stock = await AnyIOBackend().connect_tcp("127.0.0.1", port)
        for _ in range(100):
            if len(closers) == 2:
                break
            await asyncio.sleep(0.01)
        assert ours.get_extra_info("is_readable") is False
        assert stock.get_extra_info("is_readable") is False
        assert ours.get_extra_info("socket") is not None
        for writer in closers:
            writer.close()
        await asyncio.sleep(0.05)
        assert ours.get_extra_info("is_readable") is True
        assert stock.get_extra_info("is_readable") is True
        await ours.aclose()
        await stock.aclose()
    finally:
        server.close()
        await server.wait_closed()


async def test_the_provider_client_uses_the_fast_backend() -> None:
    client = new_http_client()
    try:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool, httpcore.AsyncConnectionPool)
        assert isinstance(pool._network_backend, _Backend)
    finally:
        await client.aclose()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
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


async def test_tls_streams_keep_the_fast_check(tmp_path: Path) -> None:
    """Real providers speak TLS: the stream after the handshake is still ours."""
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    writers: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        plain = await _Backend().connect_tcp("127.0.0.1", port)
        tls = await plain.start_tls(client_ctx, server_hostname="localhost", timeout=5)
        assert isinstance(tls, NativeStream)
        assert tls.get_extra_info("ssl_object") is not None
        assert tls.get_extra_info("is_readable") is False
        for _ in range(100):  # the server's side of the handshake may finish after ours
            if writers:
                break
            await asyncio.sleep(0.01)
        for writer in writers:
            writer.close()
        await asyncio.sleep(0.05)
        assert tls.get_extra_info("is_readable") is True
        await tls.aclose()
    finally:
        server.close()
        await server.wait_closed()
