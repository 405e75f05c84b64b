"""task_claim, task_complete, task_reassign, task_due: a human task's steps, and its inbox
indexes kept by park and drop_event."""

from __future__ import annotations

from typing import Any

import pytest

from reactor import contracts
from reactor.outcomes import Claimed, Completed, Escalated, Fired, Nothing, NotParked, NotTask, Ok, Overdue, Unknown
from reactor.scripts import Call
from shared.messages import SignalWait, TaskWait
from tests.support.scripts import Driver, open_driver

pytestmark = pytest.mark.anyio

FORM = {"type": "object"}


def ask(**fields: object) -> TaskWait:
    return TaskWait(node="ask", title="Approve", assignee="group:finance", form=FORM, **fields)  # type: ignore[arg-type]


def complete(d: Driver, task_id: str, by: str) -> Call[contracts.TaskCompleteOutcome]:
    return contracts.task_complete(d.keys, task_id=task_id, by=by, data=b'{"ok":1}',
                                   result=b'{"ok":true,"output":{"ok":1}}', at=f"at-{by}", lease_at=repr(d.now + 60))


async def members(d: Driver, key: str) -> list[str]:
    found: list[Any] = await d.r.zrange(key, 0, -1)
    return [m.decode() for m in found]


async def test_complete_once_and_the_indexes_follow(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(complete(d, "j~1.0", "alice")) == Unknown()
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ask(due_s=60), SignalWait(node="s", signal="go")]))
        assert await members(d, d.keys.task_assignee("group:finance")) == ["j~1.0"]
        assert await d.r.zscore(d.keys.task_due, "j~1.0") == d.now + 60
        assert await d.one(complete(d, "j~1.1", "alice")) == NotTask(kind="signal")
        out = await d.one(complete(d, "j~1.0", "alice"))
        assert isinstance(out, Fired) and out.wake.result == '{"ok":true,"output":{"ok":1}}'
        assert await members(d, d.keys.task_assignee("group:finance")) == []
        assert await members(d, d.keys.task_due) == []
        assert await d.one(complete(d, "j~1.0", "bob")) == Completed(by="alice", at="at-alice")
        assert await d.one(complete(d, "j~1.0", "alice")) == Ok()  # the same one again (a lost reply's retry)
        # The job consumes the event: the completion record stays, and still refuses.
        await d.one(d.park("j", 1, [], consumed=["j~1.0"]))
        assert not await d.r.exists(d.keys.event("j~1.0"))
        assert await d.one(complete(d, "j~1.0", "bob")) == Completed(by="alice", at="at-alice")
        assert await d.r.ttl(d.keys.task_done("j~1.0")) > 0


async def test_claims_and_reassignment(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ask()]))
        claim = contracts.task_claim(d.keys, task_id="j~1.0", by="alice", at="t1")
        assert await d.one(claim) == Ok()
        assert await d.one(claim) == Ok()  # again by the claimer: nothing changes
        assert await d.one(contracts.task_claim(d.keys, task_id="j~1.0", by="bob", at="t2")) == Claimed(
            by="alice", at="t1")
        assert await d.one(complete(d, "j~1.0", "bob")) == Claimed(by="alice", at="t1")
        moved = contracts.task_reassign(d.keys, task_id="j~1.0", to="bob", by="carol", now=repr(d.now), at="t3")
        assert await d.one(moved) == Ok()
        assert await members(d, d.keys.task_assignee("group:finance")) == []
        assert await members(d, d.keys.task_assignee("bob")) == ["j~1.0"]
        assert await d.r.hget(d.keys.event("j~1.0"), "claimed_by") is None
        assert isinstance(await d.one(complete(d, "j~1.0", "bob")), Fired)


async def test_a_dropped_task_leaves_the_inbox(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ask(due_s=5)]))
        await d.one(d.finish("j", None, "cancelled"))
        assert await members(d, d.keys.task_assignee("group:finance")) == []
        assert await members(d, d.keys.task_due) == []


async def test_due_escalates_or_marks_overdue_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ask(due_s=5, escalate_to="group:managers", on_due="escalate"),
                                    ask(due_s=5)]))
        early = contracts.task_due(d.keys, event_id="j~1.0", now=repr(d.now + 1), at="t")
        assert await d.one(early) == Nothing()
        due = contracts.task_due(d.keys, event_id="j~1.0", now=repr(d.now + 5), at="t")
        assert await d.one(due) == Escalated(to="group:managers")
        assert await d.one(due) == Nothing()  # the timer is claimed once
        assert await members(d, d.keys.task_assignee("group:managers")) == ["j~1.0"]
        assert await members(d, d.keys.task_due) == ["j~1.1"]
        other = contracts.task_due(d.keys, event_id="j~1.1", now=repr(d.now + 5), at="t")
        assert await d.one(other) == Overdue()
        assert await d.r.hget(d.keys.event("j~1.1"), "overdue") == b"1"
        assert await members(d, d.keys.task_due) == ["j~1.1"]  # overdue: still open, its due time past
        assert isinstance(await d.one(complete(d, "j~1.1", "alice")), Fired)
        assert await d.one(contracts.task_claim(d.keys, task_id="j~1.1", by="x", at="t")) == Completed(
            by="alice", at="at-alice")
        await d.one(d.event("j~1.0", "fail"))
        assert await d.one(complete(d, "j~1.0", "alice")) == NotParked(status="fired")
