"""Activity timeouts and retries with backoff; cancellation of a job parked on each kind of wait."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import nats
import pytest

from ee.servers import free_port
from shared import names
from shared.errors import InvalidWorkflow
from shared.names import Keys
from shared.workflow import decode_workflow
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll


def flaky(failures: int, attempts: int, backoff_s: float = 0.2) -> dict[str, Any]:
    return {"name": "flaky", "start": "try", "nodes": {
        "try": {"kind": "activity", "activity": "demo.flaky", "input": {"failures": f"`{failures}`"},
                "retry": {"max_attempts": attempts, "backoff_s": backoff_s, "multiplier": 2},
                "output": "r", "next": "done"},
        "done": {"kind": "end", "output": "vars.r"}}}


def test_flaky_activity_succeeds_after_retries_with_backoff(engine: Stack) -> None:
    job_id = engine.submit(flaky(2, 3))
    job = engine.wait_job(job_id)
    assert job["status"] == "completed", job
    attempts = sorted(a for (_, a) in engine.executions())
    assert attempts == [1, 2, 3]
    history = engine.inspector().job(job_id)["history"]  # type: ignore[index]
    retries = [h for h in history if h["event"] == "retry"]
    assert len(retries) == 2 and "attempt 1 failed" in retries[0]["detail"]
    assert engine.event_index_keys() == {}


def test_retries_run_out_and_fail_the_job(engine: Stack) -> None:
    job = engine.wait_job(engine.submit(flaky(5, 2, 0.1)))
    assert job["status"] == "failed"
    assert "attempt 2" in job["error"] or "flaky" in job["error"]
    assert sorted(a for (_, a) in engine.executions()) == [1, 2]


def test_activity_timeout_retries_then_fails(engine: Stack) -> None:
    flow = {"name": "slow", "start": "slow", "nodes": {
        "slow": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`5`"}, "timeout_s": 0.5,
                 "retry": {"max_attempts": 2, "backoff_s": 0.1}, "output": "r", "next": "done"},
        "done": {"kind": "end"}}}
    job = engine.wait_job(engine.submit(flow), timeout=30)
    assert job["status"] == "failed"
    assert "timed out after 0.5 s (attempt 2)" in job["error"]
    assert sorted(a for (_, a) in engine.executions()) == [1, 2]
    assert engine.event_index_keys() == {}


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path)


def test_extend_refuses_an_activity_in_retry_backoff_and_extends_a_running_attempt(engine: Stack, ee: StackEe) -> None:
    """Between attempts the event's timer is the next attempt's start: extend refuses rather
    than delay the retry. On a running attempt it moves that attempt's timeout."""
    job_id = engine.submit(flaky(failures=1, attempts=2, backoff_s=60))
    inspector = engine.inspector()
    [event] = poll(lambda: [e for e in inspector.events(job=job_id) if e.get("phase") == "backoff"], 20,
                   what="the first attempt to fail into a backoff")
    event_id, retry_at = event["event_id"], event["deadline"]
    out = ee(engine, "event", "extend", event_id, "--timeout", "600")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "waiting out a retry backoff (attempt 2 starts in" in out.stderr
    [after] = inspector.events(job=job_id)
    assert after["deadline"] == retry_at and after["phase"] == "backoff"
    assert engine.redis_client().zscore(Keys(engine.prefix).timers, event_id) == float(retry_at)
    history = inspector.job(job_id)["history"]  # type: ignore[index]
    assert "extended" not in {h["event"] for h in history}

    running = engine.submit({"name": "slow", "start": "nap", "nodes": {
        # A timeout long enough that the attempt still runs when a loaded machine's ee extends it.
        "nap": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`120`"}, "timeout_s": 60,
                "retry": {"max_attempts": 2, "backoff_s": 60}, "output": "r", "next": "done"},
        "done": {"kind": "end"}}})
    [nap] = poll(lambda: inspector.events(job=running), 20, what="the running attempt")
    assert ee(engine, "event", "extend", nap["event_id"], "--timeout", "600").returncode == 0
    [nap] = inspector.events(job=running)
    assert nap["phase"] == "running" and float(nap["deadline"]) > time.time() + 500
    for one in (job_id, running):
        assert ee(engine, "cancel", one).returncode == 0


