"""Error classes on results (issue 12), against real servers: a business error is never retried
and keeps its code; a timeout (an activity's last attempt, a signal wait, a bot-lock wait) is of
the class ``timeout``; any other failure carries no class (read as ``application``).

Each test listens on ``ee.executor.wake`` as the executor does and reads the result the
reactor stored on the fired event, as the wake carries it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import nats

from shared import names
from tests.support.stack import Stack


def one_node(node: dict[str, Any]) -> dict[str, Any]:
    return {"name": "classes", "start": "n", "nodes": {"n": {**node, "next": "e"}, "e": {"kind": "end"}}}


def fired_result(stack: Stack, workflow: dict[str, Any], job_input: dict[str, Any] | None = None,
                 within: float = 60) -> tuple[str, dict[str, Any]]:
    """Submit a job of ``workflow`` and return its id and the result of the first wake that
    carries one (the wait of its one waiting node)."""
    job_id = f"classes-{time.monotonic_ns()}"

    async def go() -> dict[str, Any]:
        nc = await nats.connect(stack.nats.url)
        try:
            sub = await nc.subscribe(names.EXECUTOR_WAKE)
            body = {"workflow": workflow, "input": job_input or {}, "job_id": job_id}
            await nc.jetstream().publish(names.JOBS_EXECUTE, json.dumps(body).encode(),
                                         headers={"Nats-Msg-Id": job_id}, timeout=10)
            deadline = time.monotonic() + within
            while True:
                msg = await sub.next_msg(timeout=max(0.1, deadline - time.monotonic()))
                wake = json.loads(msg.data)
                if wake["job_id"] == job_id and wake.get("result"):
                    return dict(wake["result"])
        finally:
            await nc.close()

    return job_id, asyncio.run(go())


def runs(stack: Stack, activity: str) -> int:
    lines = stack.ledger.read_text().splitlines() if stack.ledger.exists() else []
    return sum(1 for line in lines if json.loads(line)["activity"] == activity)


RETRY = {"max_attempts": 3, "backoff_s": 0.01, "multiplier": 1}


def test_a_business_error_is_never_retried_and_keeps_its_code(engine: Stack) -> None:
    job_id, result = fired_result(engine, one_node({
        "kind": "activity", "activity": "demo.reject", "retry": RETRY,
        "input": {"message": "input.why", "code": "input.code"}}), {"why": "invoice already paid", "code": "PAID"})
    assert result == {"ok": False, "output": None, "error": "invoice already paid", "error_type": "business",
                      "error_code": "PAID"}
    job = engine.wait_job(job_id)
    assert job["status"] == "failed" and "invoice already paid" in job["error"]
    assert runs(engine, "demo.reject") == 1  # three attempts allowed, one run
    fired = [h for h in (engine.job(job_id) or {})["history"] if h["event"] == "fired"]
    assert "business error (never retried)" in fired[0]["detail"], fired


def test_an_application_error_is_retried_and_has_no_class(engine: Stack) -> None:
    job_id, result = fired_result(engine, one_node({
        "kind": "activity", "activity": "demo.fail", "retry": RETRY, "input": {"message": "'broken'"}}))
    assert result["ok"] is False and "broken" in result["error"]
    assert "error_type" not in result and "error_code" not in result
    assert engine.wait_job(job_id)["status"] == "failed"
    assert runs(engine, "demo.fail") == 3


def test_an_activity_that_times_out_on_its_last_attempt_is_a_timeout(engine: Stack) -> None:
    _, result = fired_result(engine, one_node({
        "kind": "activity", "activity": "demo.sleep", "timeout_s": 0.3, "input": {"seconds": "`30`"},
        "retry": {"max_attempts": 2, "backoff_s": 0.01}}))
    # The worker gives the attempt up at its timeout_s, or the reactor's timer fires first: either
    # way of the class timeout.
    assert result["error"] == "activity timed out after 0.3 s (attempt 2)" and result["ok"] is False
    assert result["error_type"] == "timeout"


def test_a_signal_wait_and_a_bot_wait_that_time_out_are_timeouts(engine: Stack) -> None:
    _, signal = fired_result(engine, one_node({"kind": "wait_signal", "signal": "go", "timeout_s": 0.3}))
    assert signal == {"ok": False, "error": "signal wait timed out", "error_type": "timeout"}
    _, bot = fired_result(engine, one_node({"kind": "lock_bot", "pool": "nobody-serves", "timeout_s": 0.3}))
    assert bot == {"ok": False, "error": "timed out waiting for a bot", "error_type": "timeout"}


def test_an_activity_nobody_answers_in_time_is_a_timeout(engine: Stack) -> None:
    """No worker serves it: the reactor's timer ends the attempt (timer.lua)."""
    _, result = fired_result(engine, one_node({"kind": "activity", "activity": "nobody.serves", "timeout_s": 0.3}))
    assert result == {"ok": False, "error": "activity timed out after 0.3 s (attempt 1)", "error_type": "timeout"}
