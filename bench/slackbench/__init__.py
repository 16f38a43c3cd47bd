"""The parts of `bench/slack.py` that run as their own processes.

- `fakes`: the fake Slack Web API and the zero-latency fake OpenAI-format provider;
- `loadgen`: the load generator (aiohttp client) sending signed `app_mention` events;
- `baseline`: the bare aiohttp app byokbot is compared with.

They live in a package, not in `bench/*.py`, so `make bench` does not run them as benches.
"""
