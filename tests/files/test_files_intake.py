"""The file intake on real files: magic bytes over declared types, sizes, lines, token bounds."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.boundary import IncomingFile
from bot.errors import FileTooLarge
from bot.files import MAX_BYTES, Intake, take
from bot.files.sniff import decode_text, image_info
from bot.files.tokens import attachment_tokens, image_tokens, openai_tiles
from bot.providers.types import Attachment
from bot.secrets_shape import looks_like_provider_key
from tests.kits.filekit import image, pdf


def memory_file(
    data: bytes, *, name: str = "f", mime: str = "", size: int | None = None
) -> IncomingFile:
    """An attachment whose fetch honours the limit like a platform download."""
    fetched: list[int] = []

    async def fetch(limit: int) -> bytes:
        fetched.append(limit)
        if len(data) > limit:
            raise FileTooLarge("over", limit=limit)
        return data

    return IncomingFile(name=name, mime=mime, size=len(data) if size is None else size, fetch=fetch)


async def run(
    *files: IncomingFile, provider: str = "openai", model: str = "gpt-4o", room: int = 10_000
) -> Intake:
    return await take(
        files,
        provider=provider,
        model=model,
        agent="seer",
        room_tokens=room,
        guard=looks_like_provider_key,
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_image_sizes_come_from_the_header(fmt: str) -> None:
    info = image_info(image(fmt, size=(321, 123)))
    assert info is not None and (info.width, info.height) == (321, 123)


def test_webp_lossless_and_alpha_and_progressive_jpeg() -> None:
    for kwargs, fmt in (({"lossless": True}, "WEBP"), ({"progressive": True}, "JPEG")):
        out = io.BytesIO()
        Image.new("RGBA" if fmt == "WEBP" else "RGB", (77, 55)).save(out, format=fmt, **kwargs)
        info = image_info(out.getvalue())
        assert info is not None and (info.width, info.height) == (77, 55)


def test_text_detection() -> None:
    assert decode_text("naïve,csv\n1,2\n".encode()) == "naïve,csv\n1,2\n"
    assert decode_text("hi".encode("utf-16")) == "hi"
    assert decode_text(b"\x00\x01\x02binary") is None
    assert decode_text(b"\xff\xfe\xfd") is None


async def test_declared_type_is_not_trusted() -> None:
    # Declared a PNG, really text: sent as text. Declared text, really a PNG: an image.
    png = image("PNG")
    got = await run(
        memory_file(b"a,b\n1,2\n", name="data.png", mime="image/png"),
        memory_file(png, name="notes.txt", mime="text/plain"),
    )
    assert got.lines == ()
    assert [p.mime for p in got.parts] == ["image/png"] and got.parts[0].data == png
    assert got.text == "Attached file data.png:\na,b\n1,2\n"


async def test_declared_size_refused_before_any_download() -> None:
    calls: list[int] = []

    async def fetch(limit: int) -> bytes:
        calls.append(limit)
        return b""

    big = IncomingFile(name="x", mime="image/png", size=MAX_BYTES + 1, fetch=fetch)
    got = await run(big)
    assert calls == [] and got.lines == (
        "Attachment 1 is over the 20 MB limit, so it was left out.",
    )


async def test_the_limit_is_passed_to_the_fetch_and_enforced() -> None:
    unknown = memory_file(b"x" * 10, size=-1)
    got = await run(unknown)
    assert got.text.endswith("x" * 10)
    liar = memory_file(b"y" * (MAX_BYTES + 1), size=5)  # declared small, streams past the cap
    got = await run(liar)
    assert got.lines == ("Attachment 1 is over the 20 MB limit, so it was left out.",)


async def test_text_is_trimmed_to_the_room() -> None:
    got = await run(memory_file(b"z" * 100_000, name="big.txt"), room=100)
    assert len(got.text) < 500 and got.text.endswith("trimmed to fit the model's context]")


async def test_pdf_native_or_text_by_provider() -> None:
    document = pdf(["Alpha page", "Beta page"])
    native = await run(memory_file(document), provider="anthropic", model="claude-sonnet-4-5")
    assert [(p.kind, p.pages) for p in native.parts] == [("pdf", 2)] and native.text == ""
    compatible = await run(
        memory_file(document, name="d.pdf"), provider="groq", model="llama-3.3-70b"
    )
    assert compatible.parts == () and "Alpha page" in compatible.text


async def test_broken_pdf_and_unreadable_image_get_lines() -> None:
    got = await run(memory_file(b"%PDF-1.4 garbage"), memory_file(b"\x89PNG\r\n\x1a\nxx"))
    assert got.lines[0].startswith("Attachment 1 is a PDF that could not be read")
    assert got.lines[1].startswith("Attachment 2 is an image that could not be read")


def test_image_token_rules() -> None:
    assert openai_tiles(1024, 1024) == 4  # 768x768 after the resize: 2x2 tiles
    assert image_tokens("openai", "gpt-4o", width=1024, height=1024) == 85 + 170 * 4
    assert image_tokens("openai", "gpt-4o-mini", width=1024, height=1024) == 2833 + 5667 * 4
    assert image_tokens("anthropic", "claude-sonnet-4-5", width=1000, height=1000) == 1334
    assert image_tokens("anthropic", "claude-sonnet-4-5", width=8000, height=8000) == 1600
    assert image_tokens("gemini", "gemini-2.5-flash", width=300, height=300) == 258
    assert image_tokens("gemini", "gemini-2.5-flash", width=1536, height=800) == 258 * 4
    assert image_tokens("ollama", "llava", width=2000, height=2000) >= 2000 * 2000 // 784


def test_pdf_token_rules() -> None:
    part = Attachment("pdf", "application/pdf", b"", text="x" * 10_000, pages=2)
    assert attachment_tokens("anthropic", "claude-sonnet-4-5", part) == 2 * 1600 + 10_000
    assert attachment_tokens("gemini", "gemini-2.5-flash", part) == 2 * 560 + 10_000
    assert attachment_tokens("groq", "llama-3.3-70b", part) == 10_000 + 8