WAITS: dict[str, dict[str, Any]] = {
    "activity": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`30`"}, "next": "done"},
    "timer": {"kind": "sleep", "seconds": 60, "next": "done"},
    "signal": {"kind": "wait_signal", "signal": "never", "next": "done"},
    "bot_lock": {"kind": "lock_bot", "pool": "nobody-here", "next": "done"},
}


@pytest.mark.parametrize("kind", sorted(WAITS))
def test_cancel_a_job_parked_on_each_kind_of_wait(engine: Stack, kind: str, ee: StackEe) -> None:
    flow = {"name": f"cancel-{kind}", "start": "w", "nodes": {"w": WAITS[kind], "done": {"kind": "end"}}}
    job_id = engine.submit(flow)
    inspector = engine.inspector()
    poll(lambda: inspector.events(job=job_id), 20, what="the parked wait")
    out = ee(engine, "cancel", job_id)
    assert out.returncode == 0, out.stderr
    job = engine.wait_job(job_id)
    assert job["status"] == "cancelled"
    assert inspector.events(job=job_id) == []
    assert inspector.events(kind=kind) == []
    assert engine.event_index_keys() == {}
    client = engine.redis_client()
    assert client.zcard("ee:timers") == 0 and client.zcard("ee:wakes") == 0
    again = ee(engine, "cancel", job_id)
    assert again.returncode == 2 and "already cancelled" in again.stderr


def test_cancel_through_the_jobs_cancel_stream(engine: Stack) -> None:
    flow = {"name": "c", "start": "w", "nodes": {"w": WAITS["timer"], "done": {"kind": "end"}}}
    job_id = engine.submit(flow)
    engine.wait_job(job_id, statuses=("parked",))
    engine.publish("jobs.cancel", f'{{"job_id": "{job_id}", "reason": "by stream"}}'.encode())
    job = engine.wait_job(job_id)
    assert job["status"] == "cancelled" and job["error"] == "by stream"


