"""Lua scripts of the reactor: loaded once, called by SHA, reloaded after a Redis restart.

A redis-py ``Script`` in a pipeline sends ``SCRIPT EXISTS`` before every
batch; calling ``EVALSHA`` ourselves and reloading on ``NOSCRIPT`` saves that
round trip.

The key builders (table ``K``, generated from ``shared.layout``) and the settings fixed for
the life of a reactor (the history cap, ``EE_HISTORY_MAX``) are written into the scripts'
source as Lua ahead of the prelude rather than
sent with every call: each script call stays as it is, and the SHA changes with them.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from shared.layout import lua_keys

__all__ = ["DEFAULT_HISTORY_MAX", "ScriptBook"]

_NAMES = ("start", "park", "finish", "result", "timer", "lease", "signal", "bots", "event", "strand",
          "intake", "status_backfill")

DEFAULT_HISTORY_MAX = 10_000


def _source(name: str, history_max: int) -> str:
    lua = resources.files("reactor") / "lua"
    constants = f"local HISTORY_MAX = {int(history_max)}\n" + lua_keys()
    return constants + (lua / "prelude.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


class ScriptBook:
    """Every script by name, with its SHA computed locally.

    ``history_max``: entries kept in each job's history stream (older ones are trimmed
    and counted in the job's ``history_trimmed`` field)."""

    def __init__(self, history_max: int = DEFAULT_HISTORY_MAX) -> None:
        self.history_max = history_max
        self.sources = {name: _source(name, history_max) for name in _NAMES}
        self.shas = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in self.sources.items()}

    async def load(self, redis: aioredis.Redis) -> None:
        for src in self.sources.values():
            await redis.script_load(src)

    async def call(self, redis: aioredis.Redis, name: str, *args: Any) -> Any:
        try:
            return await redis.evalsha(self.shas[name], 0, *args)
        except NoScriptError:
            await self.load(redis)
            return await redis.evalsha(self.shas[name], 0, *args)

    async def call_many(self, redis: aioredis.Redis, calls: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Several script calls in one round trip, each atomic on its own.

        Errors come back in place of results. Calls refused with ``NOSCRIPT``
        (Redis restarted) ran nothing and are sent again once the scripts are loaded.
        """
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for _ in range(2):
            pipe = redis.pipeline(transaction=False)
            for i in todo:
                name, args = calls[i]
                pipe.evalsha(self.shas[name], 0, *args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
            missing = []
            for i, reply in zip(todo, replies, strict=True):
                results[i] = reply
                if isinstance(reply, NoScriptError):
                    missing.append(i)
            if not missing:
                break
            await self.load(redis)
            todo = missing
        return results
