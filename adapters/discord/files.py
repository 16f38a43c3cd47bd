"""Discord attachments: fetched from Discord's CDN only, with no credential, capped in memory.

Attachment URLs are signed by Discord, so no token is sent with them. The allowed
origins are derived from the settings: the production API (`discord.com`) means the CDN
hosts `cdn.discordapp.com` and `media.discordapp.net` over https; any other configured
`BYOKBOT_DISCORD_API_URL` (a test's fake, a proxy) serves attachments on its own origin.
"""

from __future__ import annotations

import aiohttp

from adapters.discord.translation import PLATFORM, FileFetcherFactory
from adapters.downloads import Origin, download, origin_of
from bot.boundary import FileFetcher
from bot.config import Settings

_PRODUCTION_API_HOSTS = frozenset(
    {"discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com"}
)
_CDN_ORIGINS: frozenset[Origin] = frozenset(
    {("https", "cdn.discordapp.com", 443), ("https", "media.discordapp.net", 443)}
)


def attachment_origins(api_url: str) -> frozenset[Origin]:
    """Where attachments may be downloaded from, for this API URL."""
    api = origin_of(api_url)
    if api is None:
        return frozenset()
    if api[1] in _PRODUCTION_API_HOSTS:
        return _CDN_ORIGINS
    return frozenset({api})


class DiscordFiles:
    """Builds attachment fetchers on one HTTP session of its own (closed on stop)."""

    def __init__(self, settings: Settings) -> None:
        self._allowed = attachment_origins(settings.discord_api_url)
        self._session: aiohttp.ClientSession | None = None

    def fetcher(self) -> FileFetcherFactory:
        """For an attachment's URL and declared size: a fetcher from Discord's CDN only."""

        def for_file(url: str, declared: int) -> FileFetcher:
            async def fetch(limit: int) -> bytes:
                return await download(
                    self._open(),
                    url,
                    allowed=self._allowed,
                    limit=limit,
                    declared=declared,
                    platform=PLATFORM,
                )

            return fetch

        return for_file

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No cookies kept between downloads: each signed URL stands on its own.
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def close(self) -> None:
        """Close the session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None
