"""SIGKILL the executor at each point of a job's life; a new one finishes every job, once."""

from __future__ import annotations

import signal
import urllib.request
from typing import Any

import pytest

from ee.servers import free_port
from tests.faults.helpers import (
    all_parked,
    assert_at_most_once,
    assert_chain_outputs,
    hold_at,
    job_state,
    log_entries,
    wait_marker,
)
from tests.support.stack import Stack, poll
from tests.workflows import chain

ANY = ("parked", "fired")

# Each point, and the job as Redis holds it when the executor is stopped there:
# (status, fence, {event: allowed statuses}). Event "~F.i" is made by the park at fence F - 1.
# point -> (status, fence, {event id suffix: statuses allowed, or ANY})
POINTS: dict[str, tuple[str, int, dict[str, Any]]] = {
    # start recorded, nothing parked yet
    "job-started": ("running", 0, {}),
    # first park computed, not sent
    "before-park": ("running", 0, {}),
    # the reactor committed the park, the executor did not ack the job
    "park-replied": ("parked", 1, {"~1.0": ANY}),
    # a wake in flight: the first activity's result fired, not consumed
    "wake-received": ("parked", 1, {"~1.0": ("fired",)}),
    # resumed after the first activity, before the next park
    "before-park:2": ("parked", 1, {"~1.0": ("fired",)}),
    # second park committed, executor gone before doing anything else
    "park-replied:2": ("parked", 2, {"~2.0": ANY}),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_executor_killed_at_each_point(stack: Stack, point: str) -> None:
    # A long wake lease: the only wake the held executor can get is the one the point means.
    stack.extra_env.update(EE_WAKE_LEASE_S="10")
    stack.reactor()
    stack.worker()
    held, marker = hold_at(stack, point, "executor")
    job_id = stack.submit(chain(3), {"v": 42})
    wait_marker(marker, held)
    status, fence, events = job_state(stack, job_id)
    want_status, want_fence, want_events = POINTS[point]
    assert (status, fence, sorted(events)) == (want_status, want_fence, sorted(want_events)), (status, fence, events)
    for event, allowed in want_events.items():
        assert events[event] in allowed, (point, events)
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
    ids = stack.submit_many(chain(2, "demo.sleep"), [{"v": i} for i in range(20)], "parked")
    # Killed while every job is parked on a 1 s activity: the results come in while no executor
    # runs, and the new one resumes every job.
    poll(lambda: all_parked(stack, ids), 30, 0.05, "every job parked")
    first.kill()
    stack.executor()
    jobs = stack.wait_jobs(ids, timeout=60)
    assert_chain_outputs(jobs, {jid: {"v": i} for i, jid in enumerate(ids)})
    assert_at_most_once(stack)
    assert len(stack.executions()) == 2 * len(ids)


def in_hand(port: int) -> float:
    """The executor's ``ee_executor_in_hand`` gauge, from its operations endpoint."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return -1
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("ee_executor_in_hand "))


def test_sigterm_parks_the_jobs_in_hand_and_exits_zero(stack: Stack) -> None:
    reactor = stack.reactor()
    stack.worker()
    port = free_port()
    executor = stack.start("ee", "executor", "--grace", "20", EE_OPS_PORT=str(port))
    poll(lambda: log_entries(executor, "executor ready"), 30, 0.05, "the executor to be ready")
    # Work in hand for sure: with the reactor paused, every job the executor takes waits for
    # the reply to its start (a job message is acked only once the job parked).
    reactor.signal(signal.SIGSTOP)
    ids = stack.submit_many(chain(3), [{"v": i} for i in range(20)], "drain")
    poll(lambda: in_hand(port) == len(ids), 30, 0.05, "the executor to hold every job")
    executor.signal(signal.SIGTERM)
    stopping = poll(lambda: log_entries(executor, "stopping"), 30, 0.02, "the executor to start its drain")
    assert stopping[0]["in_hand"] == len(ids) and stopping[0]["grace_s"] == 20
    reactor.signal(signal.SIGCONT)
    assert executor.proc is not None and executor.proc.wait(timeout=30) == 0, executor.output()[-3000:]
    assert [e["in_hand"] for e in log_entries(executor, "drained")] == [0]
    # What it held was parked before it exited: each job's first wait is registered.
    assert {job_state(stack, j)[:2] for j in ids} == {("parked", 1)}
    stack.executor()
    jobs = stack.wait_jobs(ids, timeout=60)
    assert_chain_outputs(jobs, {jid: {"v": i} for i, jid in enumerate(ids)})
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
