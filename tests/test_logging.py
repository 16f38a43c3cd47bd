"""Secret shapes and the logging set-up: every logger's output is redacted on the handler."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.secrets_shape import MASK, looks_like_provider_key, redact
from tests.kits.helpers import clean_env

KEYS = {
    "openai": "sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz01234567",
    "openai_legacy": "sk-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz0123456789ab",
    "anthropic": "sk-ant-api03-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz-0123456789_abcdefAA",
    "gemini": "AIzaSyAbCdEf0123456789GhIjKlMnOpQrStUvW",
    "groq": "gsk_AbCdEf0123456789GhIjKlMnOpQrStUvWxYz0123",
    "xai": "xai-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz0123456789",
    "openrouter": "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef",
}
TOKENS = {
    "slack_bot": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack_user": "xoxp-1234567890-0987654321-1122334455-abcdef0123456789",
    "slack_app": "xapp-1-A0123456789-1234567890123-abcdef0123456789abcdef",
    "discord": "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.AbCdEf0123456789GhIjKlMnOpQrStUvWxYz",
}
OPAQUE = "opaque-secret-without-any-shape-9f8e7d"  # e.g. a Mistral key: only headers reveal it


@pytest.mark.parametrize("key", KEYS.values(), ids=list(KEYS))
def test_provider_keys_are_recognised_and_masked(key: str) -> None:
    text = f"please use {key} for the agent"
    assert looks_like_provider_key(text)
    assert key not in redact(text)
    assert MASK in redact(text)


@pytest.mark.parametrize("token", TOKENS.values(), ids=list(TOKENS))
def test_platform_tokens_are_masked(token: str) -> None:
    assert token not in redact(f"token={token};")
    assert token[8:] not in redact(f"token={token};")


@pytest.mark.parametrize(
    "text",
    [
        "I use sk-learn and scikit-learn",
        "ask-me-anything is a format",
        "the task-force met",
        "AIza is a prefix",
        "gsk_short",
        "a normal question about keys and tokens",
        "risk-0123456789abcdefghijklmnop",  # `sk-` inside a word is not a key
    ],
)
def test_ordinary_text_is_not_a_provider_key(text: str) -> None:
    assert not looks_like_provider_key(text)
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {OPAQUE}",
        f"authorization: {OPAQUE}",
        f"{{'Authorization': 'Bearer {OPAQUE}', 'x': 1}}",
        f'{{"x-api-key": "{OPAQUE}"}}',
        f"headers={{'api-key': '{OPAQUE}'}}",
        f"x-goog-api-key={OPAQUE}",
        f"[(b'x-api-key', b'{OPAQUE}')]",
        f"GET https://generativelanguage.googleapis.com/v1beta/models?key={OPAQUE}&alt=sse",
        f"sent Bot {OPAQUE}",
        f"Proxy-Authorization: Basic {OPAQUE}",
    ],
)
def test_header_and_query_values_are_masked(text: str) -> None:
    assert OPAQUE not in redact(text)


@given(
    body=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_size=20,
        max_size=80,
    ),
    prefix=st.sampled_from(["sk-", "sk-proj-", "sk-ant-api03-", "gsk_", "xai-"]),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_any_key_shaped_secret_is_masked_wherever_it_sits(
    body: str, prefix: str, before: str, after: str
) -> None:
    assume(body not in before + after)
    key = prefix + body
    text = f"{before} {key} {after}"
    assert looks_like_provider_key(text)
    assert key not in redact(text)
    assert body not in redact(text)


@given(st.text(max_size=200))
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


SCRIPT = textwrap.dedent(
    """
    import logging, sys, warnings
    from bot.logging_setup import configure_logging

    keys, fmt = sys.argv[1].split("|"), sys.argv[2]
    # A library that attached its own handler before start-up must not bypass redaction.
    logging.getLogger("discord").addHandler(logging.StreamHandler(sys.stderr))
    configure_logging(level="DEBUG", fmt=fmt)
    names = ["httpx", "httpcore", "slack_bolt.App", "slack_sdk.web", "discord.gateway",
             "discord.http", "urllib3", "aiohttp.access", "some.library", "bot.core"]
    for index, name in enumerate(names):
        key = keys[index % len(keys)]
        log = logging.getLogger(name)
        log.debug("request %s headers=%r", name, {"Authorization": "Bearer " + key})
        log.info("key is %s", key)
        log.warning("f-string too: " + key)
    try:
        raise RuntimeError("provider said: invalid key " + keys[0])
    except RuntimeError:
        logging.getLogger("httpx").exception("call failed for %s", keys[1])
    logging.getLogger("slack_sdk").info("stack", stack_info=True, extra={"k": keys[2]})
    warnings.warn("deprecated usage with " + keys[3])
    logging.getLogger("bad.format").info("%s %s", "only one arg")
    logging.getLogger("bot.runtime").info("listening on http://%s:%d", "127.0.0.1", 3000)
    """
)


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_every_logger_goes_through_the_redacting_handler(fmt: str, tmp_path: Path) -> None:
    secrets = [*KEYS.values(), *TOKENS.values()]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, "|".join(secrets), fmt],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = result.stderr
    for secret in secrets:
        assert secret not in output
    assert "listening on http://127.0.0.1:3000" in output
    assert "RuntimeError" in output  # the exception text is kept, minus the key
    assert output.count(MASK) >= 30
    if fmt == "json":
        lines = [json.loads(line) for line in output.splitlines() if line.strip()]
        assert {"time", "level", "logger", "message"} <= set(lines[0])
        assert any("exc" in line and "RuntimeError" in line["exc"] for line in lines)
        assert {line["logger"] for line in lines} >= {"httpx", "discord.gateway", "py.warnings"}
    else:
        assert " DEBUG   httpx: request httpx" in output


def test_log_level_hides_debug(tmp_path: Path) -> None:
    script = (
        "import logging\nfrom bot.logging_setup import configure_logging\n"
        "configure_logging(level='warning', fmt='console')\n"
        "logging.getLogger('x').info('hidden-info')\nlogging.getLogger('x').warning('shown')\n"
        "logging.getLogger('asyncio').info('hidden-asyncio')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=clean_env(), cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "shown" in result.stderr
    assert "hidden" not in result.stderr
