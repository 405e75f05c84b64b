"""park.lua: fence check, new waits, consumed events, refusals before any write."""

from __future__ import annotations

import json

import pytest

from reactor.outcomes import Finished, Foreign, Parked, Stale, Unknown
from shared.messages import ActivityWait, BotLockWait, SignalWait, Wait
from tests.support.scripts import fired, open_driver

pytestmark = pytest.mark.anyio
GO = SignalWait(node="w", signal="go")


async def test_a_park_raises_the_fence_and_registers_its_waits(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        assert await d.one(d.park("j", 0, [GO, ActivityWait(node="a", activity="demo.echo", timeout_s=5)])) == \
            Parked(fence=1)
        assert await d.r.hget(d.keys.event("j~1.0"), "signal") == b"go"
        assert await d.r.zscore(d.keys.timers, "j~1.1") == d.now + 5
        assert await d.r.zscore(d.keys.dispatch, "j~1.1") == d.now
        assert await d.r.smembers(d.keys.job_events("j")) == {b"j~1.0", b"j~1.1"}


async def test_refusals(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        assert await d.one(d.park("nobody", 0, [GO])) == Unknown()
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [GO]))
        assert await d.one(d.park("j", 0, [GO])) == Stale(fence=1)
        await d.one(d.start("other"))
        assert await d.one(d.park("other", 0, [], ["j~1.0"])) == Foreign(event="j~1.0")
        await d.one(d.finish("j", 1, "completed"))
        assert await d.one(d.park("j", 2, [GO])) == Finished(status="completed")


async def test_a_signal_waiting_in_the_inbox_fires_at_once(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.signal("j", "go", b'{"ok":true,"output":1}'))
        out = await d.one(d.park("j", 0, [GO]))
        assert isinstance(out, Parked) and [w.event_id for w in out.wakes] == ["j~1.0"]
        assert json.loads(out.wakes[0].result) == {"ok": True, "output": 1}


async def test_an_activity_on_a_bot_not_alive_is_not_dispatched(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        out = await d.one(d.park("j", 0, [ActivityWait(node="a", activity="demo.echo", bot="gone")]))
        assert isinstance(out, Parked) and out.undispatched == ["j~1.0"]
        assert json.loads(out.wakes[0].result)["error"] == "bot gone is not alive (attempt 1)"


async def test_a_park_drops_waits_it_gives_up_and_names_the_activities_in_flight(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [ActivityWait(node="both.erp/post", branch="both.erp", activity="erp.post"),
                                    ActivityWait(node="both.mail/send", branch="both.mail", activity="mail.send"),
                                    GO]))
        assert await d.r.hget(d.keys.event("j~1.0"), "branch") == b"both.erp"
        # The erp branch failed (its result fired); the mail branch is still in flight: dropped.
        await d.one(d.result("j~1.0", 1, False, result=b'{"ok":false,"error":"boom"}'))
        out = await d.one(d.park("j", 1, [], ["j~1.0"], drop=["j~1.1", "j~1.2"]))
        assert out == Parked(fence=2, dropped=["j~1.1"])  # the signal wait was no activity
        for e in ("j~1.1", "j~1.2"):
            assert await d.r.exists(d.keys.event(e)) == 0
        assert await d.r.smembers(d.keys.job_events("j")) == set()
        assert await d.r.zcard(d.keys.activity_events("mail.send")) == 0
        assert await d.r.hget(d.keys.job("j"), "signal:go") is None


async def test_a_drop_of_another_jobs_wait_is_refused_before_anything_is_written(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.start("j"))
        await d.one(d.park("j", 0, [GO]))
        await d.one(d.start("other"))
        assert await d.one(d.park("other", 0, [], drop=["j~1.0"])) == Foreign(event="j~1.0")
        assert await d.r.exists(d.keys.event("j~1.0")) == 1
        assert await d.r.hget(d.keys.job("other"), "fence") == b"0"


async def test_dropped_lock_requests_leave_the_queue_and_give_back_a_bot_never_consumed(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.one(d.heartbeat("b1", "erp"))
        await d.one(d.start("j"))
        # Two branches each lock a bot of a pool of one: the first is granted at once, the second waits.
        lock: list[Wait] = [BotLockWait(node="each[0]/lock", branch="each[0]", pool="erp"),
                            BotLockWait(node="each[1]/lock", branch="each[1]", pool="erp")]
        [wake] = fired(await d.one(d.park("j", 0, lock)))
        assert [f.event_id for f in wake.fired] == ["j~1.0"]
        await d.one(d.start("next"))
        await d.one(d.park("next", 0, [BotLockWait(node="l", pool="erp")]))
        # The map fails before it consumed the grant: both requests dropped, the bot goes on.
        out = await d.one(d.park("j", 1, [], drop=["j~1.0", "j~1.1"]))
        assert isinstance(out, Parked) and [w.job_id for w in out.wakes] == ["next"]
        assert await d.r.hget(d.keys.bot("b1"), "holder") == b"next"
        assert await d.r.hget(d.keys.job("j"), "bots") == b""
        assert await d.r.lrange(d.keys.pool_waiting("erp"), 0, -1) == []
