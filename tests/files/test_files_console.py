"""`@agent --file PATH … text` in a real `byokbot shell`, against the three provider families.

The provider receives the exact bytes (base64 decoding to the original file), PDFs as
document parts (OpenAI, Anthropic), inline data (Gemini) or extracted text (compatible
servers); text files as text; a key inside a file never leaves; every file left out gets
its line and the text is still answered; nothing lands in the private TMPDIR and no file
name reaches the log or the database; the budget's worst case counts the image.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.liveshell import LiveShell
from tests.fakes.content import SentFile, anthropic_files, gemini_files, openai_files
from tests.fakes.providers import FakeAnthropic, FakeGemini, FakeOpenAI
from tests.fakes.server import FakeServer
from tests.kits.filekit import image, pdf
from tests.kits.platform_files import assert_nowhere, tmp_entries

KEY = "test-key"
REPLY = "It shows a red square."
MODELS = {
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "openai-compatible": "qwen2.5-vl-7b",
}
PLANTED = "sk-proj-PlantedInAFile0123456789abcdefXYZ"
NOTES = "Release notes: the zebra parser now handles stripes.\n"
# Names nothing else in a run would contain, so finding one anywhere is a leak.
IMAGE_NAME = "okapi-screenshot-4417.png"
PDF_NAME = "okapi-invoice-4417.pdf"
TEXT_NAME = "okapi-notes-4417.md"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    servers: dict[str, FakeServer] = {
        "openai": FakeOpenAI(valid_keys=[KEY], reply=REPLY),
        "anthropic": FakeAnthropic(valid_keys=[KEY], reply=REPLY),
        "gemini": FakeGemini(valid_keys=[KEY], reply=REPLY),
        "openai-compatible": FakeOpenAI(valid_keys=[KEY], reply=REPLY),
    }
    for server in servers.values():
        server.__enter__()
    yield servers
    for server in servers.values():
        server.__exit__(None, None, None)


class Shell:
    """One test's view of the module's `byokbot shell`: its own files, agent and key names.

    All the module's tests feed one long-running shell on one database (a process per test
    is what cost the time), so each test names its agent and key afresh: nothing a test
    made is seen by another's agent. The shell's TMPDIR and log are the module's: a test
    checks them all, its predecessors' included.
    """

    def __init__(self, live: LiveShell, *, tmpdir: Path, files: Path, number: int) -> None:
        self.live = live
        self.database_url = live.env["BYOKBOT_DATABASE_URL"]
        self.cwd = live.cwd
        self.tmpdir = tmpdir
        self.files = files
        self.name = f"seer{number}"
        self.key = f"k{number}"

    def __call__(self, *lines: str) -> str:
        return self.live.send(*lines, timeout=120)

    def file(self, name: str, content: bytes) -> Path:
        path = self.files / name
        path.write_bytes(content)
        return path

    def agent(self, family: str, fake: FakeServer, *, model: str | None = None) -> None:
        out = self(
            f"/byok key add {family} {self.key} {KEY} --base-url {fake.base_url} --no-verify",
            f"/byok agent create {self.name} --key {self.key} "
            f"--model {model or MODELS[family]} --no-verify",
        )
        assert "stored" in out and "created" in out, out

    def all_logs(self) -> str:
        on_disk = [p.read_text(errors="replace") for p in self.cwd.rglob("*.log")]
        return self.live.stderr + "".join(on_disk)


@pytest.fixture(scope="module")
def live_shell(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveShell]:
    """The module's one `byokbot shell`, with a private TMPDIR and working directory."""
    root = tmp_path_factory.mktemp("files-console")
    for folder in ("cwd", "tmp"):
        (root / folder).mkdir()
    env = {
        "BYOKBOT_DATABASE_URL": module_database_url,
        "BYOKBOT_MASTER_KEY_FILE": str(root / "master.key"),
        "BYOKBOT_ALLOW_PRIVATE_BASE_URLS": "true",
        "BYOKBOT_LOG_LEVEL": "DEBUG",
        "TMPDIR": str(root / "tmp"),
        "USER": "tester",
    }
    with LiveShell(env=env, cwd=root / "cwd") as live:
        yield live


@pytest.fixture
def shell(live_shell: LiveShell, tmp_path: Path, fakes: dict[str, FakeServer]) -> Iterator[Shell]:
    for fake in fakes.values():
        fake.reset()
        fake.reply = REPLY
    files = tmp_path / "files"
    files.mkdir()
    number = next(_NUMBERS)
    yield Shell(live_shell, tmpdir=Path(live_shell.env["TMPDIR"]), files=files, number=number)
    live_shell.check()


_NUMBERS = itertools.count(1)


def sent(family: str, fake: FakeServer) -> list[SentFile]:
    body = fake.chat_requests[-1].json
    if family == "anthropic":
        return anthropic_files(body)
    return gemini_files(body) if family == "gemini" else openai_files(body)


