"""The reactor's own downtime never counts against anyone else.

While no reactor runs, bots keep working and heartbeating (core NATS: nobody hears them)
and workers keep publishing results to ``EE_RESPONSES``. A reactor that comes back must
apply those results before it judges any clock, and must not lapse a bot for heartbeats
it was not there to hear.

Scaled down to run in CI: bot lease 2 s, reactor down 6 s (three leases), on-bot
activities of 3 s (done while the reactor is down) and of 12 s (still running when it is
back). The real-size run of issue 15 (lease 15 s, reactor down 60 s, 40 s activities):

    EE_DOWNTIME_LEASE_S=15 EE_DOWNTIME_OUTAGE_S=60 EE_DOWNTIME_ACTIVITY_S=40 \\
        .venv/bin/python -m pytest -p no:cacheprovider --timeout 600 tests/faults/test_reactor_downtime.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import datetime
from typing import Any

import anyio
import nats
import pytest
import redis.asyncio as aioredis

from reactor.catch_up import StartGate
from shared import names
from shared.streams import ensure_streams
from tests.faults.helpers import assert_at_most_once, log_entries, stream_state
from tests.support.scripts import Driver
from tests.support.stack import Service, Stack, poll, scored, text

LEASE_S = float(os.environ.get("EE_DOWNTIME_LEASE_S", "2"))
OUTAGE_S = float(os.environ.get("EE_DOWNTIME_OUTAGE_S", str(3 * LEASE_S)))
SHORT_S = float(os.environ.get("EE_DOWNTIME_ACTIVITY_S", "3"))
# Still running when the reactor is back (it takes a second or two to start), for two leases more.
LONG_S = OUTAGE_S + 2 * LEASE_S + 2
RETRY = {"max_attempts": 3, "backoff_s": 0.2}


def on_bot_job(pool: str) -> dict[str, Any]:
    """Lock a bot, run ``demo.sleep`` of ``input.seconds`` on it under a retry policy, unlock."""
    return {"name": "downtime", "start": "lock", "nodes": {
        "lock": {"kind": "lock_bot", "pool": pool, "output": "bot", "next": "work"},
        "work": {"kind": "activity", "activity": "demo.sleep", "on_bot": True, "retry": RETRY,
                 "input": {"seconds": "input.seconds"}, "output": "worked", "next": "free"},
        "free": {"kind": "unlock_bot", "next": "done"},
        "done": {"kind": "end", "output": "{bot: vars.bot.bot, seconds: vars.worked.seconds}"}}}


def take_down(reactor: Service, how: str) -> None:
    if how == "sigkill":
        reactor.kill()
    else:
        assert reactor.stop() == 0, reactor.output()[-3000:]


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_bots_keep_their_work_across_a_reactor_outage_longer_than_their_leases(stack: Stack, how: str) -> None:
    reactor = stack.reactor()
    stack.executor()
    for bot in ("b1", "b2"):
        stack.worker("--bot", bot, "--pool", "erp", EE_BOT_LEASE_S=repr(LEASE_S))
    stack.wait_ready()
    poll(lambda: {b["bot"] for b in stack.inspector().bots() if b.get("alive") == "1"} == {"b1", "b2"}, 30,
         what="both bots in their pool")
    short = stack.submit(on_bot_job("erp"), {"seconds": SHORT_S}, job_id=f"short-{how}")
    long = stack.submit(on_bot_job("erp"), {"seconds": LONG_S}, job_id=f"long-{how}")
    poll(lambda: len(stack.executions()) == 2, 30, what="both on-bot activities running")
    take_down(reactor, how)
    down_at = time.monotonic()
    # Down for several leases; the short activity's result waits in the stream meanwhile.
    poll(lambda: time.monotonic() - down_at >= OUTAGE_S and stream_state(stack, names.STREAM_RESPONSES)[0] == 1,
         OUTAGE_S + 60, 0.1, "the outage to last and the short activity's result to be stored")
    client = stack.redis_client()
    lapsed = {text(m) for m in client.zrangebyscore("ee:bots:leases", "-inf", repr(time.time()))}
    assert lapsed == {"b1", "b2"}, "both leases ran out while the reactor was down"
    assert stream_state(stack, names.STREAM_RESPONSES)[0] == 1, "the long activity still runs"

    back = stack.reactor()
    jobs = stack.wait_jobs([short, long], timeout=LONG_S + 60)
    outputs = {jid: (job["status"], job.get("output", {}).get("seconds")) for jid, job in jobs.items()}
    assert outputs == {short: ("completed", SHORT_S), long: ("completed", LONG_S)}, jobs
    assert {jobs[short]["output"]["bot"], jobs[long]["output"]["bot"]} == {"b1", "b2"}
    # Each ran once, as attempt 1; nothing was retried, no bot was taken out.
    assert sorted(attempt for _, attempt in stack.executions()) == [1, 1]
    assert_at_most_once(stack)
    for jid in jobs:
        retries = [h for h in stack.inspector().job(jid)["history"] if h["event"] == "retry"]  # type: ignore[index]
        assert retries == [], retries
    assert log_entries(back, "bot lease lapsed; taking it out of its pool") == []
    assert {(b["bot"], b.get("alive"), b.get("down_reason")) for b in stack.inspector().bots()} == {
        ("b1", "1", None), ("b2", "1", None)}
    [caught_up] = log_entries(back, "results waiting at start applied; timers and leases start")
    assert caught_up["waiting"] == 1
    assert [e["bots"] for e in log_entries(back, "bot leases extended: heartbeats may have been missed while "
                                                 "not listening")][:1] == [2]


def results_in_hand(stack: Stack) -> int:
    """Results delivered to the reactor's consumer and not acked yet."""
    async def go() -> int:
        nc = await nats.connect(stack.nats.url)
        try:
            info = await nc.jetstream().consumer_info(names.STREAM_RESPONSES, names.CONSUMER_REACTOR_RESPONSES)
            return int(info.num_ack_pending or 0)
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_results_in_the_stream_are_applied_before_timeouts_due_during_the_downtime(stack: Stack, how: str) -> None:
    """Activity timeouts shorter than the outage, results published while the reactor is down:
    every job completes with its result, none times out.

    SIGKILL: the hardest case. The reactor is frozen (SIGSTOP) when the results come, so
    JetStream delivers them to it, and it is SIGKILLed with them in hand, unacked: they come
    back only after the results' ack wait (5 s), while the timeouts are long due and the new
    reactor is up. SIGTERM: the reactor is gone before any result is published."""
    reactor = stack.reactor()
    stack.executor()
    stack.wait_ready()
    flow = {"name": "due", "start": "work", "nodes": {
        "work": {"kind": "activity", "activity": "demo.sleep", "timeout_s": 2,
                 "input": {"seconds": "`0.1`", "v": "input.v"}, "output": "worked", "next": "done"},
        "done": {"kind": "end", "output": "vars.worked.v"}}}
    ids = stack.submit_many(flow, [{"v": i} for i in range(20)], f"due-{how}")
    client = stack.redis_client()
    poll(lambda: client.zcard("ee:dispatch") == 0 and all(client.zscore("ee:timers", f"{j}~1.0") for j in ids),
         30, what="every activity dispatched with its timeout armed")
    due = max(float(client.zscore("ee:timers", f"{j}~1.0") or 0) for j in ids)
    if how == "sigkill":
        reactor.signal(signal.SIGSTOP)
    else:
        take_down(reactor, how)
    stack.worker()  # runs every activity while no reactor works
    poll(lambda: stream_state(stack, names.STREAM_RESPONSES)[0] == len(ids), 30, 0.05,
         "every result stored while the reactor is down")
    if how == "sigkill":
        poll(lambda: results_in_hand(stack) == len(ids), 30, 0.05, "every result delivered to the frozen reactor")
    poll(lambda: time.time() > due + 0.5, 30, 0.05, "every timeout to fall due")
    if how == "sigkill":
        reactor.kill()
    assert {client.hget(f"ee:event:{{{j}}}~1.0", "status") for j in ids} == {b"parked"}
    back = stack.reactor()
    jobs = stack.wait_jobs(ids, timeout=60)
    wrong = {jid: (job.get("status"), job.get("output"), job.get("error")) for jid, job in jobs.items()
             if job.get("status") != "completed" or job.get("output") != int(jid.rsplit("-", 1)[1])}
    assert not wrong, wrong
    assert_at_most_once(stack)
    # The jobs may complete before the gate's next look at the stream logs that it opened.
    [caught_up] = poll(lambda: log_entries(back, "results waiting at start applied; timers and leases start"),
                       10, 0.05, "the gate to open")
    assert caught_up["waiting"] == len(ids)


