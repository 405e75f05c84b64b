"""SIGKILL the executor at each point of a job's life; a new one finishes every job, once."""

from __future__ import annotations

import pytest

from tests.faults.helpers import assert_at_most_once, hold_at, wait_marker
from tests.support.stack import Stack
from tests.workflows import chain

POINTS = [
    "job-started",        # start recorded, nothing parked yet
    "before-park",        # first park computed, not sent
    "park-replied",       # the reactor committed the park, the executor did not ack the job
    "wake-received",      # a wake in flight
    "before-park:2",      # resumed after the first activity, before the next park
    "park-replied:2",     # second park committed, executor gone before doing anything else
]


@pytest.mark.parametrize("point", POINTS)
def test_executor_killed_at_each_point(stack: Stack, point: str) -> None:
    stack.reactor()
    stack.worker()
    held, marker = hold_at(stack, point, "executor")
    job_id = stack.submit(chain(3), {"v": 42})
    wait_marker(marker, held)
    held.kill()
    stack.executor()
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "completed", job
    assert job["output"] == {"v": 42}
    assert_at_most_once(stack)
    history = stack.inspector().job(job_id)["history"]  # type: ignore[index]
    fired = [h["node"] for h in history if h["event"] == "fired"]
    assert fired == ["s0", "s1", "s2"], history


def test_executor_killed_while_jobs_are_parked(stack: Stack) -> None:
    stack.reactor()
    stack.worker()
    first = stack.executor()
    ids = stack.submit_many(chain(2, "demo.sleep"), [{"v": i, "seconds": 0.5} for i in range(20)], "parked")
    # Results come in while no executor runs; the new one resumes every job.
    stack.wait_job(ids[-1], statuses=("parked",))
    first.kill()
    stack.executor()
    jobs = stack.wait_jobs(ids, timeout=60)
    assert all(j["status"] == "completed" for j in jobs.values())
    assert_at_most_once(stack)


def test_sigterm_drains_and_exits_zero(stack: Stack) -> None:
    stack.reactor()
    stack.worker()
    first = stack.executor()
    ids = stack.submit_many(chain(3), [{"v": i} for i in range(50)], "drain")
    stack.wait_job(ids[0], statuses=("parked", "completed"))
    assert first.stop(timeout=30) == 0
    assert "drained" in first.output()
    stack.executor()
    jobs = stack.wait_jobs(ids, timeout=60)
    assert [j["output"] for j in jobs.values()] == [{"v": i} for i in range(50)]
    assert_at_most_once(stack)


def test_two_builds_one_killed_mid_run_never_both_advance(stack: Stack) -> None:
    stack.reactor()
    stack.worker()
    old = stack.executor(EE_BUILD="old")
    stack.executor(EE_BUILD="new")
    ids = stack.submit_many(chain(4), [{"v": i} for i in range(40)], "rollout")
    stack.wait_job(ids[5], statuses=("parked", "completed"))
    old.kill()
    jobs = stack.wait_jobs(ids, timeout=60)
    assert [j["output"] for j in jobs.values()] == [{"v": i} for i in range(40)]
    assert_at_most_once(stack)
    inspector = stack.inspector()
    builds = set()
    for job_id in ids:
        history = inspector.job(job_id)["history"]  # type: ignore[index]
        # Each wait fired once and was resumed once: no double advance.
        assert [h["event"] for h in history].count("fired") == 4
        assert [h["event"] for h in history].count("completed") == 1
        builds |= {h["build"] for h in history if h["event"] == "resumed"}
    assert "0.1.0+new" in builds
