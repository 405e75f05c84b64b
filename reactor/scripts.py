"""Lua scripts of the reactor: loaded once, called by SHA, reloaded after a Redis restart.

A redis-py ``Script`` in a pipeline sends ``SCRIPT EXISTS`` before every
batch; calling ``EVALSHA`` ourselves and reloading on ``NOSCRIPT`` saves that
round trip.

Each script's source is its prelude and then its own file (``reactor/lua/<name>.lua``). The
prelude is, first, what is fixed for the life of a reactor: the key prefix and the key
builders (table ``K``, generated from ``shared.layout``: no script spells a key), the reply
codes (table ``C``, from ``reactor.outcomes``), the history cap (``EE_HISTORY_MAX``), the
retention of finished jobs (``EE_RETENTION``, as ``RETENTION_MS``), the script's arguments,
unpacked from the one msgpack table each call sends (``A``), and ``reply(code, fields)``, which
every script answers with; then the small libraries of steps several scripts share
(``reactor/lua/lib/``, in the order of ``LIBS``: each may use the ones before it). So a call
carries only its own values, and the SHA changes with the settings.

A call is a :class:`Call`: the script, its KEYS, its packed arguments and the decoder of its
outcome (built by one function per script, ``reactor.contracts``). A :class:`Runner` sends
calls: ``reactor.batcher.ScriptBatcher`` in the reactor, :class:`DirectRunner` in tests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, Protocol, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from reactor.outcomes import Fenced, lua_codes
from shared.errors import LeaseLost
from shared.layout import Keys, lua_keys

__all__ = ["CHILDREN_MAX", "DEFAULT_HISTORY_MAX", "DEFAULT_RETENTION_S", "LIBS", "NAMES", "WAKE_FIRED_BYTES",
           "WAKE_FIRED_MAX", "Call", "DirectRunner", "Runner", "ScriptBook"]

NAMES = ("start", "park", "finish", "cancel_before_start", "result", "timer", "lease", "signal", "heartbeat",
         "bot_lapse", "bot_grace", "event", "strand", "intake", "status_backfill", "purge",
         "lead_take", "lead_renew", "lead_release", "deploy", "retry",
         "task_claim", "task_complete", "task_reassign", "task_due", "limit_set", "dispatched")

# The shared steps, in an order where each library uses only the ones before it.
LIBS = ("fence", "jobs", "tasks", "queues", "limits", "events", "inbox", "wakes", "bots", "ends", "children")

# The clock's scripts and steps (reactor.clock, reactor.schedules): delayed starts, deadlines,
# schedules. Loaded after the others (its library uses them all).
CLOCK_NAMES = ("defer", "defer_start", "deadline_arm", "deadline", "schedule_put", "schedule_op", "schedule_fire")
CLOCK_LIBS = ("clock",)
__all__ += ["CLOCK_LIBS", "CLOCK_NAMES"]

DEFAULT_HISTORY_MAX = 10_000
DEFAULT_RETENTION_S = 7 * 86400.0
# A wake carries at most this many fired events of its job, and no more once their results pass
# WAKE_FIRED_BYTES (the first always goes): the rest ride with the next wake, which the park
# consuming these offers at once (reactor/lua/lib/wakes.lua, wake_of). So a wake stays well under
# NATS's max_payload (1 MiB by default) beside the checkpoint.
WAKE_FIRED_MAX = 1000
WAKE_FIRED_BYTES = 256 * 1024
# Child jobs one step cancels (a parent's end or a dropped wait, and their own children, through
# one queue); the ones beyond are returned and cancelled in steps of their own (reactor/lua/lib/children.lua).
CHILDREN_MAX = 1000

Out = TypeVar("Out")
Out_co = TypeVar("Out_co", covariant=True)

# Every script's first lines after the generated tables: its arguments, and how it answers.
_HEAD = """local A = cmsgpack.unpack(ARGV[1])
local function reply(code, t)
  if not code then error('reply with an unknown code') end
  t = t or {}
  t.o = code
  return cmsgpack.pack(t)
