"""Every script is called with the keys it touches in KEYS (docs/architecture.md, "Redis
Cluster: hash slots"): each script's call, under MONITOR, touches no key beyond its KEYS but
the documented exceptions, keys a script learns only from stored values: the status index a
job leaves (read from the job), a human task's assignee index (read from the event), a lost
bot's pool (read from the bot), and the walks of bot_grace (every bot), status_backfill (every
job) and purge (the jobs it removes)."""

from __future__ import annotations

import shlex

import pytest
import redis.asyncio as aioredis

from tests.scripts.test_fence import FENCED
from tests.support.scripts import open_driver

pytestmark = pytest.mark.anyio

# Key prefixes (after the engine's "ee:") a script may touch without naming them in KEYS.
EVERY_SCRIPT = ("jobs:status:", "tasks:assignee:")
ONLY = {"bot_grace": ("bot:",), "bot_lapse": ("pool:",), "purge": ("job:{",), "status_backfill": ("job:{",)}
MANY_KEYS = {"del", "exists", "unlink", "mget"}
NO_KEY = {"time"}
END = "end-of-call"


def keys_of(command: str) -> list[str]:
    """The keys a command that a script sent names (as MONITOR shows it)."""
    parts = shlex.split(command)
    name = parts[0].lower()
    if name in NO_KEY:
        return []
    return parts[1:] if name in MANY_KEYS else parts[1:2]


@pytest.mark.parametrize("script", sorted(FENCED))
async def test_a_script_touches_only_the_keys_it_is_called_with(script: str, redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        call = await FENCED[script](d)
        watcher = aioredis.from_url(redis_url)
        touched: set[str] = set()
        try:
            async with watcher.monitor() as monitor:
                await d.one(call)
                await d.r.echo(END)
                while END not in (seen := await monitor.next_command())["command"]:
                    if seen.get("client_type") == "lua":
                        touched.update(keys_of(seen["command"]))
        finally:
            await watcher.aclose()
        assert touched, "MONITOR showed none of the script's commands"
        allowed = tuple("ee:" + p for p in (*EVERY_SCRIPT, *ONLY.get(script, ())))
        undeclared = sorted(k for k in touched - set(call.keys) - set(d.book.fence_keys) if not k.startswith(allowed))
        assert not undeclared, f"{script} touches keys its call does not name: {undeclared}"
