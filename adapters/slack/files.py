"""Slack files: fetched from the workspace's file host with its bot token, capped, unredirected.

Slack serves `url_private` from `files.slack.com` and wants the bot token (scope
`files:read`) as a bearer header. The allowed origin is derived from the settings: the
production API (`slack.com`, `slack-gov.com`) means its `files.` host over https; any
other configured `BYOKBOT_SLACK_API_URL` (a test's fake, a proxy) serves files on its
own origin. A URL anywhere else is refused before a request is made, so the token never
leaves for it.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from adapters.downloads import Origin, download, origin_of
from bot.boundary import FileFetcher
from bot.config import Settings

PLATFORM = "slack"
_PRODUCTION_API_HOSTS = frozenset({"slack.com", "slack-gov.com"})


def file_origins(api_url: str) -> frozenset[Origin]:
    """Where Slack files may be downloaded from with the bot token, for this API URL."""
    api = origin_of(api_url)
    if api is None:
        return frozenset()
    _scheme, host, _port = api
    if host in _PRODUCTION_API_HOSTS:
        return frozenset({("https", f"files.{host}", 443)})
    return frozenset({api})


class SlackFiles:
    """Builds the fetchers of one event's files: its workspace's token, the shared session."""

    def __init__(
        self, settings: Settings, *, session: Callable[[], aiohttp.ClientSession | None]
    ) -> None:
        self._allowed = file_origins(settings.slack_api_url)
        self._session = session

    def fetcher(self, token: str | None) -> Callable[[str, int], FileFetcher]:
        """For a file's URL and declared size: a fetcher sending `token` to Slack's host only."""

        def for_file(url: str, declared: int) -> FileFetcher:
            async def fetch(limit: int) -> bytes:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return await download(
                    self._session(),
                    url,
                    allowed=self._allowed,
                    limit=limit,
                    declared=declared,
                    platform=PLATFORM,
                    headers=headers,
                )

            return fetch

        return for_file
