"""SIGKILL the reactor at any point; results that arrive meanwhile are applied after restart."""

from __future__ import annotations

import pytest

from shared import names
from tests.faults.helpers import (
    assert_at_most_once,
    assert_chain_outputs,
    hold_at,
    job_state,
    log_entries,
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


def test_reactor_killed_between_publish_ack_and_dispatch_mark(stack: Stack) -> None:
    """The task is in JetStream, its event still in the dispatch set: the restarted reactor
    publishes it again under the same Nats-Msg-Id and JetStream drops the copy."""
    held, marker = hold_at(stack, "dispatch-published", "reactor")
    stack.executor()
    job_id = stack.submit(chain(3), {"v": 5})
    wait_marker(marker, held)
    assert job_state(stack, job_id) == ("parked", 1, {"~1.0": "parked"})
    assert stack.redis_client().zscore("ee:dispatch", f"{job_id}~1.0") is not None
    assert stream_state(stack, names.STREAM_ACTIVITIES) == (1, 1)
    held.kill()
    reactor = stack.reactor()
    # The start-up sweep sends the task again; no worker runs yet, so the stream shows
    # what JetStream did with the second copy: still one message, none added.
    poll(lambda: log_entries(reactor, "re-dispatched activities"), 30, 0.05, "the start-up sweep")
    poll(lambda: stack.redis_client().zcard("ee:dispatch") == 0, 10, 0.05, "the dispatch mark")
    assert stream_state(stack, names.STREAM_ACTIVITIES) == (1, 1)
    stack.worker()
    job = stack.wait_job(job_id, timeout=60)
    assert (job["status"], job["output"]) == ("completed", {"v": 5}), job
    assert_at_most_once(stack)
    assert len(stack.executions()) == 3
    # One task message per activity attempt was ever stored.
    assert stream_state(stack, names.STREAM_ACTIVITIES)[1] == 3


def test_reactor_killed_before_the_start_reply(stack: Stack) -> None:
    held, marker = hold_at(stack, "start-committed", "reactor")
    stack.executor()
    stack.worker()
    job_id = stack.submit(chain(2), {"v": 3})
    wait_marker(marker, held)
    assert job_state(stack, job_id) == ("running", 0, {})
    held.kill()
    stack.reactor()
    job = stack.wait_job(job_id, timeout=60)
    assert (job["status"], job["output"]) == ("completed", {"v": 3}), job
    assert_at_most_once(stack)
    history = stack.inspector().job(job_id)["history"]  # type: ignore[index]
    assert [h["event"] for h in history].count("created") == 1
    assert [h["node"] for h in history if h["event"] == "fired"] == ["s0", "s1"]
