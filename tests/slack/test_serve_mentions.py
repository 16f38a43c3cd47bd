"""Nothing byokbot posts in Slack can mass-mention (SPEC "Messages"), whatever it quotes.

A hostile model streams `<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^…>` and plain
`@here`, some split across chunks (`"<!ch"` + `"annel>"`); a model id holds `<!channel>`
and reaches the command replies, the `--show-cost` footer and the digest. Every payload
the real `byokbot serve` sends the fake Slack Web API (and every response_url post) is
checked, and so is the text a stream shows once its parts are put together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from adapters.mentions import ZWSP
from tests.fakes.providers import FakeOpenAI
from tests.fakes.server import CHUNK_BREAK
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.slack_signing import message_event, next_ts
from tests.kits.serve_fixtures import usage_rows
from tests.kits.slack_replies import answered, reply_text, thread_replies

# What Slack turns into a broadcast: `<!…>` control sequences, and the plain words where
# `link_names` (or a markdown renderer) links them.
ACTIVE = re.compile(
    r"<!(?:channel|here|everyone|subteam|group)|(?<!\w)@(?:channel|here|everyone)\b",
    re.IGNORECASE,
)
HOSTILE_CHUNKS = [
    "Attention ",
    "<!ch",
    "annel>",
    " and <!here>",
    " and <!ever",
    "yone> then ",
    "<",
    "!subteam^S123|@team>",
    " plus @",
    "here, and <!here|here>.",
]
HOSTILE = "".join(HOSTILE_CHUNKS)
STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")


def strings(value: Any) -> Iterator[str]:
    """Every string inside a payload (text, markdown_text, blocks, nested or not)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_nothing_pings(fake: FakeSlackAPI) -> None:
    """No call to Slack and no response_url post carries an active mass mention."""
    payloads: list[Any] = [c.params for c in fake.all_calls() if c.method.startswith("chat.")]
    payloads += fake.responses()
    assert payloads
    for payload in payloads:
        for value in strings(payload):
            assert not ACTIVE.search(value), payload


def streamed_text(fake: FakeSlackAPI) -> str:
    """What the stream shows once Slack has put its parts together."""
    return "".join(
        str(c.params.get("markdown_text") or "")
        for c in fake.all_calls()
        if c.method in STREAM_METHODS
    )


def ask(slack: SlackDriver, fake: FakeSlackAPI, *, wait_for: str | None = None) -> None:
    """Mention the bot; wait for a call to `wait_for`, or for the answer however it came."""
    slack.event(
        message_event(
            user="UMEMBER",
            text="<@UBOT> say it",
            channel="C0001",
            ts=next_ts(),
            event_type="app_mention",
        )
    )
    if wait_for is None:
        fake.wait_for(answered, timeout=20)
    else:
        fake.wait_for(lambda f: bool(f.calls_to(wait_for)), timeout=20)


@pytest.fixture
def hostile(provider: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI streaming HOSTILE_CHUNKS, one event each, a little apart."""
    provider.reply = CHUNK_BREAK.join(HOSTILE_CHUNKS)
    provider.delay = 0.25  # past the window: streamed, in several appends
    return provider


def test_streamed_answer_cannot_mass_mention_even_split_across_chunks(
    slack: SlackDriver, fake: FakeSlackAPI, hostile: FakeOpenAI, engine: Engine
) -> None:
    slack.create_agent(hostile.base_url)
    ask(slack, fake, wait_for="chat.stopStream")
    fake.wait_for(lambda _f: usage_rows(engine) == 1)
    assert len(fake.calls_to("chat.appendStream")) >= 2  # the answer really came in parts
    shown = streamed_text(fake)
    assert not ACTIVE.search(shown), shown
    assert shown.replace(ZWSP, "") == HOSTILE  # defused, not altered: it reads the same
    assert_nothing_pings(fake)


def test_answer_posted_whole_cannot_mass_mention(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    provider.reply = CHUNK_BREAK.join(HOSTILE_CHUNKS)  # no delay: done within the window
    slack.create_agent(provider.base_url)
    ask(slack, fake)
    fake.wait_for(lambda _f: usage_rows(engine) == 1)
    (reply,) = thread_replies(fake)
    assert not reply.streamed
    assert not ACTIVE.search(reply.text), reply.text
    assert reply.text.replace(ZWSP, "") == HOSTILE
    assert_nothing_pings(fake)


def test_fallback_post_and_update_cannot_mass_mention(
    slack: SlackDriver, fake: FakeSlackAPI, hostile: FakeOpenAI, engine: Engine
) -> None:
    slack.create_agent(hostile.base_url)
    fake.state.refuse_streaming = True
    ask(slack, fake, wait_for="chat.postMessage")
    fake.wait_for(lambda _f: usage_rows(engine) == 1, timeout=20)
    fake.wait_for(lambda f: bool(f.calls_to("chat.update")))
    assert_nothing_pings(fake)


def test_model_id_cannot_mass_mention_in_replies_footer_or_digest(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    provider.reply = "Fine."
    reply = slack.admin(f"key add openai k test-key --base-url {provider.base_url} --no-verify")
    assert "stored" in reply, reply
    # --no-verify: the fake does not list this model id (the point is how it is shown).
    reply = slack.admin("agent create writer --key k --model <!channel> --show-cost --no-verify")
    assert "created" in reply, reply
    assert f"<{ZWSP}!channel>" in reply  # the model id is shown back, defused
    assert f"model: <{ZWSP}!channel>" in slack.admin("agent show writer")
    slack.admin("agent bind writer <#C0001>")
    assert f"<{ZWSP}!here>" in slack.admin("<!here>")  # user input echoed in an error
    slack.admin("digest channel <#C0005|reports>")

    ask(slack, fake)  # posted whole or streamed: the same text
    shown = reply_text(fake)
    assert "channel" in shown and "tokens" in shown, shown  # the footer names the model

    fake.wait_for(lambda _f: usage_rows(engine) == 1)
    assert "posted" in slack.admin("digest now")  # today so far: it shows the call
    digest = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == "C0005"]
    assert any(f"<{ZWSP}!channel>" in str(c.params["text"]) for c in digest), digest
    assert_nothing_pings(fake)
