"""Discord attachment downloads against the fake Discord's CDN, over real HTTP.

The fetchers the adapter hands the core are built from attachment objects as the
adapter builds them, and run against the fake: only the CDN of the configured Discord
is fetched from, with no credential, a declared oversize is refused before any request
and a body longer than declared is cut while streaming.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from adapters.discord.files import DiscordFiles, attachment_origins
from adapters.discord.translation import AttachmentRef, incoming_files
from bot.boundary import IncomingFile
from bot.config import Settings
from bot.errors import FileRefused, FileTooLarge
from tests.fakes.discord import FakeDiscord

LIMIT = 20 * 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture
async def files(fake: FakeDiscord) -> AsyncIterator[DiscordFiles]:
    """The adapter's attachment fetchers, configured for the fake Discord."""
    settings = Settings(BYOKBOT_DISCORD_API_URL=fake.base_url)
    built = DiscordFiles(settings)
    yield built
    await built.close()


@pytest.fixture
def hostile() -> Iterator[FakeDiscord]:
    """Another Discord-like server on loopback (another port)."""
    with FakeDiscord() as api:
        yield api


def incoming(files: DiscordFiles, *attachments: dict[str, Any]) -> tuple[IncomingFile, ...]:
    """The message's files, as the adapter builds them from `Message.attachments`."""
    refs = [
        AttachmentRef(
            filename=a["filename"], content_type=a.get("content_type"), size=a["size"], url=a["url"]
        )
        for a in attachments
    ]
    return incoming_files(refs, fetcher=files.fetcher())


async def test_an_attachment_is_fetched_from_the_cdn_without_a_token(
    fake: FakeDiscord, files: DiscordFiles
) -> None:
    attachment = fake.add_attachment(PNG, filename="screenshot.png")
    (file,) = incoming(files, attachment)
    assert (file.name, file.mime, file.size) == ("screenshot.png", "image/png", len(PNG))
    assert await file.fetch(LIMIT) == PNG
    (request,) = fake.cdn_requests
    assert request.authorization is None  # attachment URLs are signed: no token travels


async def test_an_attachment_on_another_host_is_never_fetched(
    fake: FakeDiscord, hostile: FakeDiscord, files: DiscordFiles
) -> None:
    (file,) = incoming(files, hostile.add_attachment(PNG, filename="invoice.pdf"))
    with pytest.raises(FileRefused) as refused:
        await file.fetch(LIMIT)
    assert refused.value.reason == "foreign_host" and "invoice" not in str(refused.value)
    assert hostile.cdn_requests == [] and fake.cdn_requests == []


async def test_a_declared_oversize_attachment_is_refused_before_any_download(
    fake: FakeDiscord, files: DiscordFiles
) -> None:
    (file,) = incoming(files, fake.add_attachment(PNG, size=25 * 1024 * 1024))
    with pytest.raises(FileTooLarge) as refused:
        await file.fetch(LIMIT)
    assert str(refused.value) == "A file is over the 20 MB limit and was not sent."
    assert fake.cdn_requests == []


async def test_an_attachment_that_lies_about_its_size_is_cut_while_streaming(
    fake: FakeDiscord, files: DiscordFiles
) -> None:
    length = 64 * 1024 * 1024
    attachment = fake.add_attachment(size=1_000, length=length)
    (file,) = incoming(files, attachment)
    with pytest.raises(FileTooLarge):
        await file.fetch(LIMIT)
    assert len(fake.cdn_requests) == 1
    assert fake.cdn_file(attachment).served < length  # the bot hung up early


def test_attachments_come_only_from_the_cdn_the_settings_name() -> None:
    cdn = {("https", "cdn.discordapp.com", 443), ("https", "media.discordapp.net", 443)}
    assert attachment_origins("https://discord.com/api/v10") == cdn
    assert attachment_origins("http://127.0.0.1:8123/api/v10") == {("http", "127.0.0.1", 8123)}


def test_translation_keeps_the_declared_media_type_and_size() -> None:
    seen: list[tuple[str, int]] = []

    def fetcher(url: str, declared: int) -> Any:
        seen.append((url, declared))
        return None

    refs = [
        AttachmentRef(
            filename="notes.txt", content_type="text/plain; charset=utf-8", size=5, url="U1"
        ),
        AttachmentRef(filename="blob", content_type=None, size=7, url="U2"),
    ]
    found = incoming_files(refs, fetcher=fetcher)
    assert [(f.name, f.mime, f.size) for f in found] == [
        ("notes.txt", "text/plain", 5),
        ("blob", "", 7),
    ]
    assert seen == [("U1", 5), ("U2", 7)]
