"""SIGKILL the reactor at any point; results that arrive meanwhile are applied after restart."""

from __future__ import annotations

import pytest

from shared import names
from tests.faults.helpers import (
    assert_at_most_once,
    assert_chain_outputs,
    hold_at,
    job_state,
    stream_state,
    wait_marker,
)
from tests.support.stack import Stack, poll
from tests.workflows import chain

# Each point, the job when the reactor is stopped there (status, fence, {event: status}),
# whether that event still waits in the dispatch set, and how many activities ran by then.
POINTS = {
    # the first park committed, not replied to, its task not published
    "park-committed": ("parked", 1, {"~1.0": "parked"}, True, 0),
    # the second park committed, not replied to, its task not published
    "park-committed:2": ("parked", 2, {"~2.0": "parked"}, True, 1),
    # the first result applied (event fired), no wake sent, the result not acked
    "results-committed": ("parked", 1, {"~1.0": "fired"}, False, 1),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_reactor_killed_after_committing(stack: Stack, point: str) -> None:
    held, marker = hold_at(stack, point, "reactor")
    stack.executor()
    stack.worker()
    job_id = stack.submit(chain(3), {"v": 7})
    wait_marker(marker, held)
    status, fence, events, undispatched, ran = POINTS[point]
    assert job_state(stack, job_id) == (status, fence, events)
    client = stack.redis_client()
    assert (client.zscore("ee:dispatch", f"{job_id}{next(iter(events))}") is not None) == undispatched
    assert len(stack.executions()) == ran
    held.kill()
    stack.reactor()
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "completed", job
    assert job["output"] == {"v": 7}
    assert_at_most_once(stack)


def test_results_published_while_reactor_is_down_are_applied(stack: Stack) -> None:
    reactor = stack.reactor()
    stack.executor()
    stack.wait_ready()
    ids = stack.submit_many(chain(2), [{"v": i} for i in range(30)], "down")
    client = stack.redis_client()
    # Every job parked and its task in JetStream (none left in the dispatch set); no worker yet,
    # so no result exists before the reactor dies.
    poll(lambda: all(job_state(stack, j)[:2] == ("parked", 1) for j in ids) and client.zcard("ee:dispatch") == 0,
         30, what="all tasks dispatched")
    assert stream_state(stack, names.STREAM_RESPONSES) == (0, 0)
    reactor.kill()
    stack.worker()
    # The worker runs the activities and publishes the results while no reactor runs.
    poll(lambda: stream_state(stack, names.STREAM_RESPONSES)[0] == len(ids), 30, 0.05,
         "every result stored in EE_RESPONSES while the reactor is down")
    assert {job_state(stack, j)[:2] for j in ids} == {("parked", 1)}
    stack.reactor()
    jobs = stack.wait_jobs(ids, timeout=60)
    assert_chain_outputs(jobs, {jid: {"v": i} for i, jid in enumerate(ids)})
    assert_at_most_once(stack)
    assert len(stack.executions()) == 2 * len(ids)
