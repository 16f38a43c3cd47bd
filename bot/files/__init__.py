"""Files attached to messages: limits, real types, text, PDFs, capabilities and tokens."""

from __future__ import annotations

from bot.files.capability import native_pdf, takes_images
from bot.files.intake import MAX_BYTES, MAX_FILES, Intake, take
from bot.files.tokens import attachment_tokens, image_tokens, upper_bound_tokens

__all__ = [
    "MAX_BYTES",
    "MAX_FILES",
    "Intake",
    "attachment_tokens",
    "image_tokens",
    "native_pdf",
    "take",
    "takes_images",
    "upper_bound_tokens",
]
