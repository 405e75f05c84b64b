"""A worker killed mid-activity: the attempt is not run again silently.

The task comes back to the next worker (JetStream redelivers it after the ack
wait); that worker does not run it a second time but reports the attempt failed
("delivered again"), so the node's retry policy decides: with retries a new
attempt (a new task) runs and the job completes; without, the job fails with
that reason.
"""

from __future__ import annotations

from typing import Any

from tests.faults.helpers import assert_at_most_once
from tests.support.stack import Stack, poll

AGAIN = "attempt 1 was delivered again: the worker that had it stopped mid-run"


def napper(retry: dict[str, Any] | None) -> dict[str, Any]:
    nap: dict[str, Any] = {"kind": "activity", "activity": "demo.sleep",
                           "input": {"seconds": "`1.5`", "n": "input.n"}, "output": "slept", "next": "done"}
    if retry is not None:
        nap["retry"] = retry
    return {"name": "napper", "version": 1, "start": "nap",
            "nodes": {"nap": nap, "done": {"kind": "end", "output": "vars.slept.n"}}}


def kill_worker_mid_activity(stack: Stack, workflow: dict[str, Any]) -> str:
    stack.extra_env.update(EE_ACTIVITY_ACK_WAIT_S="1.5")
    stack.reactor()
    stack.executor()
    first = stack.worker()
    job_id = stack.submit(workflow, {"n": 7})
    poll(lambda: stack.executions(), 30, what="the activity to start")
    first.kill()
    stack.worker()
    return job_id


def test_killed_attempt_is_reported_failed_and_retried(stack: Stack) -> None:
    job_id = kill_worker_mid_activity(stack, napper({"max_attempts": 3, "backoff_s": 0.2}))
    job = stack.wait_job(job_id, timeout=60)
    assert (job["status"], job["output"]) == ("completed", 7), job
    event = f"{job_id}~1.0"
    # The killed run of attempt 1, then attempt 2 on the new worker: each attempt ran once.
    assert dict(stack.executions()) == {(event, 1): 1, (event, 2): 1}
    assert_at_most_once(stack)
    history = stack.inspector().job(job_id)["history"]  # type: ignore[index]
    retries = [h["detail"] for h in history if h["event"] == "retry"]
    assert retries == [f"attempt 1 failed: {AGAIN}"], history


def test_killed_attempt_without_retries_fails_the_job_clearly(stack: Stack) -> None:
    job_id = kill_worker_mid_activity(stack, napper(None))
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "failed", job
    assert job["error"] == f"node 'nap': activity 'demo.sleep' failed: {AGAIN}"
    assert dict(stack.executions()) == {(f"{job_id}~1.0", 1): 1}
