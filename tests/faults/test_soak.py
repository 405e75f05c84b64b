"""Soak: many jobs in flight while the executor and the reactor are killed again and again.

Size by ``EE_SOAK_JOBS`` (default 1,000 jobs of 3 activities, the issue's size;
raise it by hand). Reports how long it took.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.faults.helpers import assert_at_most_once, assert_chain_outputs
from tests.support.stack import Stack, poll
from tests.workflows import chain

JOBS = int(os.environ.get("EE_SOAK_JOBS", "1000"))
ACTIVITIES = 3


def completed(stack: Stack, ids: list[str]) -> int:
    client = stack.redis_client()
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(f"ee:job:{{{job_id}}}", "status")
    return sum(1 for s in pipe.execute() if s == b"completed")


@pytest.mark.timeout(600)
def test_soak_kills_executor_five_times_and_reactor_three_times(stack: Stack) -> None:
    started = time.monotonic()
    reactor = stack.reactor()
    executor = stack.executor()
    stack.worker()
    stack.wait_ready()
    ids = stack.submit_many(chain(ACTIVITIES), [{"v": i} for i in range(JOBS)], "soak")
    kills = ["executor", "executor", "reactor", "executor", "reactor", "executor", "executor", "reactor"]
    for n, victim in enumerate(kills, start=1):
        # Spread the kills over the run: wait for some progress between them.
        target = min(JOBS, JOBS * n // (len(kills) + 2))
        poll(lambda target=target: completed(stack, ids) >= target, 120, 0.05, f"{target} jobs done")  # type: ignore[misc]
        print(f"soak: {time.monotonic() - started:.1f}s {target} done, killing the {victim}")
        if victim == "executor":
            executor.kill()
            executor = stack.executor()
        else:
            reactor.kill()
            reactor = stack.reactor()
    jobs = stack.wait_jobs(ids, timeout=300)
    elapsed = time.monotonic() - started
    assert_chain_outputs(jobs, {jid: {"v": i} for i, jid in enumerate(ids)})
    assert_at_most_once(stack)
    runs = stack.executions()
    assert len(runs) == JOBS * ACTIVITIES
    print(f"\nsoak: {JOBS} jobs x {ACTIVITIES} activities, 5 executor and 3 reactor kills: {elapsed:.1f} s")
