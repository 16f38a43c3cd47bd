"""Upper bounds on the input tokens an image or PDF costs, per provider family.

Used by the worst-case reservation (SPEC "Money"): the bounds lean high on purpose.

- OpenAI: tiles — fit in 2048x2048, shortest side to 768, 85 + 170 per 512 px tile
  (gpt-4o-mini: 2833 + 5667 per tile); the patch models (gpt-4.1-mini/nano, o4-mini,
  gpt-5-mini/nano) up to 1536 patches times at most 2.5; for those, and for models
  the table does not know, the larger of the two rules.
- Anthropic: width x height / 750, at most 1600 (images are resized to ~1.15 MP).
- Gemini: 258 per 768 px tile (258 for a small image); Gemini 3 at least 1120.
- OpenAI-compatible servers: the OpenAI rule or one token per 28x28 patch (Qwen-VL,
  LLaVA tiles), whichever is larger, at most 16,384.
- PDFs sent natively: per page a page image plus its text — at least 3000 tokens a
  page (OpenAI/Anthropic), 560 on Gemini — plus the extracted text's UTF-8 bytes.
- PDFs sent as extracted text: its UTF-8 bytes (no tokenizer makes more tokens).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.files.capability import native_pdf
from bot.providers.types import Attachment, ChatMessage

TEXT_FRAMING_TOKENS = 8
PDF_PAGE_TOKENS = 3000
GEMINI_PDF_PAGE_TOKENS = 560
PAGE_IMAGE_TOKENS = 1600
_PATCH_CAP = 1536
_PATCH_MULTIPLIER = 2.5
_COMPATIBLE_CAP = 16_384
# OpenAI models priced by 512 px tiles (their -mini/-nano variants may count patches).
_TILE_MODELS = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-4-turbo", "o1", "o3")


def openai_tiles(width: int, height: int) -> int:
    """512 px tiles of an image after OpenAI's high-detail resize."""
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return math.ceil(w / 512) * math.ceil(h / 512)


def image_tokens(provider: str, model: str, *, width: int, height: int) -> int:
    """The most input tokens one image of `width` x `height` costs on `model`."""
    width, height = max(1, width), max(1, height)
    name = model.lower().rsplit("/", 1)[-1]
    tiles = openai_tiles(width, height)
    openai = 85 + 170 * tiles
    if "gpt-4o-mini" in name:
        openai = 2833 + 5667 * tiles
    patches = math.ceil(
        min(_PATCH_CAP, math.ceil(width / 32) * math.ceil(height / 32)) * _PATCH_MULTIPLIER
    )
    if not name.startswith(_TILE_MODELS) or "-mini" in name or "-nano" in name:
        openai = max(openai, patches)  # a patch model, or one we cannot tell
    if provider == "anthropic":
        return min(math.ceil(width * height / 750), PAGE_IMAGE_TOKENS)
    if provider == "gemini":
        gemini = 258 * math.ceil(width / 768) * math.ceil(height / 768)
        return max(gemini, 1120) if name.startswith("gemini-3") else gemini
    if provider == "openai":
        return openai
    return min(max(openai, math.ceil(width * height / 784)), max(openai, _COMPATIBLE_CAP))


def attachment_tokens(provider: str, model: str, part: Attachment) -> int:
    """The most input tokens `part` costs on `model`."""
    if part.kind == "image":
        return image_tokens(provider, model, width=part.width, height=part.height)
    text = len(part.text.encode("utf-8", errors="surrogatepass"))
    if not native_pdf(provider, model):
        return text + TEXT_FRAMING_TOKENS  # sent as its extracted text: bytes bound tokens
    if provider == "gemini":
        return max(part.pages, 1) * GEMINI_PDF_PAGE_TOKENS + text
    pages = max(part.pages, 1)
    return max(pages * PDF_PAGE_TOKENS, pages * PAGE_IMAGE_TOKENS + text)


def upper_bound_tokens(provider: str, model: str, messages: Sequence[ChatMessage]) -> int:
    """The most input tokens the attachments of `messages` cost on `model`."""
    return sum(
        attachment_tokens(provider, model, part) for message in messages for part in message.parts
    )