def counter(port: int, name: str) -> float:
    """A counter's value on a service's /metrics (0 while it has not been moved)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def with_metrics(stack: Stack, *, worker: bool) -> int:
    """Start reactor (its /metrics on a free port), executor and, if asked, the demo worker."""
    port = free_port()
    stack.reactor(EE_OPS_PORT=str(port))
    stack.executor()
    if worker:
        stack.worker()
    stack.wait_ready()
    poll(lambda: _answers(port), 20, what="the reactor's ops endpoint")
    return port


def _answers(port: int) -> bool:
    try:
        counter(port, "ee_duplicate_results_total")
    except OSError:
        return False
    return True


def send_result(stack: Stack, event_id: str, attempt: int, ok: bool, output: Any = None,
                error: str | None = None, token: str = "") -> None:
    """Publish an ActivityResult as a worker would (a worker copies the task's token)."""
    body = {"event_id": event_id, "attempt": attempt, "ok": ok, "output": output, "error": error,
            "worker": "test", "token": token}
    stack.publish(names.ACTIVITY_RESPONSE, json.dumps(body).encode())


def responses_state(stack: Stack) -> tuple[int, int]:
    """(results ever stored, results still held) in the results stream: the reactor takes each
    out once it has applied it."""
    async def go() -> tuple[int, int]:
        nc = await nats.connect(stack.nats.url)
        try:
            info = await nc.jetstream().stream_info(names.STREAM_RESPONSES)
            return int(info.state.last_seq), int(info.state.messages)
        finally:
            await nc.close()

    return asyncio.run(go())


def test_late_result_after_cancel_is_ignored_and_counted(stack: Stack) -> None:
    port = with_metrics(stack, worker=True)
    flow = {"name": "late", "start": "w", "nodes": {
        "w": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`5`"}, "next": "done"},
        "done": {"kind": "end"}}}
    job_id = stack.submit(flow)
    poll(lambda: list(stack.executions()), 20, what="the activity to start")
    before = counter(port, "ee_duplicate_results_total")
    stack.request("ee.reactor.cancel", json.dumps({"job_id": job_id}).encode())
    assert stack.wait_job(job_id)["status"] == "cancelled"
    # The worker stops (cancel notice) or finishes, and publishes its result: the reactor drops it.
    poll(lambda: counter(port, "ee_duplicate_results_total") > before, 30, what="the late result to be applied")
    assert responses_state(stack) == (1, 0)  # the worker's one result, applied (and dropped)
    job = stack.job(job_id)
    assert job is not None and job["status"] == "cancelled" and job["events"] == []
    assert [h["event"] for h in job["history"]].count("fired") == 0


def test_result_for_an_old_attempt_is_ignored(stack: Stack) -> None:
    port = with_metrics(stack, worker=False)  # no worker: this test plays it
    flow = {"name": "old", "start": "w", "nodes": {
        "w": {"kind": "activity", "activity": "demo.echo", "input": {"x": "`1`"}, "output": "r",
              "retry": {"max_attempts": 3, "backoff_s": 0.1}, "next": "done"},
        "done": {"kind": "end", "output": "vars.r"}}}
    job_id = stack.submit(flow)
    inspector = stack.inspector()
    [event] = poll(lambda: inspector.events(job=job_id), 20, what="the activity to park")
    event_id = event["event_id"]
    first = stack.task_token("demo.echo", event_id, 1)
    send_result(stack, event_id, 1, False, error="first try broke", token=first)
    poll(lambda: [(e["attempt"], e["phase"]) for e in inspector.events(job=job_id)] == [(2, "running")], 20,
         what="attempt 2 to run")
    client = stack.redis_client()
    keys = Keys(stack.prefix)
    event_key, job_key = keys.event(event_id), keys.job(job_id)
    event_before, job_before = client.hgetall(event_key), client.hgetall(job_key)
    history_before = client.xlen(keys.job_history(job_id))
    assert event_before, event_key
    before = counter(port, "ee_duplicate_results_total")
    send_result(stack, event_id, 1, True, output={"stale": True}, token=first)
    poll(lambda: counter(port, "ee_duplicate_results_total") > before, 20, what="the old result to be applied")
    assert client.hgetall(event_key) == event_before
    assert client.hgetall(job_key) == job_before
    assert client.xlen(keys.job_history(job_id)) == history_before
    assert client.zscore(keys.wakes, job_id) is None
    send_result(stack, event_id, 2, True, output={"fresh": True}, token=stack.task_token("demo.echo", event_id, 2))
    assert stack.wait_job(job_id)["output"] == {"fresh": True}


def test_activity_timeout_fired_by_the_reactor_when_no_worker_answers(stack: Stack) -> None:
    """No worker serves the activity, so only the reactor's timeout can end each attempt."""
    stack.reactor()
    stack.executor()
    stack.wait_ready()
    flow = {"name": "unserved", "start": "slow", "nodes": {
        "slow": {"kind": "activity", "activity": "demo.sleep", "input": {"seconds": "`5`"}, "timeout_s": 0.5,
                 "retry": {"max_attempts": 2, "backoff_s": 0.1}, "output": "r", "next": "done"},
        "done": {"kind": "end"}}}
    job_id = stack.submit(flow)
    job = stack.wait_job(job_id, timeout=30)
    assert job["status"] == "failed"
    assert job["error"].endswith("activity timed out after 0.5 s (attempt 2)"), job
    history = stack.inspector().job(job_id)["history"]  # type: ignore[index]
    assert [h["detail"] for h in history if h["event"] == "retry"] == [
        "attempt 1 failed: activity timed out after 0.5 s (attempt 1)"]
    assert stack.executions() == {}

    assert responses_state(stack) == (0, 0)  # no result was ever published


def submit_for_seq(stack: Stack, workflow: dict[str, Any], job_id: str) -> int:
    """Submit a job; the stream sequence of its message."""
    async def go() -> int:
        nc = await nats.connect(stack.nats.url)
        try:
            body = json.dumps({"workflow": workflow, "input": {}, "job_id": job_id}).encode()
            ack = await nc.jetstream().publish(names.JOBS_EXECUTE, body, headers={"Nats-Msg-Id": job_id})
            return int(ack.seq)
        finally:
            await nc.close()

    return asyncio.run(go())


def executor_acked(stack: Stack, seq: int) -> bool:
    """Whether the executors' consumer has acknowledged every job message up to ``seq``."""
    async def go() -> bool:
        nc = await nats.connect(stack.nats.url)
        try:
            info = await nc.jetstream().consumer_info(names.STREAM_JOBS, names.CONSUMER_EXECUTOR_JOBS)
            return bool(info.ack_floor and info.ack_floor.stream_seq >= seq)
        finally:
            await nc.close()

    return asyncio.run(go())


def test_cancel_on_the_stream_before_the_job_starts_keeps_it_from_running(engine: Stack) -> None:
    job_id = "cancelled-early"
    engine.publish("jobs.cancel", json.dumps({"job_id": job_id, "reason": "changed my mind"}).encode())
    record = engine.wait_job(job_id, statuses=("cancelled",))
    assert record["error"] == "changed my mind"
    flow = {"name": "early", "start": "w", "nodes": {
        "w": {"kind": "activity", "activity": "demo.echo", "input": {"x": "`1`"}, "output": "r", "next": "done"},
        "done": {"kind": "end", "output": "vars.r"}}}
    seq = submit_for_seq(engine, flow, job_id)
    poll(lambda: executor_acked(engine, seq), 30, what="the executor to take the job message")
    job = engine.inspector().job(job_id)
    assert job is not None and job["status"] == "cancelled" and job["error"] == "changed my mind"
    assert job["events"] == [] and job["output"] is None
    assert [(h["event"], h["detail"]) for h in job["history"]] == [
        ("cancelled", "changed my mind (before the job started)")]
    assert engine.executions() == {}


def test_ee_cancel_of_an_unknown_job_says_so_and_records_nothing(engine: Stack) -> None:
    out = subprocess.run([sys.executable, "-m", "ee", "cancel", "never-submitted"], env=engine.env(),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 3
    assert "unknown job 'never-submitted'" in out.stderr
    assert engine.job("never-submitted") is None


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("max_attempts", 0, "must be from 1 to 100, got 0"),
    ("max_attempts", 101, "must be from 1 to 100, got 101"),
    ("backoff_s", -1, "must be from 0 to 86400, got -1.0"),
    ("backoff_s", 86_401, "must be from 0 to 86400, got 86401.0"),
    ("multiplier", 0.5, "must be from 1 to 10, got 0.5"),
    ("multiplier", 11, "must be from 1 to 10, got 11.0"),
    ("max_backoff_s", -5, "must be from 0 to 86400, got -5.0"),
    ("max_backoff_s", 1e9, "must be from 0 to 86400, got 1000000000.0"),
])
def test_a_bad_retry_policy_is_refused_naming_node_and_field(field: str, value: float, reason: str) -> None:
    flow = flaky(1, 3)
    flow["nodes"]["try"]["retry"][field] = value
    with pytest.raises(InvalidWorkflow) as caught:
        decode_workflow(flow)
    assert str(caught.value) == f"invalid workflow: node 'try', field 'retry.{field}': {reason}"
