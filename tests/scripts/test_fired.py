"""A job's fired events (lib/wakes.lua, ``job:{J}:fired``) across result, park and lease: every
wake carries all of them, a park consumes some and the rest are offered at once, two wakes of one
job race and the loser is refused."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from reactor.dispatch import plan_wakes
from reactor.outcomes import Fired, Ignored, Parked, Stale, WakeData
from reactor.scripts import WAKE_FIRED_BYTES, WAKE_FIRED_MAX
from shared.messages import ActivityWait, TimerWait, Wake
from tests.support.scripts import Driver, fired, open_driver

pytestmark = pytest.mark.anyio


def act(node: str, branch: str = "") -> ActivityWait:
    return ActivityWait(node=node, branch=branch, activity="demo.echo")


def ok(output: object) -> bytes:
    return json.dumps({"ok": True, "output": output}).encode()


def ids(wake: WakeData) -> list[str]:
    return [f.event_id for f in wake.fired]


async def fired_record(d: Driver, job_id: str) -> list[str]:
    members: Any = await d.r.zrange(d.keys.job_fired(job_id), 0, -1)
    return [m.decode() for m in members]


async def test_two_results_arriving_together_ride_one_wake_and_are_consumed_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [act("both.erp/post", "both.erp"), act("both.mail/send", "both.mail")]))
        first, second = await d.many([d.result("j~1.0", 1, True, result=ok("p")),
                                      d.result("j~1.1", 1, True, result=ok("m"))])
        assert isinstance(first, Fired) and isinstance(second, Fired)
        assert not first.wake.held and ids(first.wake) == ["j~1.0"]
        # The second fired while the first's wake is out: held (not sent); the first, read before
        # it, is one event short, so the job is read again (as the dispatcher does).
        assert second.wake.held and second.wake.fence == 1
        assert plan_wakes([first.wake, second.wake]) == ([], ["j"])
        again = await d.one(d.lease("j", lapsed=False))
        assert isinstance(again, Fired) and ids(again.wake) == ["j~1.0", "j~1.1"]
        wake = again.wake
        message = msgspec.json.decode(wake.encode(), type=Wake)
        assert [(f.event_id, f.kind, f.node, f.branch) for f in message.fired] == [
            ("j~1.0", "activity", "both.erp/post", "both.erp"), ("j~1.1", "activity", "both.mail/send", "both.mail")]
        assert [f.result.output for f in message.fired if f.result] == ["p", "m"]
        # The oldest is the wake's own event too, for executors older than `fired`.
        assert (message.event_id, message.kind, message.result and message.result.output) == ("j~1.0", "activity", "p")
        assert await d.r.hget(d.keys.job("j"), "wake_event") == b"j~1.0"

        out = await d.one(d.park("j", 1, [TimerWait(node="t", seconds=5)], ["j~1.0", "j~1.1"]))
        assert out == Parked(fence=2)  # nothing left fired: no wake
        assert await fired_record(d, "j") == []
        assert await d.r.zscore(d.keys.wakes, "j") is None
        assert await d.r.hget(d.keys.job("j"), "wake_event") is None
        # Consumed once: a result delivered again changes nothing, a park of the same wake is stale.
        assert await d.one(d.result("j~1.1", 1, True, result=ok("m"))) == Ignored(reason="unknown")
        assert await d.one(d.park("j", 1, [], ["j~1.0", "j~1.1"])) == Stale(fence=2)


async def test_a_result_arriving_while_the_wake_is_out_is_offered_after_the_park(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [act("a"), act("b")]))
        out = await d.one(d.result("j~1.0", 1, True, result=ok(1)))
        assert isinstance(out, Fired) and not out.wake.held and out.wake.fence == 1
        # The executor works on that wake; b's result comes in meanwhile: held, not sent.
        late = await d.one(d.result("j~1.1", 1, True, result=ok(2)))
        assert isinstance(late, Fired) and late.wake.held
        assert plan_wakes([late.wake]) == ([], [])
        # Its park consumed a only: b is offered at once, under a new lease, at the new fence.
        [wake] = fired(await d.one(d.park("j", 1, [TimerWait(node="t", seconds=5)], ["j~1.0"])))
        assert (wake.job_id, wake.fence, ids(wake), wake.event_id) == ("j", 2, ["j~1.1"], "j~1.1")
        assert json.loads(wake.result) == {"ok": True, "output": 2}
        assert await d.r.zscore(d.keys.wakes, "j") == d.now + 60
        assert await d.r.hget(d.keys.job("j"), "wake_event") == b"j~1.1"
        # The timer fires too while that wake is out: held; the next park takes both, in fire order.
        timer = await d.one(d.timer("j~2.0", at=d.now + 5))
        assert isinstance(timer, Fired) and timer.wake.held
        assert await fired_record(d, "j") == ["j~1.1", "j~2.0"]
        assert fired(await d.one(d.park("j", 2, [], ["j~1.1", "j~2.0"]))) == []


async def test_two_wakes_of_one_job_race_and_the_loser_is_refused_as_stale(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [act("a"), act("b")]))
        out = await d.one(d.result("j~1.0", 1, True, result=ok(1)))
        assert isinstance(out, Fired)
        await d.one(d.result("j~1.1", 1, True, result=ok(2)))
        # A redrive offers the job again meanwhile: a second wake of the same fence, with both.
        again = await d.one(d.lease("j", lapsed=False))
        assert isinstance(again, Fired) and not again.wake.held and again.wake.fence == out.wake.fence == 1
        assert ids(again.wake) == ["j~1.0", "j~1.1"]
        # Its executor parks first; the other executor's park of the first wake is refused.
        assert fired(await d.one(d.park("j", 1, [], ["j~1.0", "j~1.1"]))) == []
        assert await d.one(d.park("j", 1, [], ["j~1.0"])) == Stale(fence=2)
        assert await fired_record(d, "j") == []


async def test_a_lapsed_lease_offers_every_fired_event_and_later_fires_are_sent(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [act("a"), act("b"), act("c")]))
        await d.many([d.result("j~1.0", 1, True, result=ok(1)), d.result("j~1.1", 1, True, result=ok(2))])
        out = await d.one(d.lease("j", lapsed=True, at=d.now + 61))
        assert isinstance(out, Fired) and ids(out.wake) == ["j~1.0", "j~1.1"]
        # After a lapse a fire is not held (nothing says an executor works on the job): sent at once.
        late = await d.one(d.result("j~1.2", 1, True, result=ok(3), at=d.now + 62))
        assert isinstance(late, Fired) and not late.wake.held and ids(late.wake) == ["j~1.0", "j~1.1", "j~1.2"]


async def test_a_wake_carries_at_most_the_bound_and_the_rest_come_next(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        n = WAKE_FIRED_MAX + 5
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [TimerWait(node=f"t{i}", seconds=1) for i in range(n)]))
        outs = await d.many([d.timer(f"j~1.{i}", at=d.now + 1) for i in range(n)])
        assert all(isinstance(out, Fired) and out.wake.held for out in outs[1:])
        last = await d.one(d.lease("j", lapsed=False))
        assert isinstance(last, Fired) and len(last.wake.fired) == WAKE_FIRED_MAX
        assert ids(last.wake)[:2] == ["j~1.0", "j~1.1"]
        [wake] = fired(await d.one(d.park("j", 1, [], ids(last.wake))))
        assert ids(wake) == [f"j~1.{i}" for i in range(WAKE_FIRED_MAX, n)]


async def test_a_wake_event_of_an_older_build_is_taken_into_the_record(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [act("a")]))
        # As an older build left it: the event fired, the job's wake_event, no fired record.
        await d.r.hset(d.keys.event("j~1.0"), mapping={"status": "fired", "result": '{"ok":true}'})
        await d.r.hset(d.keys.job("j"), "wake_event", "j~1.0")
        await d.r.zadd(d.keys.wakes, {"j": d.now})
        out = await d.one(d.lease("j", lapsed=True, at=d.now + 1))
        assert isinstance(out, Fired) and ids(out.wake) == ["j~1.0"]
        assert await fired_record(d, "j") == ["j~1.0"]


async def test_a_wake_stops_at_the_byte_bound_but_always_carries_one(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        big = ok("x" * (WAKE_FIRED_BYTES // 2 - 100))
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [act("a"), act("b"), act("c")]))
        await d.many([d.result(f"j~1.{i}", 1, True, result=big) for i in range(3)])
        out = await d.one(d.lease("j", lapsed=False))
        assert isinstance(out, Fired) and ids(out.wake) == ["j~1.0", "j~1.1"]
        [wake] = fired(await d.one(d.park("j", 1, [], ["j~1.0", "j~1.1"])))
        assert ids(wake) == ["j~1.2"]


def test_a_job_fired_again_after_its_wake_was_read_in_the_same_batch_is_read_again() -> None:
    wake = WakeData(job_id="j", fence=1, checkpoint="{}", event_id="j~1.0")
    held = WakeData(job_id="j", fence=1, checkpoint="", held=True)
    other = WakeData(job_id="k", fence=3, checkpoint="{}")
    assert plan_wakes([wake, held, other]) == ([other], ["j"])
    assert plan_wakes([held, wake]) == ([wake], [])  # read after the held fire: it has it
    assert plan_wakes([held, other]) == ([other], [])
