"""The parts of `bench/discord.py` that run as their own processes.

- `fakes`: three fake Discords (REST API + gateway; one per target), the zero-latency fake
  OpenAI-format provider, and the simulated senders (`senders`) pushing mentions through
  a fake gateway;
- `baseline`: the bare aiohttp gateway client byokbot is compared with (the floor);
- `dpy`: discord.py alone answering each mention (how much of byokbot's cost is
  discord.py's).

They live in a package, not in `bench/*.py`, so `make bench` does not run them as benches.
"""