# -- the pieces, at their own speed ----------------------------------------------


@pytest.mark.anyio
async def test_the_gate_waits_for_results_stored_before_start_and_opens_after_its_bound(stack: Stack) -> None:
    nc = await nats.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, 1 << 20)
        assert await StartGate().catch_up(js, bound_s=5) is True  # nothing waiting
        await js.publish(names.ACTIVITY_RESPONSE, b"{}")
        gate = StartGate()
        assert await gate.catch_up(js, bound_s=0.3) is False  # nobody applies it: the bound opens the gate
        assert gate.is_open
        consumer = await js.pull_subscribe(names.ACTIVITY_RESPONSE, durable="drain")
        gate = StartGate()
        async with anyio.create_task_group() as tg:
            tg.start_soon(gate.catch_up, js)
            await anyio.sleep(0.2)
            assert not gate.is_open
            for msg in await consumer.fetch(1, timeout=5):
                await msg.ack()
            with anyio.fail_after(5):
                await gate.wait()
    finally:
        await nc.close()


@pytest.mark.anyio
async def test_extending_leases_gives_each_bot_its_own_lease_period_from_now(stack: Stack) -> None:
    redis = aioredis.Redis.from_url(stack.redis.url)
    try:
        now = 1_000_000.0
        d = Driver(redis, "ee:", now=now)
        for bot, lease_s, last in (("late", 2.0, now - 30), ("long", 15.0, now - 20), ("fresh", 15.0, now - 1)):
            await d.one(d.heartbeat(bot, "erp", lease_s=lease_s, at=last))
        await redis.zadd("ee:bots:leases", {"old": now - 50})  # stored before heartbeats carried a lease
        await redis.hset("ee:bot:old", mapping={"pool": "erp", "alive": "1"})
        assert (await d.one(d.bot_grace(15.0))).n == 4
        leases = scored(await redis.zrange("ee:bots:leases", 0, -1, withscores=True))
        assert leases == {"late": now + 2, "long": now + 15, "fresh": now + 15, "old": now + 15}
        assert await redis.hget("ee:bot:late", "lease_until") == b"1000002.000"
        assert (await d.one(d.bot_grace(at=now - 1))).n == 0  # never shortened
    finally:
        await redis.aclose()


