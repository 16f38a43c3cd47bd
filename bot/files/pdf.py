"""PDF text and page count with pypdf, in memory (a `BytesIO`, never a file).

pypdf touches the disk only to decode JBIG2 images through the external `jbig2dec`
binary (a temporary directory); text extraction never decodes images, so nothing here
writes a file. Extraction runs on a worker thread: a long PDF must not stall the loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PdfText:
    """A PDF's page count and the text of its pages, in order."""

    pages: int
    text: str = ""


def extract(data: bytes) -> PdfText | None:
    """Page count and text of `data`; None for an unreadable or encrypted PDF."""
    # Imported here: pypdf brings fontTools and PIL, ~0.1 s on every start otherwise.
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return None
        texts = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        # The reason's type only: a message could quote the document.
        logger.info("could not read a PDF attachment: %s", type(exc).__name__)
        return None
    return PdfText(pages=len(texts), text="\n\n".join(t.strip() for t in texts if t.strip()))


async def extract_async(data: bytes) -> PdfText | None:
    """`extract` on a worker thread."""
    return await asyncio.to_thread(extract, data)
