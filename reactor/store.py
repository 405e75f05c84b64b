"""The reactor's Redis store: every durable change is one Lua script call.

This module is the only place that knows the layout of ``ee:job:*``,
``ee:event:*`` and the global sets; callers get plain results back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis.asyncio as aioredis
import structlog

from reactor import deadletters
from reactor.batcher import ScriptBatcher
from reactor.scripts import DEFAULT_HISTORY_MAX, ScriptBook
from shared import clock
from shared.bounds import SIGNAL_INBOX_BYTES, bounded_text
from shared.errors import ForeignEvent, InboxFull, JobFinished, JobNotFound, SignalInboxOverBudget, StaleFence
from shared.messages import (
    ActivityWait,
    BotLockWait,
    Checkpoint,
    HistoryEntry,
    SignalWait,
    TimerWait,
    Wait,
    encode,
)
from shared.names import Keys, event_id_for

__all__ = ["ParkOutcome", "Store", "WakeData", "park_args", "wakes_in"]

log = structlog.get_logger("ee.reactor")
_json = msgspec.json.Encoder()


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class WakeData:
    """What the Lua scripts return for a fired event: raw JSON pieces of a wake."""

    job_id: str
    fence: bytes
    checkpoint: bytes
    digest: bytes
    input: bytes
    event_id: bytes
    kind: bytes
    result: bytes

    @classmethod
    def from_reply(cls, reply: list[Any], offset: int = 1) -> WakeData:
        r = reply[offset:]
        return cls(_s(r[0]), r[1], r[2], r[3], r[4] or b"{}", r[5], r[6], r[7] or b"null")

    def encode(self) -> bytes:
        """The ``Wake`` message, assembled from stored JSON without decoding it. The stored JSON
        pieces (checkpoint, input, result) were encoded by the engine; every plain string is
        encoded here, never pasted between quotes, so no id can break the message."""
        return b"".join((
            b'{"job_id":', _json.encode(self.job_id), b',"fence":', self.fence,
            b',"digest":', _json.encode(_s(self.digest)), b',"checkpoint":', self.checkpoint,
            b',"input":', self.input, b',"event_id":', _json.encode(_s(self.event_id)),
            b',"kind":', _json.encode(_s(self.kind)), b',"result":', self.result, b"}",
        ))


WAKE_ITEMS = 9


def wakes_in(items: list[Any]) -> list[WakeData]:
    """Wakes packed back to back, 9 items each, at the end of a script's reply."""
    return [WakeData.from_reply(items[i:i + WAKE_ITEMS]) for i in range(0, len(items), WAKE_ITEMS)]


@dataclass(frozen=True, slots=True)
class ParkOutcome:
    fence: int
    events: list[str]
    wakes: list[WakeData]
    # Activities whose first attempt the park already failed (their bot is not alive): no task.
    undispatched: set[str] = field(default_factory=set)


def _wait_fields(wait: Wait, now: float) -> tuple[str, str, bool, list[str]]:
    """(kind, timer due time or '', needs dispatch, flat hash fields) of one wait."""
    spec = encode(wait).decode()
    fields = ["node", wait.node, "spec", spec, "attempt", "1"]
    match wait:
        case ActivityWait():
            # signed: its tasks carry attempt tokens, so its results must too (result.lua).
            fields += ["activity", wait.activity, "phase", "running", "input", _json.encode(wait.input).decode(),
                       "signed", "1"]
            if wait.max_attempts > 1:  # absent means one attempt: no retry fields to store
                fields += ["max_attempts", str(wait.max_attempts), "backoff_s", str(wait.backoff_s),
                           "multiplier", str(wait.multiplier), "max_backoff_s", str(wait.max_backoff_s)]
            if wait.timeout_s is not None:
                fields += ["timeout_s", str(wait.timeout_s)]
            if wait.bot is not None:
                fields += ["bot", wait.bot]
            due = "" if wait.timeout_s is None else repr(now + wait.timeout_s)
            return "activity", due, True, fields
        case TimerWait():
            return "timer", repr(now + wait.seconds), False, fields
        case SignalWait():
            fields += ["signal", wait.signal]
            due = "" if wait.timeout_s is None else repr(now + wait.timeout_s)
            return "signal", due, False, fields
        case BotLockWait():
            fields += ["pool", wait.pool]
            due = "" if wait.timeout_s is None else repr(now + wait.timeout_s)
            return "bot_lock", due, False, fields


