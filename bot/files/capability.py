"""Which models take images, and which providers take PDFs natively.

genai-prices (0.0.x) carries prices only, no input modalities, so this is a small table
per provider family, by model-name prefix or marker. Unknown models of the native
families are assumed current (images on); on OpenAI-compatible servers a model takes
images only when its name shows a known vision family: a clear line beats a provider
error for the many text-only open models.
"""

from __future__ import annotations

# OpenAI models without image input (everything else of OpenAI's current line has it).
_OPENAI_TEXT_ONLY = ("gpt-3.5", "gpt-4-0", "gpt-4-32k", "o1-mini", "o3-mini", "gpt-oss")
_OPENAI_BARE_TEXT_ONLY = ("gpt-4",)  # the original gpt-4 (not gpt-4o / gpt-4-turbo)
_ANTHROPIC_TEXT_ONLY = ("claude-2", "claude-instant")
# Model-name markers of vision families served by OpenAI-compatible servers.
_VISION_MARKERS = (
    "vision",
    "-vl",
    "vl-",
    "llava",
    "pixtral",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4-turbo",
    "gpt-5",
    "claude",
    "gemini",
    "gemma-3",
    "llama-4",
    "llama-3.2-11b",
    "llama-3.2-90b",
    "mistral-small-3",
    "mistral-medium",
    "grok-4",
    "minicpm-v",
    "moondream",
    "qwen2.5-vl",
    "qwen3-vl",
    "internvl",
)
NATIVE_PDF = frozenset({"openai", "anthropic", "gemini"})


def takes_images(provider: str, model: str) -> bool:
    """True when `model` of `provider` accepts image input."""
    name = model.lower().rsplit("/", 1)[-1]
    full = model.lower()
    if provider == "openai":
        return not (name.startswith(_OPENAI_TEXT_ONLY) or name in _OPENAI_BARE_TEXT_ONLY)
    if provider == "anthropic":
        return not name.startswith(_ANTHROPIC_TEXT_ONLY)
    if provider == "gemini":
        return name.startswith("gemini")
    return any(marker in full for marker in _VISION_MARKERS)


def native_pdf(provider: str, model: str) -> bool:
    """True when the provider takes a PDF as a document part (else it gets the text)."""
    return provider in NATIVE_PDF and takes_images(provider, model)
