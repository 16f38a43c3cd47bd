"""`--file PATH` on a console message: local files attached to it, read into memory.

`@agent --file a.png --file "my notes.md" what is in these?` attaches two files. A file
is read only when the core fetches it, at most the limit the core passes (one byte more
tells that it is over), into memory: nothing is copied or written anywhere.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
from pathlib import Path

from bot.boundary import IncomingFile
from bot.errors import FileRefused, FileTooLarge

_AGENT = re.compile(r"@\S+\s*")
_FILE_OPTION = re.compile(r"""\s*--file(?:=|\s+)(?:"([^"]*)"|'([^']*)'|(\S+))""")


def split_files(text: str) -> tuple[str, list[str]]:
    """The message without its leading `--file` options (after `@agent`), and their paths."""
    head = _AGENT.match(text)
    prefix, rest = (head.group(0), text[head.end() :]) if head else ("", text)
    paths: list[str] = []
    while (option := _FILE_OPTION.match(rest)) is not None:
        paths.append(next(g for g in option.groups() if g is not None))
        rest = rest[option.end() :]
    if not paths:
        return text, []
    return (prefix + rest.lstrip()).strip(), paths


def local_file(path_text: str) -> IncomingFile:
    """A local file as the core sees any platform's attachment: declared, fetched on demand."""
    path = Path(path_text).expanduser()
    try:
        size = path.stat().st_size if path.is_file() else -1
    except OSError:
        size = -1

    async def fetch(limit: int) -> bytes:
        return await asyncio.to_thread(_read_capped, path, limit)

    mime = mimetypes.guess_type(path.name)[0] or ""
    return IncomingFile(name=path.name, mime=mime, size=size, fetch=fetch)


def _read_capped(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb", buffering=0) as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > limit:
                raise FileTooLarge("A file is over the size limit.", limit=limit)
            # One buffer of the file's own size (not of the limit): a byte more shows a
            # file that grew since, which is then read on up to the limit.
            data = stream.read(size + 1)
            if len(data) > size:
                data += stream.read(limit + 1 - len(data))
    except OSError as exc:
        raise FileRefused("A file could not be read.", reason="unreadable") from exc
    if len(data) > limit:
        raise FileTooLarge("A file is over the size limit.", limit=limit)
    return data