def park_args(prefix: str, lease_at: str, job_id: str, fence: int, checkpoint: Checkpoint, waits: list[Wait],
              consumed: list[str], history: list[HistoryEntry], build: str, now: float,
              release_bots: list[str]) -> tuple[tuple[Any, ...], list[str]]:
    """The park script's arguments, and the ids of the events it registers."""
    args: list[Any] = [prefix, job_id, fence, encode(checkpoint), repr(now), clock.iso(now),
                       build, lease_at, len(consumed), len(waits), len(history),
                       ",".join(release_bots), *consumed]
    events = []
    for index, wait in enumerate(waits):
        event_id = event_id_for(job_id, fence + 1, index)
        kind, due, dispatch, fields = _wait_fields(wait, now)
        args += [event_id, kind, due, "1" if dispatch else "0", len(fields), *fields]
        events.append(event_id)
    for entry in history:
        args += [entry.node, entry.event, entry.detail]
    return tuple(args), events


def _check(job_id: str, fence: int, reply: list[Any]) -> None:
    code = int(reply[0])
    if code == -1:
        raise JobNotFound(job_id)
    if code == -2:
        raise JobFinished(job_id, _s(reply[1]))
    if code == -3:
        raise StaleFence(job_id, fence, int(reply[1]))
    if code == -6:
        raise ForeignEvent(job_id, _s(reply[1]))


