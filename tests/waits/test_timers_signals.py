"""Durable timers and signals, with timeouts, inbox and errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from tests.support.stack import Stack, poll


def sleeping(seconds: float) -> dict[str, Any]:
    return {"name": "nap", "start": "wait", "nodes": {
        "wait": {"kind": "sleep", "seconds": seconds, "next": "done"},
        "done": {"kind": "end", "output": "'woke'"}}}


def waiting(timeout_s: float | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "wait_signal", "signal": "go", "output": "got", "next": "done"}
    if timeout_s is not None:
        node["timeout_s"] = timeout_s
    return {"name": "sig", "start": "wait", "nodes": {"wait": node, "done": {"kind": "end", "output": "vars.got"}}}


def ee(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ee", *args], env=stack.env(), capture_output=True, text=True,
                          timeout=30)


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


def test_signal_delivered_with_data(engine: Stack) -> None:
    job_id = engine.submit(waiting())
    engine.wait_job(job_id, statuses=("parked",))
    out = ee(engine, "signal", job_id, "go", "--data", '{"ok": true, "by": "alice"}')
    assert out.returncode == 0, out.stderr
    assert "delivered" in out.stdout
    assert engine.wait_job(job_id)["output"] == {"ok": True, "by": "alice"}


def test_signal_before_the_wait_is_kept_in_the_inbox(engine: Stack) -> None:
    flow = {"name": "late", "start": "first", "nodes": {
        "first": {"kind": "sleep", "seconds": 3600, "next": "wait"},
        "wait": {"kind": "wait_signal", "signal": "go", "output": "got", "next": "done"},
        "done": {"kind": "end", "output": "vars.got"}}}
    job_id = engine.submit(flow)
    [first] = poll(lambda: engine.inspector().events(job=job_id), 20, what="the job to park on its sleep")
    out = ee(engine, "signal", job_id, "go", "--data", '"early bird"')
    assert out.returncode == 0, out.stderr
    assert "inbox" in out.stdout
    inbox = [i.decode() for i in engine.redis_client().lrange("ee:job:{" + job_id + "}:inbox", 0, -1)]
    assert len(inbox) == 1 and inbox[0].split("\n")[0] == "go" and "early bird" in inbox[0], inbox
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


def test_signal_to_unknown_or_finished_job_is_a_clear_error(engine: Stack) -> None:
    out = ee(engine, "signal", "no-such-job", "go")
    assert out.returncode == 2
    assert "unknown job 'no-such-job'" in out.stderr
    job_id = engine.submit(sleeping(0.1))
    engine.wait_job(job_id)
    out = ee(engine, "signal", job_id, "go")
    assert out.returncode == 2
    assert "already completed" in out.stderr


def test_operator_resolves_and_extends_a_wait(engine: Stack) -> None:
    job_id = engine.submit(waiting(timeout_s=2))
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
    out = ee(engine, "event", "fail", event_id, "--error", "too late")
    assert out.returncode == 2 and "unknown event" in out.stderr
