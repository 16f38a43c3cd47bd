"""Registry and base-URL safety: a key only ever goes to a public https host unless allowed."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.errors import UnsafeBaseURL
from bot.providers import (
    PROVIDER_IDS,
    Providers,
    default_base_url,
    key_optional,
    requires_base_url,
)
from bot.providers.types import ChatMessage, ChatRequest, KeySpec
from tests.fakes.fixtures import *  # noqa: F403
from tests.fakes.providers import FakeOpenAI

REQUEST = ChatRequest(model="gpt-4o-mini", messages=(ChatMessage("user", "hi"),))


def test_registry_lists_every_spec_provider() -> None:
    assert PROVIDER_IDS == (
        "openai",
        "anthropic",
        "gemini",
        "azure-openai",
        "openrouter",
        "groq",
        "mistral",
        "deepseek",
        "xai",
        "together",
        "ollama",
        "openai-compatible",
    )


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com"),
        ("gemini", "https://generativelanguage.googleapis.com"),
        ("openrouter", "https://openrouter.ai/api/v1"),
        ("groq", "https://api.groq.com/openai/v1"),
        ("mistral", "https://api.mistral.ai/v1"),
        ("deepseek", "https://api.deepseek.com/v1"),
        ("xai", "https://api.x.ai/v1"),
        ("together", "https://api.together.xyz/v1"),
        ("ollama", "http://localhost:11434/v1"),
        ("azure-openai", None),
        ("openai-compatible", None),
    ],
)
def test_default_base_urls_are_what_the_official_sdks_take(provider: str, url: str | None) -> None:
    assert default_base_url(provider) == url
    assert requires_base_url(provider) is (url is None)
    assert key_optional(provider) is (provider == "ollama")


def test_unknown_provider_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        default_base_url("openai2")
    with pytest.raises(ValueError):
        Providers().check_base_url("nope", None)


def test_presets_need_no_dns() -> None:
    strict = Providers()
    assert strict.check_base_url("openai", None) == "https://api.openai.com/v1"
    assert strict.check_base_url("anthropic", "") == "https://api.anthropic.com"
    assert strict.check_base_url("openai", "https://api.openai.com/v1/") == (
        "https://api.openai.com/v1"
    )


@pytest.mark.parametrize("provider", ["azure-openai", "openai-compatible"])
def test_providers_without_preset_need_a_base_url(provider: str) -> None:
    with pytest.raises(UnsafeBaseURL, match="needs a --base-url"):
        Providers(allow_private_base_urls=True).check_base_url(provider, None)


def test_ollama_default_needs_the_operator_switch() -> None:
    with pytest.raises(UnsafeBaseURL, match="BYOKBOT_ALLOW_PRIVATE_BASE_URLS"):
        Providers().check_base_url("ollama", None)
    allowed = Providers(allow_private_base_urls=True)
    assert allowed.check_base_url("ollama", None) == "http://localhost:11434/v1"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/v1",
        "ftp://api.example.com/v1",
        "https://127.0.0.1/v1",
        "https://127.1/v1",
        "https://2130706433/v1",
        "https://0x7f000001/v1",
        "https://0177.0.0.1/v1",
        "https://0.0.0.0/",
        "https://10.1.2.3/v1",
        "https://172.16.0.1/v1",
        "https://192.168.1.10:8443/v1",
        "https://100.64.0.1/v1",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/v1",
        "https://[::ffff:127.0.0.1]/v1",
        "https://[::ffff:169.254.169.254]/v1",
        "https://[fe80::1]/v1",
        "https://[fd00::1]/v1",
        "https://[2002:7f00:1::]/v1",
        "https://224.0.0.1/v1",
        "https://localhost/v1",
        "https://LOCALHOST./v1",
        "https://localhost.:443/v1",
        "https://api.localhost/v1",
        "https://metadata.google.internal/computeMetadata/v1",
        "https://printer.local/v1",
        "not a url",
        "https://",
    ],
)
def test_non_public_or_plain_http_base_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeBaseURL):
        Providers().check_base_url("openai-compatible", url)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@api.example.com/v1",
        "https://sk-secretsecret@api.example.com/v1",
        "http://user:hunter2@127.0.0.1:8080/v1",
    ],
)
def test_credentials_in_the_url_are_refused_even_when_private_is_allowed(url: str) -> None:
    for strict in (Providers(), Providers(allow_private_base_urls=True)):
        with pytest.raises(UnsafeBaseURL) as info:
            strict.check_base_url("openai-compatible", url)
        assert "hunter2" not in str(info.value)
        assert "secretsecret" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["https://api.example.com/v1?key=abc", "https://api.example.com/v1#frag"]
)
def test_query_or_fragment_is_refused(url: str) -> None:
    with pytest.raises(UnsafeBaseURL) as info:
        Providers(allow_private_base_urls=True).check_base_url("openai-compatible", url)
    assert "abc" not in str(info.value)


def test_private_allowed_accepts_http_and_loopback() -> None:
    p = Providers(allow_private_base_urls=True)
    assert p.check_base_url("openai-compatible", "http://127.0.0.1:8080/v1/") == (
        "http://127.0.0.1:8080/v1"
    )
    assert p.check_base_url("ollama", "http://localhost:11434/v1") == "http://localhost:11434/v1"


def test_public_ip_literal_passes() -> None:
    assert Providers().check_base_url("openai-compatible", "https://8.8.8.8/v1/") == (
        "https://8.8.8.8/v1"
    )


Resolver = Callable[..., Any]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Map host names to addresses in the system resolver (stdlib, not our code)."""
    table: dict[str, str] = {}
    real: Resolver = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in table:
            addr = table[name]
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (addr, port or 443))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield table