class Store:
    def __init__(self, redis: aioredis.Redis, keys: Keys, wake_lease_s: float, strand_after: int = 6,
                 history_max: int = DEFAULT_HISTORY_MAX) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = ScriptBook(history_max)
        self.batcher = ScriptBatcher(self.scripts, redis)
        self.wake_lease_s = wake_lease_s
        self.strand_after = strand_after
        self.inbox_max = 100
        self.inbox_max_bytes = SIGNAL_INBOX_BYTES
        self.inbox_ttl_s = 7 * 24 * 3600

    async def load(self) -> None:
        await self.scripts.load(self.redis)

    async def call(self, name: str, *args: Any) -> Any:
        """One script call, sent with whatever else is queued (see ``reactor.batcher``)."""
        reply = await self.batcher.call(name, *args)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def lease_at(self, now: float) -> str:
        return repr(now + self.wake_lease_s)

    # -- jobs ---------------------------------------------------------------

    async def start_job(self, job_id: str, digest: str, workflow: bytes, name: str, version: int,
                        checkpoint: Checkpoint, input_json: bytes, build: str) -> list[Any]:
        now = clock.now()
        reply: list[Any] = await self.call(
            "start", self.keys.prefix, job_id, digest, workflow, name, version,
            encode(checkpoint), input_json, repr(now), clock.iso(now), build, self.lease_at(now))
        return reply

    def park_args(self, job_id: str, fence: int, checkpoint: Checkpoint, waits: list[Wait],
                  consumed: list[str], history: list[HistoryEntry], build: str,
                  now: float, release_bots: list[str]) -> tuple[tuple[Any, ...], list[str]]:
        return park_args(self.keys.prefix, self.lease_at(now), job_id, fence, checkpoint, waits, consumed,
                         history, build, now, release_bots)

    @staticmethod
    def park_outcome(job_id: str, fence: int, events: list[str], reply: Any) -> ParkOutcome:
        if isinstance(reply, Exception):
            raise reply
        _check(job_id, fence, reply)
        skipped = int(reply[1])
        return ParkOutcome(int(reply[0]), events, wakes_in(reply[2 + skipped:]),
                           {_s(e) for e in reply[2:2 + skipped]})

    async def finish(self, job_id: str, fence: int | None, status: str, output: bytes, error: str,
                     history: list[HistoryEntry], build: str) -> tuple[int, list[str], list[WakeData]]:
        """Finish a job; returns its new fence, its dropped in-flight activities and the
        wakes of jobs that were granted the bots it released."""
        now = clock.now()
        args: list[Any] = [self.keys.prefix, job_id, "" if fence is None else fence, status, output, error,
                           clock.iso(now), build, len(history), self.lease_at(now)]
        for entry in history:
            args += [entry.node, entry.event, entry.detail]
        reply = await self.call("finish", *args)
        _check(job_id, fence or 0, reply)
        dropped = int(reply[1])
        return int(reply[0]), [_s(e) for e in reply[2:2 + dropped]], wakes_in(reply[2 + dropped:])

    async def cancel_before_start(self, job_id: str, reason: str) -> bool:
        """Record a job that does not exist yet as cancelled, so that when it is submitted its
        start finds it finished and it never runs. False when the job exists by now: cancel it
        the ordinary way then."""
        now = clock.now()
        at = clock.iso(now)
        reply = await self.call("finish", self.keys.prefix, job_id, "before-start", "cancelled", b"null",
                                reason, at, "", 1, self.lease_at(now),
                                "", "cancelled", f"{reason} (before the job started)", repr(now))
        return int(reply[0]) != -5

    async def intake(self, job_id: str, verdict: str, reason: str, build: str, name: str,
                     version: int) -> tuple[bool, str]:
        """Record a job no executor could start (see intake.lua): (recorded, its status)."""
        now = clock.now()
        reply = await self.call("intake", self.keys.prefix, job_id, verdict, reason, repr(now), clock.iso(now),
                                build, name, version)
        return int(reply[0]) == 1, _s(reply[1])

    async def strand(self, job_id: str, reason: str, build: str) -> None:
        reply = await self.call("strand", self.keys.prefix, job_id, reason, clock.iso(), build)
        _check(job_id, 0, reply)

    async def bot_call(self, mode: str, bot: str, *extra: Any) -> list[WakeData]:
        now = clock.now()
        reply = await self.call("bots", self.keys.prefix, mode, bot, clock.iso(now),
                                        self.lease_at(now), *extra)
        return wakes_in(reply[1:])

    async def signal(self, job_id: str, name: str, result: bytes) -> WakeData | None:
        now = clock.now()
        reply = await self.call(
            "signal", self.keys.prefix, job_id, name, result, repr(now), clock.iso(now),
            self.lease_at(now), self.inbox_max, self.inbox_ttl_s, self.inbox_max_bytes)
        code = int(reply[0])
        _check(job_id, 0, reply)
        if code == -4:
            raise InboxFull(job_id, name, self.inbox_max)
        if code == -7:
            raise SignalInboxOverBudget(job_id, name, int(reply[1]), len(name) + len(result), self.inbox_max_bytes)
        return WakeData.from_reply(reply) if code == 1 else None

    # -- results, timers, leases ---------------------------------------------

    def result_args(self, event_id: str, attempt: int, ok: bool, result: bytes, error: str,
                    now: float, token: bool = False) -> tuple[Any, ...]:
        """``token``: the result carried its attempt's valid token (checked by the caller)."""
        return (self.keys.prefix, event_id, attempt, "1" if ok else "0", result, error, repr(now),
                clock.iso(now), self.lease_at(now), "1" if token else "0")

    async def due(self, key: str, now: float, limit: int = 500) -> list[str]:
        members = await self.redis.zrangebyscore(key, "-inf", repr(now), start=0, num=limit)
        return [_s(m) for m in members]

    def timer_args(self, event_id: str, kind_timeout: bytes, now: float) -> tuple[Any, ...]:
        return (self.keys.prefix, event_id, repr(now), clock.iso(now), self.lease_at(now), kind_timeout)

    def lease_args(self, job_id: str, now: float, lapsed: bool) -> tuple[Any, ...]:
        return (self.keys.prefix, job_id, repr(now), clock.iso(now), self.wake_lease_s,
                "1" if lapsed else "0", self.strand_after)

    async def event_fields(self, event_id: str, *fields: str) -> list[str | None]:
        values: list[Any] = await self.redis.hmget(self.keys.event(event_id), list(fields))
        return [None if v is None else _s(v) for v in values]

    async def deadletter(self, subject: str, reason: str, data: bytes) -> None:
        """Record a refused message (capped list), and log it: subject and reason, never the data."""
        log.warning("dead letter", subject=bounded_text(subject, 200), reason=bounded_text(reason, 512),
                    size=len(data))
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(self.keys.deadletter, deadletters.record(clock.iso(), subject, reason, data))
        pipe.ltrim(self.keys.deadletter, 0, deadletters.KEEP - 1)  # at most deadletters.BUDGET_BYTES
        await pipe.execute()

    async def migrate_bot_indexes(self) -> int:
        """Move each known bot's event index from ``bot:<id>:events`` (before the ``bot-events:``
        family) to its key of today; returns how many were moved. Idempotent, one round trip
        per bot that has an old index, and nothing for a bot whose old key is another bot's
        hash (a bot named ``<id>:events``, before names were checked)."""
        bots = [_s(b) for b in await self.redis.smembers(self.keys.bots)]
        pipe = self.redis.pipeline(transaction=False)
        for bot in bots:
            pipe.type(self.keys.legacy_bot_events(bot))
        types = await pipe.execute() if bots else []
        moved = 0
        for bot, kind in zip(bots, types, strict=True):
            if _s(kind) != "zset":
                continue
            old, new = self.keys.legacy_bot_events(bot), self.keys.bot_events(bot)
            pipe = self.redis.pipeline(transaction=True)
            pipe.zunionstore(new, [new, old], aggregate="MIN")
            pipe.delete(old)
            await pipe.execute()
            moved += 1
        return moved

    async def workflow(self, digest: str) -> bytes | None:
        value: Any = await self.redis.get(self.keys.workflow(digest))
        return None if value is None else bytes(value)
