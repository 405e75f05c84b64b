"""signal.lua: fire the wait for it, or keep it in the bounded inbox."""

from __future__ import annotations

import pytest

from reactor.outcomes import Finished, Fired, InboxFull, Kept, OverBudget, Unknown
from shared.messages import SignalWait
from tests.support.scripts import open_driver
from tests.support.stack import text

pytestmark = pytest.mark.anyio
OK = b'{"ok":true}'


async def test_a_signal_fires_its_wait(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [SignalWait(node="w", signal="go")]))
        out = await d.one(d.signal("j", "go", OK))
        assert isinstance(out, Fired) and out.wake.event_id == "j~1.0"
        assert await d.one(d.signal("j", "go", OK)) == Kept()  # fired already: the next one waits


async def test_the_inbox_is_bounded(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.signal("nobody", "go", OK)) == Unknown()
        await d.one(d.start("j"))
        assert await d.one(d.signal("j", "a", OK, inbox_max=1)) == Kept()
        assert await d.one(d.signal("j", "b", OK, inbox_max=1)) == InboxFull()
        held = len(await d.r.lindex(d.keys.job_inbox("j"), 0) or b"")
        assert await d.one(d.signal("j", "c", OK, inbox_max_bytes=held + 3)) == OverBudget(held=held)
        await d.one(d.finish("j", 0, "completed"))
        assert await d.one(d.signal("j", "a", OK)) == Finished(status="completed")


async def test_branches_waiting_for_one_name_each_get_a_signal_earliest_first(redis_url: str) -> None:
    """Two branches (a parallel, or map bodies) park on the same signal name: each signal goes
    to one of them, the earliest parked first, and none waits forever."""
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [SignalWait(node="both.a/w", branch="both.a", signal="go"),
                                    SignalWait(node="both.b/w", branch="both.b", signal="go")]))
        first = await d.one(d.signal("j", "go", OK))
        assert isinstance(first, Fired) and first.wake.event_id == "j~1.0"
        second = await d.one(d.signal("j", "go", OK))
        assert isinstance(second, Fired)  # held for the wake out (first's): its park offers it
        assert await d.r.hget(d.keys.event("j~1.1"), "status") == b"fired"
        assert await d.one(d.signal("j", "go", OK)) == Kept()


async def test_the_field_naming_a_gone_wait_does_not_strand_the_other(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [SignalWait(node="a/w", branch="a", signal="go"),
                                    SignalWait(node="b/w", branch="b", signal="go")]))
        await d.one(d.park("j", 1, [], drop=["j~1.0"]))  # branch a failed: its wait dropped
        out = await d.one(d.signal("j", "go", OK))
        assert isinstance(out, Fired) and out.wake.event_id == "j~1.1"


async def test_signals_in_the_inbox_go_one_to_each_wait_of_a_park(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        assert await d.one(d.signal("j", "go", b'{"ok":true,"output":1}')) == Kept()
        assert await d.one(d.signal("j", "go", b'{"ok":true,"output":2}')) == Kept()
        await d.one(d.park("j", 0, [SignalWait(node="a/w", branch="a", signal="go"),
                                    SignalWait(node="b/w", branch="b", signal="go")]))
        fired = await d.r.zrange(d.keys.job_fired("j"), 0, -1)
        assert sorted(text(e) for e in fired) == ["j~1.0", "j~1.1"]
        assert await d.r.llen(d.keys.job_inbox("j")) == 0
