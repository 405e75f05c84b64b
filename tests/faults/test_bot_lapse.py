"""A bot whose lease really lapses while it runs an attempt: the attempt is never run again beside it.

The bot's process is frozen (SIGSTOP) longer than its lease, as a bot cut off from NATS or a
paused VM would be: the reactor takes it out of its pool and fails the attempt, whose retry
waits out its backoff. The bot comes back (SIGCONT) still holding the attempt: its next
heartbeat says so, the attempt goes on, the retry never runs, and the job completes on attempt
1 with its result. The Redis steps themselves are checked one by one below, at their own speed.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest
import redis.asyncio as aioredis

from reactor.outcomes import Fired, Ignored, Nothing, Parked, Redispatch, Retrying
from shared.messages import ActivityWait, BotLockWait
from tests.faults.helpers import assert_at_most_once, log_entries
from tests.support.scripts import Driver
from tests.support.stack import Stack, poll, text

LEASE_S = 2.0


def on_bot_job(backoff_s: float) -> dict[str, Any]:
    return {"name": "lapse", "start": "lock", "nodes": {
        "lock": {"kind": "lock_bot", "pool": "erp", "output": "bot", "next": "work"},
        "work": {"kind": "activity", "activity": "demo.sleep", "on_bot": True,
                 "retry": {"max_attempts": 3, "backoff_s": backoff_s},
                 "input": {"seconds": "input.seconds"}, "output": "worked", "next": "free"},
        "free": {"kind": "unlock_bot", "next": "done"},
        "done": {"kind": "end", "output": "{bot: vars.bot.bot, seconds: vars.worked.seconds}"}}}


def test_bot_frozen_longer_than_its_lease_keeps_its_attempt_and_no_retry_runs(stack: Stack) -> None:
    reactor = stack.reactor()
    stack.executor()
    bot = stack.worker("--bot", "b1", "--pool", "erp", EE_BOT_LEASE_S=repr(LEASE_S))
    stack.wait_ready()
    poll(lambda: any(b.get("alive") == "1" for b in stack.inspector().bots()), 30, what="the bot in its pool")
    # The retry would run 5 s after the lapse; the activity ends well after the bot is back.
    job = stack.submit(on_bot_job(backoff_s=5), {"seconds": 6})
    poll(lambda: stack.executions(), 30, what="the activity running")
    bot.signal(signal.SIGSTOP)
    try:
        def retried() -> list[str]:
            history = stack.inspector().job(job)["history"]  # type: ignore[index]
            return [h["detail"] for h in history if h["event"] == "retry"]

        assert poll(retried, 30, 0.05, "the bot's lease to lapse") == ["attempt 1 failed: bot b1 lost: lease lapsed"]
        assert log_entries(reactor, "bot lease lapsed; taking it out of its pool")
    finally:
        bot.signal(signal.SIGCONT)
    done = stack.wait_job(job, timeout=30)
    assert (done["status"], done.get("output")) == ("completed", {"bot": "b1", "seconds": 6}), done
    assert list(stack.executions().values()) == [1] and [a for _, a in stack.executions()] == [1]
    assert_at_most_once(stack)
    events = [(h["event"], h["detail"]) for h in stack.inspector().job(job)["history"]]  # type: ignore[index]
    assert ("resumed", "attempt 1 goes on: bot b1 is back and still holds it (its retry never ran)") in events
    assert [b.get("alive") for b in stack.inspector().bots()] == ["1"]


# -- the Redis steps ----------------------------------------------------------------


class Steps:
    """The reactor's scripts on one connection, driving one job that holds bot b1 and runs an
    on-bot activity (3 attempts, backoff 10 s, no timeout) on it."""

    def __init__(self, r: aioredis.Redis) -> None:
        self.r = r
        self.d = Driver(r, "ee:")
        self.now = self.d.now
        self.event = "lapsing~2.0"

    async def beat(self, bot: str, held: list[tuple[str, int]] | None = None, now: float | None = None) -> Any:
        return await self.d.one(self.d.heartbeat(bot, "erp", lease_s=LEASE_S, held=held or [], at=now))

    async def setup(self) -> None:
        d = self.d
        await self.beat("b1")
        await d.one(d.start("lapsing", name="lapse"))
        await d.one(d.park("lapsing", 0, [BotLockWait(node="lock", pool="erp")]))
        assert await self.r.hget("ee:bot:b1", "holder") == b"lapsing"
        work = ActivityWait(node="work", activity="demo.sleep", bot="b1", max_attempts=3, backoff_s=10)
        assert isinstance(await d.one(d.park("lapsing", 1, [work], ["lapsing~1.0"])), Parked)
        await self.r.zrem("ee:dispatch", self.event)  # its task was sent
        await d.one(d.bot_lapse("b1", at=self.now + LEASE_S + 1))
        assert await self.fields("attempt", "phase") == ["2", "backoff"]

    async def fields(self, *names: str) -> list[str | None]:
        values = await self.r.hmget("ee:event:{lapsing}~2.0", list(names))
        return [None if v is None else text(v) for v in values]

    async def result(self, attempt: int, ok: bool) -> Any:
        return await self.d.one(self.d.result(
            self.event, attempt, ok, result=b'{"ok": true, "output": {"seconds": 1}}' if ok else b'{"ok": false}',
            error="" if ok else "it failed", at=self.now + 5))

    async def timer(self, at: float) -> Any:
        return await self.d.one(self.d.timer(self.event, at=at))


@pytest.fixture
async def steps(stack: Stack) -> Any:
    r = aioredis.Redis.from_url(stack.redis.url)
    s = Steps(r)
    await s.setup()
    yield s
    await r.aclose()


@pytest.mark.anyio
async def test_the_lapsed_attempts_result_counts_during_the_backoff(steps: Steps) -> None:
    assert isinstance(await steps.result(1, ok=True), Fired)  # the event fired with attempt 1's output
    assert await steps.fields("status", "attempt", "lapsed") == ["fired", "1", None]
    assert await steps.r.zscore("ee:timers", steps.event) is None  # the retry's backoff is gone


@pytest.mark.anyio
async def test_a_failed_result_of_the_lapsed_attempt_leaves_the_retry_scheduled(steps: Steps) -> None:
    assert await steps.result(1, ok=False) == Ignored(reason="late")
    assert await steps.fields("status", "attempt", "phase", "lapsed") == ["parked", "2", "backoff", None]
    assert await steps.r.zscore("ee:timers", steps.event) is not None


@pytest.mark.anyio
async def test_a_heartbeat_holding_the_lapsed_attempt_resumes_it(steps: Steps) -> None:
    await steps.beat("b2", [(steps.event, 1)])  # another bot: nothing
    await steps.beat("b1", [(steps.event, 2)])  # not the lapsed attempt: nothing
    assert await steps.fields("attempt", "phase") == ["2", "backoff"]
    await steps.beat("b1", [(steps.event, 1)])
    assert await steps.fields("attempt", "phase", "lapsed") == ["1", "running", None]
    assert await steps.r.zscore("ee:timers", steps.event) is None  # no retry due, no timeout armed
    assert isinstance(await steps.result(1, ok=True), Fired)


@pytest.mark.anyio
async def test_once_the_retry_is_dispatched_the_lapsed_attempt_no_longer_counts(steps: Steps) -> None:
    await steps.beat("b1")  # back, holding nothing: attempt 1 is lost for good
    due = float(await steps.r.zscore("ee:timers", steps.event) or 0)
    assert await steps.timer(due - 1) == Nothing()
    assert await steps.timer(due) == Redispatch()  # attempt 2 dispatched
    assert await steps.fields("attempt", "phase", "lapsed") == ["2", "running", None]
    assert await steps.result(1, ok=True) == Ignored(reason="old-attempt")
    await steps.beat("b1", [(steps.event, 1)])
    assert await steps.fields("attempt", "phase") == ["2", "running"]


@pytest.mark.anyio
async def test_retries_failed_while_the_bot_was_gone_never_ran_so_the_lapsed_attempt_still_resumes(
        steps: Steps) -> None:
    due = float(await steps.r.zscore("ee:timers", steps.event) or 0)
    # attempt 2 failed unsent (the bot is gone): attempt 3 waits
    assert await steps.timer(due) == Retrying(attempt=3)
    assert await steps.r.zscore("ee:dispatch", steps.event) is None
    await steps.beat("b1", [(steps.event, 1)], now=due + 1)
    assert await steps.fields("attempt", "phase", "lapsed") == ["1", "running", None]
