"""Hostile thread context through the real `byokbot serve`: keys and broken text.

A key pasted earlier in a thread (refused when it was said) must not reach the provider
inside the thread history when someone mentions the bot there later (SPEC "Messages",
Guarantee 1); lone surrogates in an event or in the thread history (Slack JSON
`"\\ud800"`) get an answer, never "internal error" or a traceback (Guarantee 11).
"""

from __future__ import annotations

import pytest

from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SlackDriver
from tests.fakes.slack_signing import command_body, message_event, next_id, next_ts
from tests.kits.helpers import ServeProcess

REPLY = "Here is the considered answer from the provider."
LEAKED = "sk-proj-ThreadLeak0123456789abcdefghijklmn"
ECHOED = "sk-ant-api03-EchoedByTheBot0123456789abcdef"
INTERNAL = "internal error"


@pytest.fixture
def provider(provider: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI, answering with REPLY."""
    provider.reply = REPLY
    return provider


def answer_text(fake: FakeSlackAPI) -> str:
    """Everything the bot said in the channel or privately, run together."""
    return "".join(
        str(c.params.get("markdown_text") or c.params.get("text") or "")
        for c in fake.all_calls()
        if c.method.startswith("chat.")
    )


def answered(fake: FakeSlackAPI) -> bool:
    return bool(fake.calls_to("chat.stopStream")) or bool(fake.calls_to("chat.postMessage"))


def mention_in_thread(
    slack: SlackDriver, fake: FakeSlackAPI, thread: list[tuple[str, str]], text: str
) -> None:
    """Script a thread of (user, text) messages, then mention the bot as its newest reply."""
    stamps = [next_ts() for _ in thread]
    current = next_ts()
    messages = []
    for (user, said), ts in zip(thread, stamps, strict=True):
        message = {"user": user, "text": said, "ts": ts}
        if user == "UBOT":
            message["bot_id"] = "BBOT"
        messages.append(message)
    messages.append({"user": "UMEMBER", "text": text, "ts": current})
    fake.set_thread("C0001", stamps[0], messages)
    event = message_event(
        user="UMEMBER",
        text=text,
        channel="C0001",
        ts=current,
        thread_ts=stamps[0],
        event_type="app_mention",
    )
    ack, _eid = slack.event(event)
    assert ack.status_code == 200
    fake.wait_for(answered)


def test_a_key_earlier_in_the_thread_never_reaches_the_provider(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, serve: ServeProcess
) -> None:
    slack.create_agent(provider.base_url)
    mention_in_thread(
        slack,
        fake,
        [
            ("UMEMBER", "<@UBOT> name a colour"),
            ("UBOT", "Blue."),
            ("UMEMBER", f"is this key still good? {LEAKED}"),
            ("UBOT", f"It was {ECHOED} all along."),  # a key in our own earlier answer
            ("UOTHER", "green is nicer"),
        ],
        "<@UBOT> and another?",
    )
    (request,) = provider.chat_requests
    body = request.body.decode()
    assert LEAKED not in body and ECHOED not in body
    assert "is this key still good" not in body and "all along" not in body
    turns = [(m["role"], m["content"]) for m in request.json["messages"] if m["role"] != "system"]
    assert turns == [
        ("user", "name a colour"),
        ("assistant", "Blue."),
        ("user", "green is nicer\n\nand another?"),
    ]
    assert REPLY in answer_text(fake)
    log = serve.log_text()
    assert LEAKED not in log and ECHOED not in log
    assert "with a key shape out" in log  # metadata only: how many were left out


def test_lone_surrogates_in_the_event_and_the_thread_get_an_answer(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, serve: ServeProcess
) -> None:
    slack.create_agent(provider.base_url)
    mention_in_thread(
        slack,
        fake,
        [
            ("UMEMBER", "<@UBOT> broken \ud800 text"),
            ("UBOT", "half \udfff a pair"),
        ],
        "<@UBOT> and now \udc00 what?",
    )
    (request,) = provider.chat_requests
    turns = [(m["role"], m["content"]) for m in request.json["messages"] if m["role"] != "system"]
    assert turns == [
        ("user", "broken \ufffd text"),
        ("assistant", "half \ufffd a pair"),
        ("user", "and now \ufffd what?"),
    ]
    said = answer_text(fake)
    assert REPLY in said and INTERNAL not in said
    log = serve.log_text()
    assert "Traceback" not in log and "UnicodeEncodeError" not in log


def raw_command(slack: SlackDriver, fake: FakeSlackAPI, raw_text: bytes) -> str:
    """Send `/byok` with form-encoded `raw_text` as it is (any bytes); return the reply."""
    name = next_id("cmd")
    body = command_body(
        text="RAWTEXT", user="UADMIN", response_url=fake.response_url(name)
    ).replace(b"RAWTEXT", raw_text)
    ack = slack.post(body, content_type="application/x-www-form-urlencoded")
    assert ack.status_code == 200, ack.text
    fake.wait_for(lambda f: bool(f.responses(name)), timeout=15)
    return " ".join(str(r.get("text", "")) for r in fake.responses(name))


def test_invalid_utf8_and_controls_in_a_slash_command_get_a_clear_line(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, serve: ServeProcess
) -> None:
    slack.create_agent(provider.base_url)
    # Percent-encoded bytes that are not UTF-8 (an encoded lone surrogate among them).
    reply = raw_command(slack, fake, b"agent+set+writer+--prompt+%22x%FF%FEy%ED%A0%80z%22")
    assert INTERNAL not in reply and "writer" in reply
    shown = raw_command(slack, fake, b"agent+show+writer")
    assert "prompt: x\ufffd\ufffdy\ufffd\ufffd\ufffdz" in shown
    # A NUL (which PostgreSQL text cannot hold) or an escape: refused with a clear line.
    for raw in (b"agent+set+writer+--prompt+%22a%00b%22", b"agent+show+wr%1B%5B2Jiter"):
        refused = raw_command(slack, fake, raw)
        assert "control characters" in refused and INTERNAL not in refused
    assert "Traceback" not in serve.log_text()
