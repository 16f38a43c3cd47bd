"""What a file really is, from its first bytes: image type and size, PDF, or text.

The platform's declared media type is a hint only; a file is an image or a PDF when its
magic bytes say so. Image dimensions come from the header (PNG IHDR, JPEG SOF, GIF
logical screen, WebP VP8/VP8L/VP8X) without decoding pixels, in memory.
"""

from __future__ import annotations

import codecs
import re
import struct
from dataclasses import dataclass

PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
PDF = "application/pdf"
IMAGE_TYPES = (PNG, JPEG, GIF, WEBP)
# Control characters a text file does not hold (tab, newlines and form feed it may).
_CONTROLS = re.compile(r"[\x01-\x08\x0b\x0e-\x1f]")
_MAX_CONTROL_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An image's media type and pixel size as its header declares them."""

    mime: str
    width: int
    height: int


def media_type(data: bytes) -> str | None:
    """The image or PDF media type the magic bytes show; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    # PDF readers accept the header within the first KiB (some writers put junk first).
    if b"%PDF-" in data[:1024]:
        return PDF
    return None


def image_info(data: bytes) -> ImageInfo | None:
    """Type and dimensions of a PNG, JPEG, GIF or WebP; None when the header is unreadable."""
    mime = media_type(data)
    try:
        size = _SIZES[mime](data) if mime in _SIZES else None
    except (struct.error, IndexError):
        size = None
    if mime is None or size is None or min(size) <= 0:
        return None
    return ImageInfo(mime, size[0], size[1])


def _png(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _gif(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack("<HH", data[6:10])
    return int(width), int(height)


def _jpeg(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        # SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    return None


_SIZES = {PNG: _png, GIF: _gif, JPEG: _jpeg, WEBP: _webp}


def decode_text(data: bytes) -> str | None:
    """The file as text (UTF-8, or UTF-16/32 with a byte-order mark); None when binary."""
    encoding = "utf-8"
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            encoding = name
            break
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    controls = len(_CONTROLS.findall(text))
    if controls > max(1, len(text) * _MAX_CONTROL_SHARE):
        return None
    return text
