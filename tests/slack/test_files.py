"""Slack file downloads against the fake Slack's file host, over real HTTP.

The fetchers the adapter hands the core (`IncomingFile.fetch`) are built from a message
event exactly as the listeners build them, and run against the fake: the bot token goes
to the workspace's file host only, a redirect is never followed, a declared oversize is
refused before any request and a body longer than declared is cut while streaming.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from adapters.slack.files import SlackFiles, file_origins
from adapters.slack.translation import incoming_files
from bot.boundary import IncomingFile
from bot.config import Settings
from bot.errors import FileRefused, FileTooLarge
from tests.fakes.slack_api import FakeSlackAPI

LIMIT = 20 * 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The adapter's shared HTTP session, as `SlackAdapter.start` opens it."""
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
def hostile() -> Iterator[FakeSlackAPI]:
    """Another server on loopback (another port): it would accept the same token."""
    with FakeSlackAPI() as api:
        yield api


def files_of(
    fake: FakeSlackAPI, session: aiohttp.ClientSession, *objects: dict[str, Any], token: str
) -> tuple[IncomingFile, ...]:
    """The message's files as the listener builds them for a `file_share` event."""
    settings = Settings(BYOKBOT_SLACK_API_URL=fake.base_url)
    event = {"type": "message", "subtype": "file_share", "files": list(objects)}
    return incoming_files(
        event, fetcher=SlackFiles(settings, session=lambda: session).fetcher(token)
    )


async def test_file_is_fetched_from_url_private_with_the_workspace_bot_token(
    fake: FakeSlackAPI, session: aiohttp.ClientSession
) -> None:
    obj = fake.add_file(PNG, name="error screenshot.png", mimetype="image/png")
    (file,) = files_of(fake, session, obj, token=fake.default_token)
    assert (file.name, file.mime, file.size) == ("error screenshot.png", "image/png", len(PNG))
    assert await file.fetch(LIMIT) == PNG
    (download,) = fake.downloads()
    assert download.authorization == f"Bearer {fake.default_token}" and download.status == 200
    assert download.path == obj["url_private"].removeprefix(fake.root_url)


def test_the_fake_refuses_a_download_without_the_right_token(fake: FakeSlackAPI) -> None:
    obj = fake.add_file(PNG)
    assert httpx.get(obj["url_private"]).status_code == 403
    wrong = {"Authorization": "Bearer xoxb-another-workspace"}
    assert httpx.get(obj["url_private_download"], headers=wrong).status_code == 403
    right = {"Authorization": f"Bearer {fake.default_token}"}
    assert httpx.get(obj["url_private"], headers=right).content == PNG


async def test_a_token_slack_refuses_gets_a_line_not_the_bytes(
    fake: FakeSlackAPI, session: aiohttp.ClientSession
) -> None:
    (file,) = files_of(fake, session, fake.add_file(PNG), token="xoxb-revoked")
    with pytest.raises(FileRefused) as refused:
        await file.fetch(LIMIT)
    assert refused.value.reason == "unavailable" and "403" in str(refused.value)


async def test_a_file_on_another_host_is_never_fetched_with_the_token(
    fake: FakeSlackAPI, hostile: FakeSlackAPI, session: aiohttp.ClientSession
) -> None:
    foreign = hostile.add_file(PNG, name="invoice.pdf", mimetype="application/pdf")
    (file,) = files_of(fake, session, foreign, token=fake.default_token)
    with pytest.raises(FileRefused) as refused:
        await file.fetch(LIMIT)
    assert refused.value.reason == "foreign_host"
    assert "invoice" not in str(refused.value)  # the line never names the file
    assert hostile.downloads() == [] and fake.downloads() == []


async def test_a_redirect_from_the_file_host_is_not_followed(
    fake: FakeSlackAPI, hostile: FakeSlackAPI, session: aiohttp.ClientSession
) -> None:
    elsewhere = hostile.add_file(PNG)
    obj = fake.add_file(PNG, redirect_to=elsewhere["url_private"])
    (file,) = files_of(fake, session, obj, token=fake.default_token)
    with pytest.raises(FileRefused) as refused:
        await file.fetch(LIMIT)
    assert refused.value.reason == "unavailable" and "302" in str(refused.value)
    assert [d.status for d in fake.downloads()] == [302]
    assert hostile.downloads() == []  # the token did not travel on


async def test_a_declared_oversize_file_is_refused_before_any_download(
    fake: FakeSlackAPI, session: aiohttp.ClientSession
) -> None:
    obj = fake.add_file(PNG, size=25 * 1024 * 1024)
    (file,) = files_of(fake, session, obj, token=fake.default_token)
    with pytest.raises(FileTooLarge) as refused:
        await file.fetch(LIMIT)
    assert str(refused.value) == "A file is over the 20 MB limit and was not sent."
    assert fake.downloads() == []


async def test_a_file_that_lies_about_its_size_is_cut_at_the_limit_while_streaming(
    fake: FakeSlackAPI, session: aiohttp.ClientSession
) -> None:
    length = 64 * 1024 * 1024
    obj = fake.add_file(size=1_000, length=length)  # declares 1 kB, sends 64 MB chunked
    (file,) = files_of(fake, session, obj, token=fake.default_token)
    assert file.size == 1_000
    with pytest.raises(FileTooLarge):
        await file.fetch(LIMIT)
    assert [d.status for d in fake.downloads()] == [200]
    assert fake.state.served_bytes[obj["id"]] < length  # the bot hung up early


def test_files_come_only_from_the_file_host_the_settings_name() -> None:
    assert file_origins("https://slack.com/api/") == {("https", "files.slack.com", 443)}
    assert file_origins("https://slack-gov.com/api/") == {("https", "files.slack-gov.com", 443)}
    assert file_origins("http://127.0.0.1:8123/api/") == {("http", "127.0.0.1", 8123)}


def test_translation_keeps_declared_values_and_skips_deleted_files(
    fake: FakeSlackAPI,
) -> None:
    seen: list[tuple[str, int]] = []

    def fetcher(url: str, declared: int) -> Any:
        seen.append((url, declared))
        return None

    event = {
        "files": [
            {"name": "a.csv", "mimetype": "text/csv", "size": 12, "url_private": "U1"},
            {"id": "F2", "mode": "tombstone"},
            {"name": "b.pdf", "mimetype": "application/pdf", "url_private_download": "U3"},
            "not a file",
        ]
    }
    files = incoming_files(event, fetcher=fetcher)
    assert [(f.name, f.mime, f.size) for f in files] == [
        ("a.csv", "text/csv", 12),
        ("b.pdf", "application/pdf", -1),
    ]
    assert seen == [("U1", 12), ("U3", -1)]
    assert incoming_files({"text": "no files"}, fetcher=fetcher) == ()