def request_text(fake: FakeServer) -> str:
    return fake.chat_requests[-1].body.decode()


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini", "openai-compatible"])
def test_image_pdf_and_text_file_reach_the_provider_exactly(
    shell: Shell, fakes: dict[str, FakeServer], family: str
) -> None:
    fake = fakes[family]
    shell.agent(family, fake)
    png = image("PNG", size=(64, 48))
    document = pdf(["Invoice 4417 total 12 EUR", "Page two"])
    a = shell.file(IMAGE_NAME, png)
    b = shell.file(PDF_NAME, document)
    c = shell.file(TEXT_NAME, NOTES.encode())
    out = shell(f"@{shell.name} --file {a} --file {b} --file {c} What do these show?")
    assert REPLY in out
    assert "left out" not in out
    files = sent(family, fake)
    kinds = [(f.kind, f.mime, f.data) for f in files]
    if family == "openai-compatible":  # image parts; the PDF as its extracted text
        assert kinds == [("image", "image/png", png)]
        assert "Invoice 4417 total 12 EUR" in request_text(fake)
    else:
        pdf_kind = {"openai": "document", "anthropic": "document", "gemini": "inline"}[family]
        image_kind = "inline" if family == "gemini" else "image"
        assert kinds == [
            (image_kind, "image/png", png),
            (pdf_kind, "application/pdf", document),
        ]
    body = request_text(fake)
    assert "What do these show?" in body and "zebra parser now handles stripes" in body
    # In memory only, and the names stay out of the log and the database.
    assert tmp_entries(shell.tmpdir) == []
    for name in (IMAGE_NAME, PDF_NAME, TEXT_NAME):
        assert_nowhere(name, log=shell.all_logs(), database_url=shell.database_url)


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
def test_refused_files_get_their_lines_and_the_text_is_answered(
    shell: Shell, fakes: dict[str, FakeServer], family: str
) -> None:
    fake = fakes[family]
    shell.agent(family, fake)
    keyed = shell.file("okapi-keys-4417.txt", f"config:\napi_key = {PLANTED}\n".encode())
    keyed_pdf = shell.file("okapi-keys-4417.pdf", pdf([f"key {PLANTED}"]))
    big = shell.files / "okapi-huge-4417.png"
    with big.open("wb") as handle:  # sparse: declared over 20 MB, never read
        handle.truncate(20 * 1024 * 1024 + 1)
    binary = shell.file("okapi-blob-4417.bin", os.urandom(4096) + b"\x00")
    fake_png = shell.file("okapi-fake-4417.png", b"not really a png\x00\x01\x02")
    good = shell.file(IMAGE_NAME, image("GIF", size=(10, 10)))
    out = shell(
        f"@{shell.name} --file {keyed} --file {keyed_pdf} --file {big} --file {binary} "
        f"--file {fake_png} --file {good} Summarise please"
    )
    lines = out.splitlines()
    assert "Only 5 files of a message are read; 1 more left out." in lines
    assert any("Attachment 1 looks like it contains a provider API key" in x for x in lines)
    assert any("Attachment 2 looks like it contains a provider API key" in x for x in lines)
    assert "Attachment 3 is over the 20 MB limit, so it was left out." in lines
    assert any(x.startswith("Attachment 4 is not a supported type") for x in lines)
    assert any(x.startswith("Attachment 5 is not a supported type") for x in lines)
    assert REPLY in out  # the text is still answered
    assert len(fake.chat_requests) == 1
    assert sent(family, fake) == []  # the sixth (good) file was over the count
    everything = b"".join(r.body for r in fake.requests)
    assert PLANTED.encode() not in everything
    assert b"Summarise please" in everything
    assert PLANTED not in out + shell.all_logs()
    assert tmp_entries(shell.tmpdir) == []
    for name in ("okapi-keys-4417", "okapi-huge-4417", "okapi-blob-4417", "okapi-fake-4417"):
        assert_nowhere(name, log=shell.all_logs(), database_url=shell.database_url)


def test_model_without_image_input_gets_a_line(shell: Shell, fakes: dict[str, FakeServer]) -> None:
    fake = fakes["openai"]
    shell.agent("openai", fake, model="gpt-3.5-turbo")
    png = shell.file(IMAGE_NAME, image("PNG"))
    out = shell(f"@{shell.name} --file {png} What is this?")
    assert (
        f"Agent {shell.name}'s model gpt-3.5-turbo does not take images, "
        "so attachment 1 was left out." in out.splitlines()
    )
    assert REPLY in out
    assert sent("openai", fake) == []


def test_a_file_without_text_and_nothing_sendable_makes_no_call(
    shell: Shell, fakes: dict[str, FakeServer]
) -> None:
    fake = fakes["anthropic"]
    shell.agent("anthropic", fake)
    missing = shell.files / "okapi-missing-4417.png"
    out = shell(f"@{shell.name} --file {missing} hello")
    assert "Attachment 1 could not be downloaded, so it was left out." in out.splitlines()
    assert REPLY in out


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
def test_worst_case_reservation_counts_the_image(
    shell: Shell, fakes: dict[str, FakeServer], family: str
) -> None:
    fake = fakes[family]
    model = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}.get(family)
    shell.agent(family, fake, model=model or "gemini-2.0-flash")
    # A 4096x4096 image: the most tokens each family charges for one image.
    big = shell.file(IMAGE_NAME, image("PNG", size=(4096, 4096)))
    budget = {"openai": "0.003", "anthropic": "0.0025", "gemini": "0.0004"}[family]
    out = shell(
        f"/byok agent set {shell.name} --max-tokens 500",
        f"/byok limit set {shell.name} {budget} --per day",
        f"@{shell.name} --file {big} What is this?",
        f"@{shell.name} What is a zebra?",
    )
    lines = out.splitlines()
    # The wording of the refusal is the budgets' own; it is the image call that is refused.
    assert any(x.startswith(("Budget exhausted", "Over budget")) for x in lines), out
    assert REPLY in out  # the text-only call fits the same budget
    assert len(fake.chat_requests) == 1 and sent(family, fake) == []
