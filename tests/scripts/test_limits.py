"""lib/limits.lua and lib/queues.lua: slots, tokens and lines of limits; the priority order of
bot-lock requests, and the move of an older FIFO list into the queue."""

from __future__ import annotations

import random
from typing import Any

import pytest

from reactor import contracts
from reactor.outcomes import Nothing, Parked, Redispatch
from shared.messages import ActivityWait, BotLockWait, ChildWait
from shared.names import child_job_id
from tests.support.scripts import Driver, open_driver

pytestmark = pytest.mark.anyio


def erp(key: str = "", timeout_s: float | None = 30, max_attempts: int = 1) -> ActivityWait:
    return ActivityWait(node="a", activity="erp.post", limit="erp", limit_key=key, timeout_s=timeout_s,
                        max_attempts=max_attempts, backoff_s=1.0)


async def set_limit(d: Driver, concurrency: int | None = None, rate: int | None = None,
                    period_s: float | None = None) -> None:
    await d.one(contracts.limit_set(d.keys, name="erp", concurrency=concurrency, rate=rate, period_s=period_s,
                                    at="t"))


async def job(d: Driver, job_id: str, wait: ActivityWait, priority: int = 5) -> Parked:
    await d.one(d.start(job_id))
    if priority != 5:
        await d.r.hset(d.keys.job(job_id), "priority", priority)
    out = await d.one(d.park(job_id, 0, [wait]))
    assert isinstance(out, Parked)
    return out


async def admitted(d: Driver, event_id: str, at: float | None = None) -> bool:
    """Run the event's timer as the timer loop would: True when its attempt is sent."""
    out = await d.one(d.timer(event_id, at=at))
    return isinstance(out, Redispatch)


