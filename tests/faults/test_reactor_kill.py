"""SIGKILL the reactor at any point; results that arrive meanwhile are applied after restart."""

from __future__ import annotations

import pytest

from tests.faults.helpers import assert_at_most_once, hold_at, job_state, wait_marker
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
    stack.worker()
    stack.wait_ready()
    ids = stack.submit_many(chain(2, "demo.sleep"), [{"v": i, "seconds": 1.0} for i in range(30)], "down")
    client = stack.redis_client()
    # Every task dispatched (none left in the dispatch set), then the reactor dies.
    poll(lambda: all((stack.job(j) or {}).get("status") == "parked" for j in ids) and client.zcard("ee:dispatch") == 0,
         30, what="all tasks dispatched")
    reactor.kill()
    # The workers finish their activities and publish results while no reactor runs.
    poll(lambda: len(stack.executions()) >= 30, 30, what="activities to run while the reactor is down")
    stack.reactor()
    jobs = stack.wait_jobs(ids, timeout=60)
    assert [j["output"] for j in jobs.values()] == [{"v": i} for i in range(30)]
    assert_at_most_once(stack)
