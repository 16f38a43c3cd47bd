"""Posts and files through the real `byokbot serve`, and two replicas sharing one database.

The digest goes out through the adapter's `ChannelPoster` (text + PNG via files.uploadV2),
a usage export is a private file in the admin's DM, and an event delivered to two
replicas at once is answered once.
"""

from __future__ import annotations

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine

from tests.fakes import slack_api
from tests.fakes.providers import FakeOpenAI
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_driver import SIGNING_SECRET, SlackDriver
from tests.fakes.slack_signing import event_body, message_event, sign
from tests.kits.helpers import ServeProcess
from tests.kits.serve_fixtures import usage_rows
from tests.kits.slack_replies import answered, thread_replies


def test_digest_is_posted_with_its_chart_through_the_poster(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    slack.create_agent(provider.base_url)
    slack.event(
        message_event(user="UMEMBER", text="<@UBOT> hi", channel="C0001", event_type="app_mention")
    )
    fake.wait_for(lambda _f: usage_rows(engine) == 1)  # a call today: the digest has a chart
    assert "digest" in slack.admin("digest channel <#C0005|reports>")
    reply = slack.admin("digest now")
    assert "posted" in reply, reply
    posts = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == "C0005"]
    assert posts and all(c.token == fake.default_token for c in posts)
    (done,) = fake.calls_to("files.completeUploadExternal")
    assert done.params["channel_id"] == "C0005"
    (png,) = fake.state.uploads.values()
    assert png.startswith(b"\x89PNG")


def test_digest_refused_by_slack_is_reported_not_crashed(
    slack: SlackDriver, fake: FakeSlackAPI
) -> None:
    slack.admin("digest channel <#C0005|reports>")
    fake.fail("chat.postMessage", error="not_in_channel", times=5)
    reply = slack.admin("digest now")
    assert "could not be posted" in reply, reply
    assert "Traceback" not in slack.log()


def test_usage_export_is_a_private_file_in_the_admins_dm(
    slack: SlackDriver, fake: FakeSlackAPI, provider: FakeOpenAI, engine: Engine
) -> None:
    slack.create_agent(provider.base_url)
    slack.event(
        message_event(user="UMEMBER", text="<@UBOT> hi", channel="C0001", event_type="app_mention")
    )
    fake.wait_for(answered)
    fake.wait_for(lambda _f: usage_rows(engine) == 1)  # written after the answer ends
    ack, _name, _trigger = slack.command("usage export", user=slack_api.ADMIN)
    assert ack.status_code == 200
    fake.wait_for(lambda f: bool(f.calls_to("files.completeUploadExternal")))
    (opened,) = fake.calls_to("conversations.open")
    assert opened.params["users"] == slack_api.ADMIN
    (done,) = fake.calls_to("files.completeUploadExternal")
    assert done.params["channel_id"] == "DUADMIN"  # the DM, never the channel
    (content,) = fake.state.uploads.values()
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert len(rows) == 1 and rows[0]["user"] == "UMEMBER"
    assert "hi" not in content.decode().split("\n", 1)[1].split(",")  # metadata, no content


def test_two_replicas_answer_one_event_once(
    env: dict[str, str], fake: FakeSlackAPI, provider: FakeOpenAI, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        ServeProcess(env=env, cwd=tmp_path / "a") as first,
        ServeProcess(env=env, cwd=tmp_path / "b") as second,
    ):
        driver = SlackDriver(first.url, secret=SIGNING_SECRET, fake=fake)
        driver.create_agent(provider.base_url)
        driver.close()
        urls = [first.url, second.url, first.url, second.url]
        for _round in range(3):
            body, _eid = event_body(
                message_event(
                    user="UMEMBER", text="<@UBOT> hi", channel="C0001", event_type="app_mention"
                ),
                team_id="T0001",
            )
            headers = {"Content-Type": "application/json", **sign(SIGNING_SECRET, body)}
            requests = [(url + "/slack/events", body, headers) for url in urls]
            with ThreadPoolExecutor(4) as pool:
                statuses = list(
                    pool.map(lambda r: httpx.post(r[0], content=r[1], headers=r[2]), requests)
                )
            assert [r.status_code for r in statuses] == [200] * 4
        fake.wait_for(lambda f: answered(f, count=3))
        time.sleep(1.0)
    assert len(provider.chat_requests) == 3
    assert len(thread_replies(fake)) == 3