async def test_over_the_concurrency_an_attempt_waits_and_goes_when_a_slot_frees(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await set_limit(d, concurrency=1)
        assert (await job(d, "a", erp())).undispatched == []
        out = await job(d, "b", erp())
        assert out.undispatched == ["b~1.0"]
        assert await d.r.hget(d.keys.event("b~1.0"), "phase") == b"waiting_capacity"
        assert await d.r.zscore(d.keys.dispatch, "b~1.0") is None
        assert await d.r.smembers(d.keys.limit_running("erp", "")) == {b"a~1.0"}
        assert not await admitted(d, "b~1.0")  # no slot yet
        await d.one(d.result("a~1.0", 1, True, result=b'{"ok":true}'))
        assert await d.r.smembers(d.keys.limit_running("erp", "")) == set()
        assert await d.r.zscore(d.keys.timers, "b~1.0") == 0  # nudged: due at once
        assert await admitted(d, "b~1.0")
        assert await d.r.hget(d.keys.event("b~1.0"), "phase") == b"running"
        assert await d.r.zscore(d.keys.timers, "b~1.0") == d.now + 30  # its timeout starts now
        assert await d.r.zscore(d.keys.dispatch, "b~1.0") == d.now


async def test_waiters_go_by_priority_then_arrival(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await set_limit(d, concurrency=1)
        await job(d, "first", erp())
        for name, priority in (("late5", 5), ("urgent", 1), ("lazy", 9), ("later5", 5)):
            await job(d, name, erp(), priority)
        order = []
        running = "first~1.0"
        for _ in range(4):
            await d.one(d.result(running, 1, True, result=b'{"ok":true}'))
            heads: Any = await d.r.zrange(d.keys.limit_waiting("erp", ""), 0, 0)
            running = heads[0].decode()
            assert await admitted(d, running)
            order.append(running.split("~")[0])
        assert order == ["urgent", "late5", "later5", "lazy"]


async def test_keys_have_separate_slots(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await set_limit(d, concurrency=1)
        assert (await job(d, "a", erp("acme"))).undispatched == []
        assert (await job(d, "b", erp("globex"))).undispatched == []
        assert (await job(d, "c", erp("acme"))).undispatched == ["c~1.0"]


async def test_a_slot_is_freed_once_by_a_timeout_and_a_retry_queues_again(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await set_limit(d, concurrency=1)
        await job(d, "a", erp(max_attempts=2))
        await job(d, "b", erp())
        # a's attempt times out: its slot goes back for the backoff, and b is admitted.
        assert not await admitted(d, "a~1.0", at=d.now + 30)
        assert await d.r.hget(d.keys.event("a~1.0"), "phase") == b"backoff"
        assert await admitted(d, "b~1.0")
        # a's retry is due but b holds the slot: a waits in line.
        assert isinstance(await d.one(d.timer("a~1.0", at=d.now + 32)), Nothing)
        assert await d.r.hget(d.keys.event("a~1.0"), "phase") == b"waiting_capacity"
        # A late result of a's first attempt changes nothing: the slot is b's alone.
        await d.one(d.result("a~1.0", 1, True, result=b'{"ok":true}'))
        assert await d.r.smembers(d.keys.limit_running("erp", "")) == {b"b~1.0"}


async def test_a_cancel_frees_the_slot_and_leaves_the_line(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await set_limit(d, concurrency=1)
        await job(d, "a", erp())
        await job(d, "b", erp())
        await job(d, "c", erp())
        await d.one(d.finish("b", None, "cancelled"))  # waiting: leaves the line
        assert await d.r.zrange(d.keys.limit_waiting("erp", ""), 0, -1) == [b"c~1.0"]
        await d.one(d.finish("a", None, "cancelled"))  # running: its slot goes to c
        assert await admitted(d, "c~1.0")
        await d.one(d.finish("c", None, "cancelled"))
        assert await d.r.smembers(d.keys.limit_keys("erp")) == set()


async def test_a_rate_lets_one_start_per_token(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await set_limit(d, rate=1, period_s=10)
        assert (await job(d, "a", erp())).undispatched == []
        assert (await job(d, "b", erp())).undispatched == ["b~1.0"]
        assert not await admitted(d, "b~1.0")
        assert await d.r.zscore(d.keys.timers, "b~1.0") == pytest.approx(d.now + 10)
        assert not await admitted(d, "b~1.0", at=d.now + 9)
        assert await admitted(d, "b~1.0", at=d.now + 10)


async def test_raising_or_deleting_a_limit_admits_the_line(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await set_limit(d, concurrency=1)
        await job(d, "a", erp())
        await job(d, "b", erp())
        await job(d, "c", erp())
        await set_limit(d, concurrency=2)
        assert await admitted(d, "b~1.0")
        assert not await admitted(d, "c~1.0")
        await d.one(contracts.limit_delete(d.keys, name="erp", at="t"))
        assert await admitted(d, "c~1.0")
        # Lowering takes effect for the next admission: a new attempt waits.
        await set_limit(d, concurrency=1)
        assert (await job(d, "e", erp())).undispatched == ["e~1.0"]


async def test_a_limit_never_set_is_unlimited_and_in_the_list_while_used(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        for i in range(5):
            assert (await job(d, f"j{i}", erp())).undispatched == []
        assert await d.r.smembers(d.keys.limits) == {b"erp"}
        assert await d.r.scard(d.keys.limit_running("erp", "")) == 5


async def test_lock_requests_go_by_priority_and_an_older_fifo_is_kept_in_order(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        lock = BotLockWait(node="l", pool="erp")
        for name in ("old1", "old2"):
            await d.one(d.start(name))
        # Two requests queued by an older reactor, in its FIFO list.
        for name in ("old1", "old2"):
            await d.r.hset(d.keys.event(f"{name}~1.0"), mapping={"job": name, "kind": "bot_lock", "status": "parked",
                                                                  "pool": "erp"})
            await d.r.hset(d.keys.job(name), mapping={"fence": 1, "status": "parked"})
            await d.r.rpush(d.keys.pool_waiting("erp"), f"{name}~1.0")
        await d.one(d.start("urgent"))
        await d.r.hset(d.keys.job("urgent"), "priority", 1)
        await d.one(d.park("urgent", 0, [lock]))
        await d.one(d.start("normal"))
        await d.one(d.park("normal", 0, [lock]))
        assert await d.r.exists(d.keys.pool_waiting("erp")) == 0
        queued: Any = await d.r.zrange(d.keys.pool_queue("erp"), 0, -1)
        order = [e.decode() for e in queued]
        assert order == ["urgent~1.0", "old1~1.0", "old2~1.0", "normal~1.0"]
        await d.one(d.heartbeat("b1", "erp"))
        assert await d.r.hget(d.keys.bot("b1"), "holder") == b"urgent"


async def test_a_waiter_whose_bot_is_gone_leaves_the_line(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await set_limit(d, concurrency=1)
        await job(d, "a", erp())
        await d.one(d.heartbeat("b1", "erp-bots"))
        await job(d, "b", ActivityWait(node="a", activity="erp.post", limit="erp", bot="b1", max_attempts=2))
        await d.one(d.bot_lapse("b1", at=d.now + 10_000))
        assert not await admitted(d, "b~1.0")  # its bot is not alive: the attempt fails, a retry is due
        assert await d.r.hget(d.keys.event("b~1.0"), "phase") == b"backoff"
        assert await d.r.zrange(d.keys.limit_waiting("erp", ""), 0, -1) == []


async def test_a_call_child_inherits_its_parents_priority(redis_url: str) -> None:
    async with open_driver(redis_url) as d:
        await d.r.set(d.keys.workflow("d"), "{}")
        await d.one(contracts.start(d.keys, job_id="p", digest="d", workflow=b"{}", name="t", version=1,
                                    checkpoint=b'{"node":"n"}', input=b"{}", now=repr(d.now), at="t", build="test",
                                    lease_at=repr(d.now + 60), priority=2))
        assert await d.r.hget(d.keys.job("p"), "priority") == b"2"
        wait = ChildWait(node="post", job_id=child_job_id("p", "post"), digest="d", name="sub", version=1,
                         start="s")
        await d.one(d.park("p", 0, [wait]))
        assert await d.r.hget(d.keys.job(child_job_id("p", "post")), "priority") == b"2"


@pytest.mark.parametrize("seed", range(3))
async def test_a_rate_is_kept_within_one_token_over_any_window(redis_url: str, seed: int) -> None:
    """Attempts arriving at random times under 3 per 10 s: over any window of W seconds, at most
    1 + W * 3 / 10 start."""
    rng = random.Random(seed)
    async with open_driver(redis_url) as d:
        await set_limit(d, rate=3, period_s=10)
        starts: list[float] = []
        t = d.now
        waiting: list[str] = []
        for i in range(40):
            t += rng.uniform(0, 2)
            out = await d.one(d.park(*(await _started(d, f"r{i}", t)), [erp(timeout_s=None)], at=t))
            assert isinstance(out, Parked)
            if out.undispatched:
                waiting.append(f"r{i}~1.0")
            else:
                starts.append(t)
            # The timer loop at this moment: every waiter whose timer is due is tried, in due order.
            due: Any = await d.r.zrangebyscore(d.keys.timers, "-inf", t)
            for e in [x.decode() for x in due]:
                if await admitted(d, e, at=t):
                    starts.append(t)
        assert len(starts) >= 8  # it did start them, one per token (tried at arrivals only)
        for i, a in enumerate(starts):
            for b in starts[i:]:
                inside = [s for s in starts if a <= s <= b]
                assert len(inside) <= 1 + (b - a) * 3 / 10 + 1e-9, (a, b, inside)


async def _started(d: Driver, job_id: str, at: float) -> tuple[str, int]:
    await d.one(d.start(job_id, at=at))
    return job_id, 0
