"""A warm provider call imports nothing.

A failed import is not cached: each one searches every `sys.path` entry again. httpcore
asks for `sniffio` on every lock, cancellation shield and connection close, so without it
installed every provider call paid for several such searches (issue 15). The check runs
in a fresh interpreter with an audit hook counting the "import" events (raised only for
modules not yet in `sys.modules`) of the calling thread during a third call to a fake
provider; the fake's own thread is not counted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.kits.helpers import clean_env

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import asyncio
import sys
import threading

from bot.providers import Providers
from bot.providers.types import ChatMessage, ChatRequest, KeySpec
from tests.fakes.providers import FakeOpenAI


class Missing:
    # Makes the modules named on the command line unimportable, as if not installed.
    def find_spec(self, name, path=None, target=None):
        if name in sys.argv[1:]:
            raise ModuleNotFoundError(name)
        return None


sys.meta_path.insert(0, Missing())
caller = threading.get_ident()
seen = []
counting = False


def hook(event, args):
    if event == "import" and counting and threading.get_ident() == caller:
        seen.append(args[0])


sys.addaudithook(hook)


async def call(providers, key, request):
    async for _ in providers.stream_chat(key, request):
        pass


async def main(fake):
    global counting
    providers = Providers(allow_private_base_urls=True)
    key = KeySpec("openai", "k", fake.base_url)
    request = ChatRequest(model="m", messages=(ChatMessage("user", "hi"),))
    await call(providers, key, request)  # cold: connects and imports what it needs
    await call(providers, key, request)
    counting = True
    await call(providers, key, request)  # warm: a kept-alive connection
    counting = False
    await providers.aclose()


with FakeOpenAI(valid_keys=["k"]) as fake:
    asyncio.run(main(fake))
print(" ".join(sorted(set(seen))) or "-")
"""


def _imports_of_a_warm_call(*missing: str) -> str:
    env = clean_env({"PYTHONPATH": str(REPO)})
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *missing],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_a_warm_provider_call_imports_nothing() -> None:
    assert _imports_of_a_warm_call() == "-"


def test_the_check_sees_a_module_that_is_missing() -> None:
    # The same run without sniffio installed: httpcore's import of it fails on every call.
    assert "sniffio" in _imports_of_a_warm_call("sniffio").split()
