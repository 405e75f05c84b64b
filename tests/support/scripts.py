"""The reactor's scripts driven directly on a test's Redis: the typed calls of
``reactor.contracts`` with defaults a test rarely changes, chosen clock readings, and the
readings a script test asserts on (a record through its layout type, a job's history, every
key at once for "this call wrote nothing", a call made under a lease another reactor took)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
import pytest
import redis.asyncio as aioredis

from reactor import contracts
from reactor.clock_outcomes import Deferred, DeferredExisting
from reactor.outcomes import Fired, Nothing, Parked, Taken, WakeData
from reactor.scripts import DEFAULT_HISTORY_MAX, DEFAULT_RETENTION_S, Call, DirectRunner, ScriptBook
from reactor.store import new_waits
from shared import clock
from shared.errors import LeaseLost
from shared.layout import DeploymentRecord, JobRecord, Keys, ScheduleRecord, decode_hash
from shared.messages import Checkpoint, Wait, encode

__all__ = ["CHECKPOINT", "Driver", "fired", "open_driver"]

Out = TypeVar("Out")
CHECKPOINT = encode(Checkpoint(node="w"))


@asynccontextmanager
async def open_driver(url: str, now: float = 1_000_000.0, *,
                      retention_s: float = DEFAULT_RETENTION_S) -> AsyncIterator[Driver]:
    """A driver on its own connection to ``url``."""
    r = aioredis.from_url(url)
    try:
        yield Driver(r, now=now, retention_s=retention_s)
    finally:
        await r.aclose()


def fired(out: Any) -> list[WakeData]:
    """The wakes of a park's outcome (which must be ``Parked``)."""
    assert isinstance(out, Parked), out
    return out.wakes