@pytest.mark.parametrize("addr", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::1", "fd12::9"])
def test_hostname_resolving_to_a_private_address_is_refused(
    fake_dns: dict[str, str], addr: str
) -> None:
    fake_dns["sneaky.example.com"] = addr
    with pytest.raises(UnsafeBaseURL, match="non-public"):
        Providers().check_base_url("openai-compatible", "https://sneaky.example.com/v1")


def test_hostname_resolving_to_a_public_address_passes(fake_dns: dict[str, str]) -> None:
    fake_dns["proxy.example.com"] = "93.184.216.34"
    got = Providers().check_base_url("openai-compatible", "https://Proxy.Example.com/v1/")
    assert got == "https://proxy.example.com/v1"


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(UnsafeBaseURL, match="does not resolve"):
        Providers().check_base_url("openai-compatible", "https://no-such-host.invalid/v1")


def test_real_resolver_machine_hostname() -> None:
    """The machine's own name usually resolves to loopback/private: it must be refused."""
    name = socket.gethostname()
    try:
        addrs = {info[4][0] for info in socket.getaddrinfo(name, 443)}
    except OSError:
        pytest.skip("hostname does not resolve here")
    import ipaddress

    if all(ipaddress.ip_address(str(a).split("%")[0]).is_global for a in addrs):
        pytest.skip("hostname resolves to a public address here")
    with pytest.raises(UnsafeBaseURL):
        Providers().check_base_url("openai-compatible", f"https://{name}/v1")


def test_azure_resource_endpoint_gets_the_v1_path(fake_dns: dict[str, str]) -> None:
    fake_dns["myres.openai.azure.com"] = "20.1.2.3"
    p = Providers()
    assert p.check_base_url("azure-openai", "https://myres.openai.azure.com/") == (
        "https://myres.openai.azure.com/openai/v1"
    )
    assert p.check_base_url("azure-openai", "https://myres.openai.azure.com/openai/v1/") == (
        "https://myres.openai.azure.com/openai/v1"
    )


async def test_stream_refuses_private_base_url_without_sending(openai_fake: FakeOpenAI) -> None:
    strict = Providers(timeout=2.0)
    try:
        key = KeySpec("openai-compatible", "test-key", openai_fake.base_url)
        with pytest.raises(UnsafeBaseURL):
            async for _ in strict.stream_chat(key, REQUEST):
                pass
        with pytest.raises(UnsafeBaseURL):
            await strict.verify_key(key)
    finally:
        await strict.aclose()
    assert openai_fake.requests == []


async def test_dns_is_rechecked_at_call_time(fake_dns: dict[str, str]) -> None:
    """A host that was public at ``key add`` and now points inside is refused (DNS rebinding)."""
    fake_dns["rebind.example.com"] = "93.184.216.34"
    strict = Providers(timeout=2.0)
    try:
        url = strict.check_base_url("openai-compatible", "https://rebind.example.com/v1")
        fake_dns["rebind.example.com"] = "127.0.0.1"
        key = KeySpec("openai-compatible", "test-key", url)
        with pytest.raises(UnsafeBaseURL):
            async for _ in strict.stream_chat(key, REQUEST):
                pass
    finally:
        await strict.aclose()
