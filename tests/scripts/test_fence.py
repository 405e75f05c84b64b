"""The fence (lib/fence.lua), script by script: a call that names a lease another reactor took
is refused and writes nothing, and the very same call under the lease stored does write (so
each refusal below is of a call that would have changed something).

One table, one row per fenced script: every script but lead_take (the only unfenced call: its
caller holds no lease yet). test_lead.py tests the lease itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from reactor import contracts
from reactor.scripts import CLOCK_NAMES, NAMES, Call
from shared.messages import ActivityWait, SignalWait, TaskWait, TimerWait, Wait
from tests.support.scripts import Driver, open_driver

pytestmark = pytest.mark.anyio

Setup = Callable[[Driver], Awaitable[Call[Any]]]
GO = SignalWait(node="w", signal="go")
TASK = TaskWait(node="ask", title="Approve", assignee="group:finance", form={"type": "object"}, due_s=5)


async def parked(d: Driver, *waits: Wait) -> None:
    await d.one(d.start("j"))
    await d.one(d.park("j", 0, list(waits)))


async def start(d: Driver) -> Call[Any]:
    return d.start("j")


async def park(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    return d.park("j", 0, [GO])


async def finish(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    return d.finish("j", 0, "completed")


async def cancel_before_start(d: Driver) -> Call[Any]:
    return d.cancel_before_start("j")


async def result(d: Driver) -> Call[Any]:
    await parked(d, ActivityWait(node="a", activity="demo.echo"))
    return d.result("j~1.0", 1, True, result=b'{"ok":true}')


async def timer(d: Driver) -> Call[Any]:
    await parked(d, TimerWait(node="w", seconds=1))
    return d.timer("j~1.0", at=d.now + 1)


async def lease(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    return d.lease("j", lapsed=True, at=d.now + 61)


async def signal(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    return d.signal("j", "go", b'{"ok":true}')


async def heartbeat(d: Driver) -> Call[Any]:
    return d.heartbeat("b1", "erp")


async def bot_lapse(d: Driver) -> Call[Any]:
    await d.one(d.heartbeat("b1", "erp", lease_s=10))
    return d.bot_lapse("b1", at=d.now + 11)


async def bot_grace(d: Driver) -> Call[Any]:
    await d.one(d.heartbeat("b1", "erp", lease_s=2, at=d.now - 10))
    return d.bot_grace()


async def event(d: Driver) -> Call[Any]:
    await parked(d, GO)
    return d.event("j~1.0", "resolve")


async def dispatched(d: Driver) -> Call[Any]:
    await parked(d, ActivityWait(node="a", activity="demo.echo"))
    return d.dispatched(("j~1.0", 1))


async def strand(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    return d.strand("j", "version 9 unknown")


async def intake(d: Driver) -> Call[Any]:
    return d.intake("j", "waiting")


async def status_backfill(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    await d.r.delete(d.keys.job_status("running"))
    return d.status_backfill(10)


async def purge(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    await d.one(d.finish("j", 0, "completed"))
    return d.purge("completed")


async def lead_renew(d: Driver) -> Call[Any]:
    return contracts.lead_renew(d.keys, ttl_ms=600_000)


async def lead_release(d: Driver) -> Call[Any]:
    return contracts.lead_release(d.keys)


async def deploy(d: Driver) -> Call[Any]:
    return d.deploy("pay", 1, "d1")


async def retry(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    await d.one(d.finish("j", 0, "failed"))
    return d.retry("j", 1)


async def task_claim(d: Driver) -> Call[Any]:
    await parked(d, TASK)
    return contracts.task_claim(d.keys, task_id="j~1.0", by="alice", at="t")


async def task_complete(d: Driver) -> Call[Any]:
    await parked(d, TASK)
    return contracts.task_complete(d.keys, task_id="j~1.0", by="alice", data=b"{}", result=b'{"ok":true}', at="t",
                                   lease_at=repr(d.now + 60))


async def task_reassign(d: Driver) -> Call[Any]:
    await parked(d, TASK)
    return contracts.task_reassign(d.keys, task_id="j~1.0", to="bob", by="alice", now=repr(d.now), at="t")


async def task_due(d: Driver) -> Call[Any]:
    await parked(d, TASK)
    return contracts.task_due(d.keys, event_id="j~1.0", now=repr(d.now + 5), at="t")


async def limit_set(d: Driver) -> Call[Any]:
    return contracts.limit_set(d.keys, name="erp", concurrency=1, rate=None, period_s=None, at="t")


async def defer(d: Driver) -> Call[Any]:
    return d.defer("j", d.now + 60)


async def defer_start(d: Driver) -> Call[Any]:
    await d.one(d.defer("j", d.now))
    return d.defer_start("j")


async def deadline_arm(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    return d.deadline_arm("j", d.now + 60)


async def deadline(d: Driver) -> Call[Any]:
    await d.one(d.start("j"))
    await d.one(d.deadline_arm("j", d.now))
    return d.deadline("j")


async def schedule_put(d: Driver) -> Call[Any]:
    return d.schedule_put("s", d.now)


async def schedule_op(d: Driver) -> Call[Any]:
    await d.one(d.schedule_put("s", d.now))
    return d.schedule_op("s", "pause")


async def schedule_fire(d: Driver) -> Call[Any]:
    await d.one(d.schedule_put("s", d.now))
    return d.schedule_fire("s", "fire", d.now, d.now + 60, job_id="s-1")


FENCED: dict[str, Setup] = {setup.__name__: setup for setup in (
    start, park, finish, cancel_before_start, result, timer, lease, signal, heartbeat, bot_lapse, bot_grace, event,
    strand, intake, status_backfill, purge, lead_renew, lead_release, deploy, retry, task_claim, task_complete,
    task_reassign, task_due, limit_set, defer, defer_start, deadline_arm, deadline, schedule_put, schedule_op,
    schedule_fire, dispatched)}


def test_every_fenced_script_has_its_row() -> None:
    assert set(FENCED) == {*NAMES, *CLOCK_NAMES} - {"lead_take"}


@pytest.mark.parametrize("script", sorted(FENCED))
async def test_a_call_under_a_lost_lease_writes_nothing(script: str, redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        call = await FENCED[script](d)
        assert call.script == script and call.fenced
        holder = await d.fenced(call)
        before = await d.snapshot()
        d.book.lease = holder
        await d.one(call)
        if script == "lead_renew":  # it writes only the lease's TTL, which a snapshot leaves out
            assert await d.r.pttl(d.keys.reactor_leader) > 60_000
        else:
            assert await d.snapshot() != before, "the call under the lease stored writes nothing either"