class Driver:
    """``now``: the clock reading every call uses unless given its own (``at=``)."""

    def __init__(self, r: aioredis.Redis, prefix: str = "ee:", *, history_max: int = DEFAULT_HISTORY_MAX,
                 now: float | None = None, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.r = r
        self.keys = Keys(prefix)
        self.book = ScriptBook(prefix, history_max, retention_s)
        self.runner = DirectRunner(self.book, r)
        self.now = time.time() if now is None else now
        self.created: dict[str, float] = {}

    async def one(self, call: Call[Out]) -> Out:
        return await self.runner.one(call)

    async def many(self, calls: Sequence[Call[Out]]) -> list[Out]:
        outs = await self.runner.many(list(calls))
        for out in outs:
            assert not isinstance(out, Exception), out
        return outs  # type: ignore[return-value]

    def _t(self, at: float | None) -> float:
        return self.now if at is None else at

    def start(self, job_id: str, *, name: str = "t", at: float | None = None) -> Call[contracts.StartOutcome]:
        # Jobs started in this order are created in this order (their score in the jobs index).
        t = self.created.setdefault(job_id, self._t(at) + len(self.created) / 1000)
        return contracts.start(self.keys, job_id=job_id, digest="d", workflow=b"{}", name=name, version=1,
                               checkpoint=CHECKPOINT, input=b"{}", now=repr(t), at="t", build="test",
                               lease_at=repr(t + 60))

    def park(self, job_id: str, fence: int, waits: list[Wait], consumed: Sequence[str] = (), *,
             at: float | None = None, release: Sequence[str] = (),
             drop: Sequence[str] = ()) -> Call[contracts.ParkOutcome]:
        t = self._t(at)
        return contracts.park(self.keys, job_id=job_id, fence=fence, checkpoint=CHECKPOINT, now=repr(t),
                              at=clock.iso(t), build="test", lease_at=repr(t + 60), consumed=list(consumed),
                              waits=new_waits(job_id, fence, waits, t), history=[], release=list(release),
                              drop=list(drop))

    def finish(self, job_id: str, fence: int | None, status: str, *, output: bytes = b"null",
               error: str | None = None, at: float | None = None) -> Call[contracts.FinishOutcome]:
        t = self._t(at)
        why = error if error is not None else ("" if status == "completed" else "why")
        return contracts.finish(self.keys, job_id=job_id, fence=fence, status=status, output=output,
                                error=why, at="t", build="test", lease_at=repr(t + 60), history=[])

    def cancel_before_start(self, job_id: str, reason: str = "why", *, at: float | None = None) -> Call[Any]:
        return contracts.cancel_before_start(self.keys, job_id=job_id, error=reason, at="t", now=repr(self._t(at)),
                                             history=[])

    def result(self, event_id: str, attempt: int, ok: bool, *, result: bytes = b'{"ok":false}', error: str = "boom",
               token: bool = True, at: float | None = None) -> Call[contracts.ResultOutcome]:
        t = self._t(at)
        return contracts.result(self.keys, event_id=event_id, attempt=attempt, ok=ok, result=result, error=error,
                                now=repr(t), at="t", lease_at=repr(t + 60), token=token)

    def timer(self, event_id: str, *, timeout_result: bytes = b"null",
              at: float | None = None) -> Call[contracts.TimerOutcome]:
        t = self._t(at)
        return contracts.timer(self.keys, event_id=event_id, now=repr(t), at="t", lease_at=repr(t + 60),
                               timeout_result=timeout_result)

    def lease(self, job_id: str, *, lapsed: bool, lease_s: float = 10.0, strand_after: int = 6,
              at: float | None = None) -> Call[contracts.LeaseOutcome]:
        return contracts.lease(self.keys, job_id=job_id, now=repr(self._t(at)), at="t", lease_s=lease_s,
                               lapsed=lapsed, strand_after=strand_after)

    def signal(self, job_id: str, name: str, result: bytes, *, inbox_ttl_s: int = 3600, inbox_max: int = 100,
               inbox_max_bytes: int = 1 << 20, at: float | None = None) -> Call[contracts.SignalOutcome]:
        t = self._t(at)
        return contracts.signal(self.keys, job_id=job_id, name=name, result=result, now=repr(t), at="t",
                                lease_at=repr(t + 60), inbox_max=inbox_max, inbox_ttl_s=inbox_ttl_s,
                                inbox_max_bytes=inbox_max_bytes)

    def event(self, event_id: str, op: str, *, result: bytes = b'{"ok":true}', timeout_s: float = 0,
              at: float | None = None) -> Call[contracts.EventOutcome]:
        t = self._t(at)
        return contracts.event(self.keys, event_id=event_id, op=op, result=result, now=repr(t), at="t",
                               lease_at=repr(t + 60), timeout_s=str(timeout_s))

    def heartbeat(self, bot: str, pool: str, *, lease_s: float = 3600.0, stopping: bool = False,
                  held: Sequence[tuple[str, int]] = (), at: float | None = None) -> Call[Any]:
        t = self._t(at)
        return contracts.heartbeat(self.keys, bot=bot, pool=pool, worker="w", lease_until=repr(t + lease_s),
                                   stopping=stopping, now=repr(t), at="t", lease_at=repr(t + 60),
                                   lease_s=repr(lease_s), held=list(held))

    def bot_lapse(self, bot: str, *, at: float | None = None) -> Call[Any]:
        t = self._t(at)
        return contracts.bot_lapse(self.keys, bot=bot, now=repr(t), at="t", lease_at=repr(t + 60))

    def bot_grace(self, default_lease_s: float = 15.0, *, at: float | None = None) -> Call[Any]:
        return contracts.bot_grace(self.keys, now=repr(self._t(at)), default_lease_s=default_lease_s)

    def intake(self, job_id: str, verdict: str, reason: str = "unknown node kind", *,
               at: float | None = None) -> Call[Any]:
        return contracts.intake(self.keys, job_id=job_id, verdict=verdict, reason=reason, now=repr(self._t(at)),
                                at="t", build="old", name="wf", version=1)

    def purge(self, status: str, older_than_s: float = 0.0, limit: int = 100) -> Call[Any]:
        return contracts.purge(self.keys, status=status, older_than_s=older_than_s, limit=limit)

    def dispatched(self, *sent: tuple[str, int]) -> Call[Any]:
        return contracts.dispatched(self.keys, sent=list(sent))

    def strand(self, job_id: str, reason: str) -> Call[Any]:
        return contracts.strand(self.keys, job_id=job_id, reason=reason, at="t", build="test")

    def status_backfill(self, count: int) -> Call[Any]:
        return contracts.status_backfill(self.keys, count=count)

    def deploy(self, name: str, version: int, digest: str, *, workflow: bytes = b"{}", by: str = "me",
               at: float | None = None) -> Call[contracts.DeployOutcome]:
        t = self._t(at)
        record = msgspec.json.encode(DeploymentRecord(digest=digest, at=clock.iso(t), by=by))
        return contracts.deploy(self.keys, name=name, version=version, digest=digest, workflow=workflow,
                                record=record, now=repr(t))

    def retry(self, job_id: str, fence: int, *, checkpoint: bytes = b"", node: str = "w", by: str = "me",
              at: float | None = None) -> Call[contracts.RetryOutcome]:
        t = self._t(at)
        return contracts.retry(self.keys, job_id=job_id, fence=fence, checkpoint=checkpoint, node=node, by=by,
                               at=clock.iso(t), lease_at=repr(t + 60))

    # -- the clock ---------------------------------------------------------------------------

    def deferred_job(self, not_before: float, *, digest: str = "d", deadline: float | None = None,
                     on_deadline: str = "flag", schedule: str = "", fire_time: str = "",
                     at: float | None = None, priority: int = 5) -> contracts.DeferredJob:
        """A job to start at ``not_before``, as reactor.clock describes one."""
        t = self._t(at)
        return contracts.DeferredJob(digest=digest, workflow="{}", name="t", version=1,
                                     checkpoint=CHECKPOINT.decode(), input="{}", not_before=repr(not_before),
                                     now=repr(t), at=clock.iso(t), build="test", detail="later",
                                     deadline="" if deadline is None else repr(deadline), on_deadline=on_deadline,
                                     schedule=schedule, fire_time=fire_time, priority=priority)

    def defer(self, job_id: str, not_before: float, *, deadline: float | None = None, on_deadline: str = "flag",
              at: float | None = None, priority: int = 5) -> Call[Deferred | DeferredExisting]:
        d = self.deferred_job(not_before, deadline=deadline, on_deadline=on_deadline, at=at, priority=priority)
        return contracts.defer(self.keys, job_id=job_id, d=d)

    def defer_start(self, job_id: str, *, at: float | None = None) -> Call[Fired | Nothing]:
        t = self._t(at)
        return contracts.defer_start(self.keys, job_id=job_id, now=repr(t), at=clock.iso(t), lease_at=repr(t + 60))

    def deadline_arm(self, job_id: str, deadline: float | str, on_deadline: str = "flag") -> Call[Any]:
        return contracts.deadline_arm(self.keys, job_id=job_id,
                                      deadline=deadline if isinstance(deadline, str) else repr(deadline),
                                      on_deadline=on_deadline)

    def deadline(self, job_id: str, *, retry_s: float = 30.0, at: float | None = None) -> Call[Any]:
        t = self._t(at)
        return contracts.deadline(self.keys, job_id=job_id, now=repr(t), at=clock.iso(t), retry_s=retry_s)

    def schedule_put(self, name: str, next: float, *, overlap: str = "skip", replace: bool = False,
                     **fields: str) -> Call[Any]:
        flat = [x for kv in {"name": name, "cron": "* * * * *", "overlap": overlap, **fields}.items() for x in kv]
        return contracts.schedule_put(self.keys, name=name, fields=flat, next=repr(next), replace=replace)

    def schedule_op(self, name: str, op: str, next: float | None = None, *, at: float | None = None) -> Call[Any]:
        return contracts.schedule_op(self.keys, name=name, op=op, next="" if next is None else repr(next),
                                     at=clock.iso(self._t(at)))

    def schedule_fire(self, name: str, op: str, due: float | None, next: float | None = None, *, n: int = 0,
                      job_id: str = "", at: float | None = None) -> Call[Any]:
        """One step of schedule ``name``; a step that may start a job (``job_id``) starts it now."""
        t = self._t(at)
        return contracts.schedule_fire(self.keys, name=name, op=op, due="" if due is None else repr(due),
                                       next="" if next is None else repr(next), at=clock.iso(t),
                                       fire_at=clock.iso(t if due is None else due), n=n, job_id=job_id,
                                       d=self.deferred_job(t, schedule=name, fire_time=clock.iso(t), at=t)
                                       if job_id else None)

    # -- what the scripts wrote --------------------------------------------------------------

    async def job(self, job_id: str) -> dict[str, Any]:
        """The job's record, read by its layout type ({} when there is none)."""
        return decode_hash(JobRecord, await self.r.hgetall(self.keys.job(job_id)))

    async def schedule(self, name: str) -> dict[str, Any]:
        return decode_hash(ScheduleRecord, await self.r.hgetall(self.keys.schedule(name)))

    async def history(self, job_id: str) -> list[str]:
        """The ``event`` of each entry of the job's history, oldest first."""
        entries: Any = await self.r.xrange(self.keys.job_history(job_id))
        return [fields[b"event"].decode() for _, fields in entries]

    async def snapshot(self) -> dict[bytes, bytes | None]:
        """Every key and its serialized value (DUMP): equal before and after a call that wrote nothing."""
        names: Any = await self.r.keys("*")
        return {k: await self.r.dump(k) for k in sorted(names)}

    async def fenced(self, call: Call[Any]) -> str:
        """Make ``call`` as a reactor whose lease ran out and was taken by a standby: the fence
        refuses it (``LeaseLost``) and not one key changes. Returns the standby's lease (which
        the lease keys hold now); later calls are unfenced again."""
        await self.r.delete(self.keys.reactor_leader)
        old = await self.one(contracts.lead_take(self.keys, instance="old", ttl_ms=60_000))
        assert isinstance(old, Taken), old
        await self.r.delete(self.keys.reactor_leader)  # its lease ran out ...
        new = await self.one(contracts.lead_take(self.keys, instance="new", ttl_ms=60_000))
        assert isinstance(new, Taken), new  # ... and a standby took over
        before = await self.snapshot()
        self.book.lease = old.lease
        try:
            with pytest.raises(LeaseLost) as lost:
                await self.one(call)
        finally:
            self.book.lease = ""
            self.book.lost = None
        assert lost.value.holder == new.lease
        assert await self.snapshot() == before
        return new.lease
