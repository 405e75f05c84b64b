"""A worker killed mid-activity: the task is redelivered and the job completes."""

from __future__ import annotations

from tests.support.stack import Stack, poll
from tests.workflows import sleeper


def test_worker_killed_mid_activity_is_redelivered(stack: Stack) -> None:
    stack.reactor()
    stack.executor()
    first = stack.worker()
    job_id = stack.submit(sleeper(1.5), {})
    poll(lambda: stack.executions(), 30, what="the activity to start")
    first.kill()
    stack.worker()
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "completed", job
    runs = stack.executions()
    # The killed run and the redelivered one: same attempt, run twice, finished once.
    assert list(runs.values()) == [2]
