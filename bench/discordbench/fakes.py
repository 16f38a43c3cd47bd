"""The fakes process of `bench/discord.py`: fake Discords, the fake provider, the senders.

    python -m bench.discordbench.fakes

Serves on 127.0.0.1, in this one process: a fake Discord (REST API + gateway,
`tests/fakes/discord/`) for each target (byokbot, baseline, dpy), so each holds its own
gateway session, and the zero-latency fake OpenAI-format provider (`tests/fakes/providers.py`)
answering `REPLY`. The simulated senders (`senders.py`) run here too: a gateway
dispatch starts in the fake that sends it. Control is one JSON command per stdin line, one
JSON reply per stdout line (the first line says where everything listens); the process
ends when stdin closes. Commands:

- `{"cmd": "connected", "target": name}`: `{"connected": bool}`, the target's gateway
  session is live;
- `{"cmd": "setup"}`: key add + agent create + bind in the channel on byokbot's fake
  (real app commands through `tests.fakes.discord_driver.DiscordDriver`);
- `{"cmd": "round", "target": name, "senders": n, "events": n}`: one round (see
  `senders.run_round`), plus the provider calls and this process's CPU seconds in it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from bench.benchkit.procs import own_cpu_seconds
from bench.discordbench.senders import REPLY, run_round
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_driver import DiscordDriver
from tests.fakes.providers import FakeOpenAI

TARGETS = ("byokbot", "baseline", "dpy")


def main() -> int:
    """Serve the fakes and answer control commands until stdin closes."""
    with FakeOpenAI(reply=REPLY) as provider:
        fakes = {name: FakeDiscord().start() for name in TARGETS}
        try:
            serve_commands(fakes, provider)
        finally:
            for fake in fakes.values():
                fake.stop()
    return 0


def serve_commands(fakes: dict[str, FakeDiscord], provider: FakeOpenAI) -> None:
    """Answer control commands from stdin until it closes."""

    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    reply(
        {
            "discord": {name: fake.base_url for name, fake in fakes.items()},
            "token": fakes["byokbot"].token,
            "provider": provider.base_url,
            "pid": os.getpid(),
        }
    )
    for line in sys.stdin:
        command = json.loads(line)
        try:
            reply(run_command(command, fakes, provider))
        except Exception as exc:  # the orchestrator shows it and stops
            reply({"error": f"{command.get('cmd')}: {type(exc).__name__}: {exc}"})


def run_command(
    command: dict[str, Any], fakes: dict[str, FakeDiscord], provider: FakeOpenAI
) -> dict[str, Any]:
    """One control command's reply."""
    name = command.get("cmd")
    if name == "connected":
        return {"connected": fakes[command["target"]].connected()}
    if name == "setup":
        DiscordDriver(fakes["byokbot"]).create_agent(provider.base_url)
        return {"ok": True}
    if name == "round":
        provider.reset()
        cpu0 = own_cpu_seconds()
        result = run_round(
            fakes[command["target"]],
            senders=int(command["senders"]),
            events=int(command["events"]),
        )
        result["cpu"] = own_cpu_seconds() - cpu0
        result["provider_calls"] = len(provider.chat_requests)
        return result
    raise ValueError(f"unknown command {name!r}")


if __name__ == "__main__":
    raise SystemExit(main())
