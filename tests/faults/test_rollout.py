"""Rolling out a workflow feature: no executor drops a job it cannot read.

An "old" executor (one that does not know the ``sleep`` node kind, as a build from before it
would not: ``EE_TEST_FORGET_NODE_KINDS``, see shared/forget.py) runs alone while 40 jobs using
that kind are submitted: each is recorded pending, waiting for a capable executor, with the
reason, and given back to JetStream. Then a "new" executor starts beside it and takes every
one over: all complete, run by the new build, none dead-lettered, nothing left in the stream.
The redelivery delay is capped at 0.5 s here (``EE_JOBS_REDELIVERY_MAX_S``, 5 s by default).

The same rollout with the reactor taken down in its middle (SIGKILL, and SIGTERM): the new
build has taken some jobs over (parked on their sleep, timers armed), more jobs are accepted
while no reactor runs and both builds hold them, waiting for it; once it is back every job
completes, run by the new build, once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import nats
import pytest

from shared import names
from tests.faults.helpers import assert_at_most_once, stream_state
from tests.support.stack import Stack, poll


def napper(seconds: float) -> dict[str, Any]:
    """An activity, then a ``sleep`` (the kind the old build does not know); the output is ``input.v``."""
    return {
        "name": "napper", "version": 1, "start": "echo",
        "nodes": {
            "echo": {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"}, "output": "e",
                     "next": "nap"},
            "nap": {"kind": "sleep", "seconds": seconds, "next": "done"},
            "done": {"kind": "end", "output": "vars.e.v"},
        },
    }


NAPPER = napper(0.2)

OLD = {"EE_BUILD": "old", "EE_TEST_FORGET_NODE_KINDS": "sleep"}


def ee_json(stack: Stack, *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "ee", *args, "--json"], env=stack.env(), capture_output=True,
                         text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_old_and_new_executors_together_run_every_job_of_a_new_node_kind(stack: Stack) -> None:
    stack.extra_env.update(EE_JOBS_REDELIVERY_MAX_S="0.5", EE_WAKE_LEASE_S="1")
    stack.reactor()
    stack.worker()
    old = stack.executor(**OLD)
    stack.wait_ready()
    ids = stack.submit_many(NAPPER, [{"v": i} for i in range(40)], "rollout")
    inspector = stack.inspector()

    def all_waiting() -> bool:
        jobs = [inspector.job(j, history=False) or {} for j in ids]
        return all(job.get("status") == "pending" and job.get("waiting_for") == "a capable executor"
                   for job in jobs)

    poll(all_waiting, 30, 0.1, "every job to be recorded waiting for a capable executor")
    # What an operator sees meanwhile: pending, why, and which build cannot read it.
    status = ee_json(stack, "status", ids[0])
    assert status["status"] == "pending" and status["output"] is None and status["error"] is None
    assert "executor build" in status["waiting_reason"] and "+old" in status["waiting_reason"]
    assert "unknown node kind 'sleep'" in status["waiting_reason"] and "node 'nap'" in status["waiting_reason"]
    assert [h["event"] for h in status["history"]] == ["waiting"]
    rows = ee_json(stack, "jobs", "--limit", "100")
    listed = {row["job_id"]: row for row in rows}
    assert len(listed) == len(rows) == len(ids)  # in Redis and in the stream: listed once
    assert all(listed[j]["status"] == "pending" and "sleep" in listed[j]["waiting_reason"] for j in ids)
    assert old.alive()

    stack.executor(EE_BUILD="new")
    assert_run_once_by_the_new_build(stack, ids)
    assert all(inspector.job(j)["history"][0]["event"] == "waiting" for j in ids)  # type: ignore[index]
    assert old.alive()


def assert_run_once_by_the_new_build(stack: Stack, ids: list[str]) -> None:
    """Every job completes with its output, run by the new build, its activity once, finished
    once; nothing dead-lettered, nothing left in the jobs stream."""
    inspector = stack.inspector()
    jobs = stack.wait_jobs(ids, timeout=60)
    wrong = {j: (job.get("status"), job.get("output")) for j, job in jobs.items()
             if (job.get("status"), job.get("output")) != ("completed", int(j.rsplit("-", 1)[1]))}
    assert not wrong, wrong
    for job_id in ids:
        job = inspector.job(job_id)
        assert job is not None and "waiting_for" not in job and "waiting_reason" not in job
        history = job["history"]
        if history[0]["event"] == "waiting":  # recorded by the old build before the new one took it
            assert history[0]["build"].endswith("+old")
        # Run by the new build only (the old one at most marked a wake it could not run).
        ran = [h for h in history if h["event"] not in ("waiting", "stranded")]
        assert {h["event"] for h in ran} >= {"created", "parked", "completed"}
        assert all(h["build"].endswith("+new") for h in ran if h["build"]), history  # "": the reactor
        assert [h["event"] for h in history].count("completed") == 1, history
    runs = stack.executions()
    assert sorted(runs) == sorted((f"{j}~1.0", 1) for j in ids), runs  # each job's activity, attempt 1
    assert_at_most_once(stack)
    assert [d for d in inspector.deadletters() if d["subject"] == names.JOBS_EXECUTE] == []
    poll(lambda: stream_state(stack, names.STREAM_JOBS)[0] == 0, 10, 0.1, "every job message acked")


def jobs_undelivered(stack: Stack) -> int:
    """Job messages not yet delivered to any executor."""
    async def go() -> int:
        nc = await nats.connect(stack.nats.url)
        try:
            info = await nc.jetstream().consumer_info(names.STREAM_JOBS, names.CONSUMER_EXECUTOR_JOBS)
            return int(info.num_pending or 0)
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_rollout_with_the_reactor_down_in_its_middle_runs_every_job_once_by_the_new_build(
        stack: Stack, how: str) -> None:
    stack.extra_env.update(EE_JOBS_REDELIVERY_MAX_S="0.5", EE_WAKE_LEASE_S="1")
    reactor = stack.reactor()
    stack.worker()
    old = stack.executor(**OLD)
    stack.wait_ready()
    flow = napper(2.0)
    before = stack.submit_many(flow, [{"v": i} for i in range(10)], f"before-{how}")
    inspector = stack.inspector()
    poll(lambda: all((inspector.job(j, history=False) or {}).get("status") == "pending" for j in before),
         30, 0.1, "every job recorded waiting for a capable executor")

    stack.executor(EE_BUILD="new")

    def taken_over() -> bool:
        jobs = [inspector.job(j, history=False) or {} for j in before]
        return any(job.get("status") == "parked" for job in jobs)

    poll(taken_over, 30, 0.02, "the new build to take a job over")
    if how == "sigkill":
        reactor.kill()
    else:
        assert reactor.stop() == 0, reactor.output()[-3000:]
    # Accepted while no reactor runs: JetStream holds them, the executors take them and wait.
    during = stack.submit_many(flow, [{"v": i} for i in range(10)], f"during-{how}")
    poll(lambda: jobs_undelivered(stack) == 0, 30, 0.05, "every job delivered to an executor")
    assert {(inspector.job(j, history=False) or {}).get("status") for j in before} <= {"pending", "parked", "running"}
    # Visible meanwhile: accepted while no reactor runs, each one pending.
    listed = {row["job_id"]: row["status"] for row in ee_json(stack, "jobs", "--limit", "100")}
    assert {listed.get(j) for j in during} == {"pending"}, listed
    assert ee_json(stack, "status", during[0])["status"] == "pending"

    stack.reactor()
    assert_run_once_by_the_new_build(stack, before + during)
    assert all(inspector.job(j)["history"][0]["event"] == "waiting" for j in before)  # type: ignore[index]
    assert old.alive()
