"""The clock's part of the store: its script calls and the reads its loops need.

Made by :meth:`reactor.store.Store.clock` over the store's own connection and batcher, so
the store stays the one door to Redis; kept apart so that the clock's keys and scripts are
found in one place (``ee:deferred``, ``ee:deadlines``, ``ee:overdue``, ``ee:schedule:*``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from reactor import contracts
from reactor.clock_outcomes import Deferred, Flagged, ScheduleExists, ScheduleStep
from reactor.outcomes import Finished, Fired, Nothing, Unknown, WakeData
from reactor.scripts import Runner
from shared import clock
from shared.errors import InvalidMessage, JobFinished, JobNotFound
from shared.layout import Keys, ScheduleRecord, decode_hash

__all__ = ["ClockStore"]

_FINAL = ("completed", "failed", "cancelled")


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class ClockStore:
    redis: aioredis.Redis
    keys: Keys
    run: Runner
    lease_at: Callable[[float], str]

    # -- delayed starts ------------------------------------------------------------

    async def defer(self, job_id: str, d: contracts.DeferredJob) -> tuple[bool, str]:
        """Record a pending job (created?, its status)."""
        out = await self.run.one(contracts.defer(self.keys, job_id=job_id, d=d))
        return isinstance(out, Deferred), out.status

    async def start_due(self, job_ids: list[str], now: float) -> list[WakeData]:
        """Start the pending jobs whose time came; their wakes."""
        at, lease_at = clock.iso(now), self.lease_at(now)
        outs = await self.run.many([contracts.defer_start(self.keys, job_id=j, now=repr(now), at=at,
                                                          lease_at=lease_at) for j in job_ids])
        return [out.wake for out in outs if isinstance(out, Fired)]

    # -- deadlines -------------------------------------------------------------------

    async def arm_deadline(self, job_id: str, deadline: float, on_deadline: str) -> None:
        out = await self.run.one(contracts.deadline_arm(self.keys, job_id=job_id, deadline=repr(deadline),
                                                        on_deadline=on_deadline))
        if isinstance(out, Unknown):
            raise JobNotFound(job_id)
        if isinstance(out, Finished):
            raise JobFinished(job_id, out.status)

    async def deadlines_due(self, job_ids: list[str], now: float, retry_s: float) -> list[tuple[str, Flagged]]:
        outs = await self.run.many([contracts.deadline(self.keys, job_id=j, now=repr(now), at=clock.iso(now),
                                                       retry_s=retry_s) for j in job_ids])
        return [(j, out) for j, out in zip(job_ids, outs, strict=True) if isinstance(out, Flagged)]

    async def overdue_unfinished(self, sample: int = 10_000) -> int:
        """Jobs flagged overdue that have not finished (the gauge ``ee_jobs_overdue``); ids whose
        job is gone (purged) leave the index."""
        members = [_s(m) for m in await self.redis.zrange(self.keys.overdue, 0, sample - 1)]
        if not members:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for j in members:
            pipe.hget(self.keys.job(j), "status")
        statuses = [None if v is None else _s(v) for v in await pipe.execute()]
        gone = [j for j, st in zip(members, statuses, strict=True) if st is None]
        if gone:
            await self.redis.zrem(self.keys.overdue, *gone)
        return sum(1 for st in statuses if st is not None and st not in _FINAL)

    # -- schedules --------------------------------------------------------------------

    async def schedule(self, name: str) -> dict[str, Any] | None:
        raw: dict[Any, Any] = await self.redis.hgetall(self.keys.schedule(name))
        return decode_hash(ScheduleRecord, raw) if raw else None

    async def schedule_raw_next(self, name: str) -> str | None:
        """The schedule's ``next`` as stored (the text a fire step compares)."""
        value = await self.redis.hget(self.keys.schedule(name), "next")
        return None if value is None else _s(value)

    async def schedule_names(self) -> list[str]:
        return [_s(m) for m in await self.redis.zrange(self.keys.schedules, 0, -1)]

    async def buffered_names(self) -> list[str]:
        return sorted(_s(m) for m in await self.redis.smembers(self.keys.schedules_buffered))

    async def job_status(self, job_id: str) -> str | None:
        value = await self.redis.hget(self.keys.job(job_id), "status")
        return None if value is None else _s(value)

    async def put_schedule(self, name: str, fields: dict[str, str], next_at: float, replace: bool) -> bool:
        """Store a schedule; False when it exists and ``replace`` is not set."""
        flat = [x for kv in fields.items() for x in kv]
        out = await self.run.one(contracts.schedule_put(self.keys, name=name, fields=flat, next=repr(next_at),
                                                        replace=replace))
        return not isinstance(out, ScheduleExists)

    async def schedule_op(self, name: str, op: str, next_at: float | None) -> None:
        out = await self.run.one(contracts.schedule_op(self.keys, name=name, op=op,
                                                       next="" if next_at is None else repr(next_at),
                                                       at=clock.iso()))
        if isinstance(out, Unknown):
            raise InvalidMessage("ee.reactor.schedule_op", f"no schedule named {name!r}")

    async def schedule_step(self, name: str, op: str, due: str, next_at: float | None, *, fire_at: str = "",
                            n: int = 0, job_id: str = "",
                            d: contracts.DeferredJob | None = None) -> ScheduleStep | None:
        out = await self.run.one(contracts.schedule_fire(
            self.keys, name=name, op=op, due=due, next="" if next_at is None else repr(next_at), at=clock.iso(),
            fire_at=fire_at, n=n, job_id=job_id, d=d))
        if isinstance(out, Nothing | Unknown):
            return None
        return out
