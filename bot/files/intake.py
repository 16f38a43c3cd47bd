"""From a message's declared files to what is sent: limits, types, the key guard, lines.

At most `MAX_FILES` files of at most `MAX_BYTES` each: the declared size is checked
before any download and passed as the fetch limit, so the adapter caps the download
while it streams. What a file is comes from its bytes (magic numbers, UTF-8), never
from the declared type alone. Every file left out gets one line that names it by its
position only: a file's name and bytes never reach a log, the database or the audit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.boundary import IncomingFile
from bot.errors import FileRefused, FileTooLarge
from bot.files import pdf, sniff
from bot.files.capability import native_pdf, takes_images
from bot.files.tokens import image_tokens
from bot.providers.types import Attachment

logger = logging.getLogger(__name__)

MAX_FILES = 5
MAX_BYTES = 20 * 1024 * 1024
CHARS_PER_TOKEN = 4
TRIMMED = "\n[… trimmed to fit the model's context]"
SUPPORTED = (
    "images: PNG, JPEG, GIF, WebP; documents: PDF, plain text, Markdown, CSV, JSON, source files"
)


@dataclass(frozen=True, slots=True)
class Intake:
    """What a message's files become: parts to send, text to add, and the lines to say."""

    parts: tuple[Attachment, ...] = ()
    text: str = ""  # text files (and PDFs for servers without documents), trimmed
    lines: tuple[str, ...] = ()

    @property
    def sends_any(self) -> bool:
        """True when at least one file goes to the model."""
        return bool(self.parts or self.text)


@dataclass(slots=True)
class _Read:
    """One file after its download and checks."""

    position: int
    name: str
    line: str | None = None
    part: Attachment | None = None
    text: str | None = None


async def take(
    files: Sequence[IncomingFile],
    *,
    provider: str,
    model: str,
    agent: str,
    room_tokens: int,
    guard: Callable[[str], bool],
) -> Intake:
    """Fetch and check `files` for `model`; text is trimmed to `room_tokens` (estimated)."""
    lines: list[str] = []
    wanted = list(files[:MAX_FILES])
    if len(files) > MAX_FILES:
        extra = len(files) - MAX_FILES
        lines.append(f"Only {MAX_FILES} files of a message are read; {extra} more left out.")
    reads = await asyncio.gather(
        *(
            _read(n, f, provider=provider, model=model, agent=agent, guard=guard)
            for n, f in enumerate(wanted, 1)
        )
    )
    parts: list[Attachment] = []
    texts: list[tuple[str, str]] = []
    room = room_tokens
    for read in reads:
        if read.line is not None:
            lines.append(read.line)
        elif read.part is not None:
            if read.part.kind == "image":
                room -= image_tokens(
                    provider, model, width=read.part.width, height=read.part.height
                )
            parts.append(read.part)
        if read.text is not None:
            texts.append((read.name, read.text))
    refused = sum(1 for read in reads if read.line is not None)
    if refused or len(files) > MAX_FILES:
        logger.info(
            "left %d of %d attached file(s) out", refused + len(files) - len(wanted), len(files)
        )
    return Intake(parts=tuple(parts), text=_fit_texts(texts, room), lines=tuple(lines))


async def _read(
    position: int,
    file: IncomingFile,
    *,
    provider: str,
    model: str,
    agent: str,
    guard: Callable[[str], bool],
) -> _Read:
    read = _Read(position, file.name)
    too_large = (
        f"Attachment {position} is over the {MAX_BYTES // 2**20} MB limit, so it was left out."
    )
    if file.size > MAX_BYTES:
        read.line = too_large
        return read
    try:
        data = await file.fetch(MAX_BYTES)
    except FileTooLarge:
        read.line = too_large
        return read
    except FileRefused as exc:
        logger.info("an attached file was refused: %s", exc.reason)
        read.line = f"Attachment {position} could not be downloaded, so it was left out."
        return read
    if len(data) > MAX_BYTES:  # an adapter that ignored the limit
        read.line = too_large
        return read
    kind = sniff.media_type(data)
    if kind in sniff.IMAGE_TYPES:
        _image(read, data, provider=provider, model=model, agent=agent)
    elif kind == sniff.PDF:
        await _pdf(read, data, provider=provider, model=model, guard=guard)
    else:
        text = sniff.decode_text(data)
        if text is None:
            read.line = (
                f"Attachment {position} is not a supported type ({SUPPORTED}), so it was left out."
            )
        elif guard(text):
            read.line = _key_line(position)
        else:
            read.text = text
    return read


def _image(read: _Read, data: bytes, *, provider: str, model: str, agent: str) -> None:
    if not takes_images(provider, model):
        read.line = (
            f"Agent {agent}'s model {model} does not take images, "
            f"so attachment {read.position} was left out."
        )
        return
    info = sniff.image_info(data)
    if info is None:
        read.line = (
            f"Attachment {read.position} is an image that could not be read, so it was left out."
        )
        return
    read.part = Attachment(
        "image", info.mime, data, name=read.name, width=info.width, height=info.height
    )


async def _pdf(
    read: _Read, data: bytes, *, provider: str, model: str, guard: Callable[[str], bool]
) -> None:
    extracted = await pdf.extract_async(data)
    if extracted is None:
        read.line = (
            f"Attachment {read.position} is a PDF that could not be read (damaged or "
            "encrypted), so it was left out."
        )
        return
    # Extracted text passes the key guard even when the PDF itself is what is sent.
    if guard(extracted.text):
        read.line = _key_line(read.position)
        return
    if native_pdf(provider, model):
        read.part = Attachment(
            "pdf", sniff.PDF, data, name=read.name, text=extracted.text, pages=extracted.pages
        )
    else:
        read.text = extracted.text


def _key_line(position: int) -> str:
    return (
        f"Attachment {position} looks like it contains a provider API key, so it was not "
        "sent to any model. Treat that key as exposed: revoke it at the provider and "
        "create a new one."
    )


def _fit_texts(texts: Sequence[tuple[str, str]], room_tokens: int) -> str:
    """The text files as one block, each under its name, trimmed to the room left."""
    room = max(0, room_tokens) * CHARS_PER_TOKEN
    blocks: list[str] = []
    for name, text in texts:
        header = f"Attached file {name}:\n"
        body = (
            text
            if len(header) + len(text) <= room
            else text[: max(0, room - len(header))] + TRIMMED
        )
        room -= len(header) + len(body)
        blocks.append(header + body)
    return "\n\n".join(blocks)