def test_bot_lapses_after_one_lease_when_it_really_died_during_the_downtime(stack: Stack) -> None:
    """The grace delays losing a bot that died while no reactor ran by one lease, no more."""
    reactor = stack.reactor()
    stack.executor()
    worker = stack.worker("--bot", "gone", "--pool", "erp", EE_BOT_LEASE_S=repr(LEASE_S))
    stack.wait_ready()
    poll(lambda: any(b.get("alive") == "1" for b in stack.inspector().bots()), 30, what="the bot in its pool")
    job = stack.submit(on_bot_job("erp"), {"seconds": 60})
    poll(lambda: stack.executions(), 30, what="the activity running")
    reactor.kill()
    worker.signal(signal.SIGKILL)
    back = stack.reactor()
    failed = stack.wait_job(job, timeout=30)
    assert failed["status"] == "failed" and "bot gone" in failed["error"], failed
    [lapse] = log_entries(back, "bot lease lapsed; taking it out of its pool")
    [opened] = log_entries(back, "results waiting at start applied; timers and leases start")
    # Not lapsed at once on start: it had one whole lease after the gate opened.
    waited = datetime.fromisoformat(lapse["timestamp"]) - datetime.fromisoformat(opened["timestamp"])
    assert waited.total_seconds() >= LEASE_S - 0.05, waited
