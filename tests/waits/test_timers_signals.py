"""Durable timers and signals, with timeouts, inbox and errors."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import nats
import pytest
import redis.asyncio as aioredis

from reactor.outcomes import Kept, WakeData
from shared import names
from shared.messages import SignalWait
from shared.names import Keys
from tests.support.cli import InProcessEe, StackEe
from tests.support.scripts import Driver, fired
from tests.support.stack import Stack, poll, text


def sleeping(seconds: float) -> dict[str, Any]:
    return {"name": "nap", "start": "wait", "nodes": {
        "wait": {"kind": "sleep", "seconds": seconds, "next": "done"},
        "done": {"kind": "end", "output": "'woke'"}}}


def waiting(timeout_s: float | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "wait_signal", "signal": "go", "output": "got", "next": "done"}
    if timeout_s is not None:
        node["timeout_s"] = timeout_s
    return {"name": "sig", "start": "wait", "nodes": {"wait": node, "done": {"kind": "end", "output": "vars.got"}}}


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path)


def test_sleep_fires_once(engine: Stack) -> None:
    started = time.monotonic()
    job_id = engine.submit(sleeping(1.0))
    job = engine.wait_job(job_id)
    assert job["output"] == "woke"
    assert time.monotonic() - started >= 1.0
    history = engine.inspector().job(job_id)["history"]  # type: ignore[index]
    assert [h["event"] for h in history].count("fired") == 1


def test_timer_due_while_reactor_is_down_fires_once_after_restart(stack: Stack) -> None:
    reactor = stack.reactor()
    stack.executor()
    job_id = stack.submit(sleeping(1.0))
    stack.wait_job(job_id, statuses=("parked",))
    reactor.kill()
    due = float(stack.inspector().events(job=job_id)[0]["deadline"])
    poll(lambda: time.time() > due + 0.5, 10, what="the timer to come due while the reactor is down")
    assert stack.job(job_id)["status"] == "parked"  # type: ignore[index]
    stack.reactor()
    job = stack.wait_job(job_id)
    assert job["output"] == "woke"
    history = stack.inspector().job(job_id)["history"]  # type: ignore[index]
    assert [h["event"] for h in history].count("fired") == 1


def test_signal_delivered_with_data(engine: Stack, ee: StackEe) -> None:
    job_id = engine.submit(waiting())
    engine.wait_job(job_id, statuses=("parked",))
    out = ee(engine, "signal", job_id, "go", "--data", '{"ok": true, "by": "alice"}')
    assert out.returncode == 0, out.stderr
    assert "delivered" in out.stdout
    assert engine.wait_job(job_id)["output"] == {"ok": True, "by": "alice"}


def test_signal_before_the_wait_is_kept_in_the_inbox(engine: Stack, ee: StackEe) -> None:
    flow = {"name": "late", "start": "first", "nodes": {
        "first": {"kind": "sleep", "seconds": 3600, "next": "wait"},
        "wait": {"kind": "wait_signal", "signal": "go", "output": "got", "next": "done"},
        "done": {"kind": "end", "output": "vars.got"}}}
    job_id = engine.submit(flow)
    [first] = poll(lambda: engine.inspector().events(job=job_id), 20, what="the job to park on its sleep")
    out = ee(engine, "signal", job_id, "go", "--data", '"early bird"')
    assert out.returncode == 0, out.stderr
    assert "inbox" in out.stdout
    inbox = [text(i) for i in engine.redis_client().lrange("ee:job:{" + job_id + "}:inbox", 0, -1)]
    assert len(inbox) == 1 and json.loads(inbox[0])["name"] == "go", inbox
    assert json.loads(json.loads(inbox[0])["result"]) == {"ok": True, "output": "early bird"}
    out = ee(engine, "event", "resolve", first["event_id"])
    assert out.returncode == 0, out.stderr
    assert engine.wait_job(job_id)["output"] == "early bird"
    history = engine.inspector().job(job_id)["history"]  # type: ignore[index]
    assert [h["detail"] for h in history if h["event"] == "signal-kept"] == ["go"]
    assert [h["node"] for h in history if h["event"] == "fired" and h["detail"] == "signal from inbox"] == ["wait"]
    assert engine.redis_client().exists("ee:job:{" + job_id + "}:inbox") == 0


def test_signal_timeout_fails_the_job(engine: Stack) -> None:
    job_id = engine.submit(waiting(timeout_s=0.5))
    job = engine.wait_job(job_id)
    assert job["status"] == "failed"
    assert "timed out" in job["error"]


def test_signal_to_unknown_or_finished_job_is_a_clear_error(engine: Stack, ee: StackEe) -> None:
    out = ee(engine, "signal", "no-such-job", "go")
    assert out.returncode == 3
    assert "unknown job 'no-such-job'" in out.stderr
    job_id = engine.submit(sleeping(0.1))
    engine.wait_job(job_id)
    out = ee(engine, "signal", job_id, "go")
    assert out.returncode == 2
    assert "already completed" in out.stderr


def test_operator_resolves_and_extends_a_wait(engine: Stack, ee: StackEe) -> None:
    job_id = engine.submit(waiting(timeout_s=60))  # long enough for a loaded machine to extend it in time
    engine.wait_job(job_id, statuses=("parked",))
    event_id = engine.inspector().events(job=job_id)[0]["event_id"]
    out = ee(engine, "event", "extend", event_id, "--timeout", "600")
    assert out.returncode == 0, out.stderr
    deadline = float(engine.inspector().events(job=job_id)[0]["deadline"])
    assert deadline > time.time() + 500
    out = ee(engine, "event", "resolve", event_id, "--data", json.dumps({"by": "operator"}))
    assert out.returncode == 0, out.stderr
    assert engine.wait_job(job_id)["output"] == {"by": "operator"}
    history = engine.inspector().job(job_id)["history"]  # type: ignore[index]
    assert {"extended", "fired"} <= {h["event"] for h in history}
    assert engine.event_index_keys() == {}
    out = ee(engine, "event", "fail", event_id, "--error", "too late")
    assert out.returncode == 3 and "unknown event" in out.stderr


def test_a_full_inbox_refuses_the_next_signal_clearly(engine: Stack, ee: StackEe) -> None:
    job_id = engine.submit(sleeping(3600))
    poll(lambda: engine.inspector().events(job=job_id), 20, what="the job to park on its sleep")

    async def fill() -> None:
        nc = await nats.connect(engine.nats.url)
        try:
            for i in range(100):
                body = json.dumps({"job_id": job_id, "signal": f"s{i}"}).encode()
                reply = await nc.request(names.reactor_subject("signal"), body, timeout=10)
                assert json.loads(reply.data) == {"delivered": False, "buffered": True}, reply.headers
        finally:
            await nc.close()

    asyncio.run(fill())
    out = ee(engine, "signal", job_id, "one-too-many")
    assert out.returncode == 2
    assert (f"signal 'one-too-many' refused: job '{job_id}' already holds 100 signals it has not waited for "
            "yet (inbox full)") in out.stderr
    assert engine.redis_client().llen(Keys(engine.prefix).job_inbox(job_id)) == 100


def test_each_inbox_item_expires_on_its_own(stack: Stack) -> None:
    """A later signal does not keep earlier ones alive: each lives its TTL from its own arrival.

    Driven through the reactor's scripts with chosen clock readings (no waiting for a TTL)."""
    job_id, ttl = "inbox-ages", 10
    keys = Keys(stack.prefix)

    async def go() -> None:
        r = aioredis.from_url(stack.redis.url)
        d = Driver(r, keys.prefix)
        try:
            t = d.now
            await d.one(d.start(job_id, name="ages"))

            async def signal(name: str, at: float) -> bool:
                result = b'{"ok":true,"output":"' + name.encode() + b'"}'
                return isinstance(await d.one(d.signal(job_id, name, result, inbox_ttl_s=ttl, at=at)), Kept)

            async def inbox() -> list[str]:
                items = await r.lrange(keys.job_inbox(job_id), 0, -1)
                return [json.loads(i)["name"] for i in items]

            assert await signal("a", t)
            assert await signal("b", t + 8)
            assert 0 < await r.ttl(keys.job_inbox(job_id)) <= ttl
            assert await signal("c", t + 11)  # "a" arrived 11 s ago: gone, though "b" came since
            assert await inbox() == ["b", "c"]

            async def park(fence: int, wait_for: str, at: float) -> list[WakeData]:
                return fired(await d.one(d.park(job_id, fence, [SignalWait(node="w", signal=wait_for)], at=at)))

            assert await park(0, "b", t + 19) == []  # "b" is 11 s old: not met, dropped
            assert await inbox() == ["c"]
            [wake] = await park(1, "c", t + 19)
            assert json.loads(wake.result) == {"ok": True, "output": "c"}
            assert await inbox() == []
        finally:
            await r.aclose()

    asyncio.run(go())