end
"""


_DEFINED = re.compile(r"^local function ([A-Za-z_]\w*)", re.M)
_WORD = re.compile(r"[A-Za-z_]\w*")


def _libs_used(script: str, libs: dict[str, str]) -> list[str]:
    """The libraries ``script`` needs, in their order: the fence (it runs first, in every
    script), each library defining a function the script calls, and those its libraries call
    in turn. A word in a comment may bring in one more than needed; none is ever left out."""
    defines = {lib: set(_DEFINED.findall(text)) for lib, text in libs.items()}
    used, words = {"fence"}, set(_WORD.findall(script))
    while True:
        more = [lib for lib in libs if lib not in used and defines[lib] & words]
        if not more:
            return [lib for lib in libs if lib in used]
        for lib in more:
            used.add(lib)
            words |= set(_WORD.findall(libs[lib]))


def _source(name: str, prefix: str, history_max: int, retention_s: float) -> str:
    """A script's whole source. Only what it uses: every call runs its prelude anew (each
    ``local function`` and key builder a closure made per call), so a script carrying every
    library and key of the engine paid about 11 µs more per call than one carrying its own."""
    lua = resources.files("reactor") / "lua"
    libs = {lib: (lua / "lib" / f"{lib}.lua").read_text() for lib in (*LIBS, *CLOCK_LIBS)}
    own = (lua / f"{name}.lua").read_text()
    body = "".join(libs[lib] + "\n" for lib in _libs_used(_HEAD + own, libs)) + own
    head = (f"local HISTORY_MAX = {int(history_max)}\nlocal RETENTION_MS = {round(retention_s * 1000)}\n"
            f"local FIRED_MAX = {WAKE_FIRED_MAX}\nlocal FIRED_BYTES = {WAKE_FIRED_BYTES}\n"
            f"local CHILDREN_MAX = {CHILDREN_MAX}\n"
            + lua_keys(prefix, set(re.findall(r"\bK\.(\w+)", body)))
            + lua_codes(set(re.findall(r"\bC\.(\w+)", body))) + _HEAD)
    return head + body


@dataclass(frozen=True, slots=True)
class Call(Generic[Out_co]):
    """One script call: KEYS (every key it touches that the caller can name), ARGV[1] (its
    arguments, packed) and how to read its reply (a msgspec decoder's ``decode``)."""

    script: str
    keys: tuple[str, ...]
    args: bytes
    decode: Callable[[bytes], Out_co]
    fenced: bool = True  # sent with the book's lease (only taking the lease is not)

    def outcome(self, reply: Any) -> Out_co:
        if isinstance(reply, Exception):
            raise reply
        return self.decode(reply)


_fenced = msgspec.msgpack.Decoder(Fenced)


def _decode_fenced(reply: Any) -> Fenced | None:
    try:
        return _fenced.decode(reply)
    except (msgspec.DecodeError, TypeError):
        return None


class ScriptBook:
    """Every script by name, with its SHA computed locally.

    ``history_max``: entries kept in each job's history stream (older ones are trimmed
    and counted in the job's ``history_trimmed`` field). ``retention_s``: the TTL the
    finishing step gives a finished job's keys (``EE_RETENTION``; 0: none).

    The fence: every call names ``lease``, the reactor lease this process holds (set when it
    takes the lease, ``""`` for tests and tools: unfenced), and the lease and epoch keys as its last keys;
    ``lib/fence.lua`` refuses the call (``Fenced``) when another reactor took the lease. ``outcome``
    raises ``LeaseLost`` for such a reply and sets ``lost``, which the reactor's leadership
    watches (reactor.leader): a fenced reactor stops."""

    def __init__(self, prefix: str = "ee:", history_max: int = DEFAULT_HISTORY_MAX,
                 retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.prefix = prefix
        self.history_max = history_max
        self.retention_s = retention_s
        self.lease = ""
        keys = Keys(prefix)
        self.fence_keys = (keys.reactor_leader, keys.reactor_epoch)
        self.lost: Fenced | None = None
        self.sources = {name: _source(name, prefix, history_max, retention_s) for name in (*NAMES, *CLOCK_NAMES)}
        self.shas = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in self.sources.items()}

    async def load(self, redis: aioredis.Redis) -> None:
        for src in self.sources.values():
            await redis.script_load(src)

    async def call_many(self, redis: aioredis.Redis, calls: list[Call[Any]]) -> list[Any]:
        """Several script calls in one round trip, each atomic on its own.

        Errors come back in place of results. Calls refused with ``NOSCRIPT``
        (Redis restarted) ran nothing and are sent again once the scripts are loaded.
        """
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for _ in range(2):
            pipe = redis.pipeline(transaction=False)
            for i in todo:
                call = calls[i]
                pipe.evalsha(self.shas[call.script], len(call.keys) + 2, *call.keys, *self.fence_keys, call.args,
                             self.lease if call.fenced else "")
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


    def outcome(self, call: Call[Out], reply: Any) -> Out:
        """The call's outcome; raises ``LeaseLost`` for a call the fence refused."""
        try:
            return call.outcome(reply)
        except msgspec.ValidationError as exc:
            # Not one of the script's own outcomes: the fence's refusal, or a reply this build cannot read.
            fenced = _decode_fenced(reply)
            if fenced is None:
                raise
            self.lost = fenced
            raise LeaseLost(self.lease, fenced.holder) from exc

    def outcomes(self, calls: list[Call[Out]], replies: list[Any]) -> list[Out | Exception]:
        """Each call's outcome, or the exception that is that call's alone (Redis's error, a
        reply this build cannot read, the fence's refusal); anything else is raised."""
        out: list[Out | Exception] = []
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, BaseException) and not isinstance(reply, Exception):
                raise reply
            try:
                out.append(self.outcome(call, reply))
            except Exception as exc:
                out.append(exc)
        return out


class Runner(Protocol):
    async def one(self, call: Call[Out]) -> Out:
        """The call's outcome; raises what Redis answered with instead."""
        ...

    async def many(self, calls: list[Call[Out]]) -> list[Out | Exception]:
        """Each call's outcome, or in its place the exception Redis answered with."""
        ...


class DirectRunner:
    """Each batch of calls in a round trip of its own (tests, tools): no batcher running."""

    def __init__(self, book: ScriptBook, redis: aioredis.Redis) -> None:
        self.book = book
        self.redis = redis

    async def one(self, call: Call[Out]) -> Out:
        [reply] = await self.book.call_many(self.redis, [call])
        return self.book.outcome(call, reply)

    async def many(self, calls: list[Call[Out]]) -> list[Out | Exception]:
        calls = list(calls)
        return self.book.outcomes(calls, await self.book.call_many(self.redis, calls))
