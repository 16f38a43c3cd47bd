"""Helpers every outside-in bench shares: /proc readers, child processes, databases, quantiles.

`bench/discord.py` builds on these; they are the generic parts of what `bench/slack.py`
first had in `bench/slackbench/procs.py`. Not a bench itself (`make bench` runs only
`bench/*.py`).
"""
