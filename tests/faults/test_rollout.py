"""Rolling out a workflow feature: no executor drops a job it cannot read.

An "old" executor (one that does not know the ``sleep`` node kind, as a build from before it
would not: ``EE_TEST_FORGET_NODE_KINDS``, see shared/forget.py) runs alone while 40 jobs using
that kind are submitted: each is recorded pending, waiting for a capable executor, with the
reason, and given back to JetStream. Then a "new" executor starts beside it and takes every
one over: all complete, run by the new build, none dead-lettered, nothing left in the stream.
The redelivery delay is capped at 0.5 s here (``EE_JOBS_REDELIVERY_MAX_S``, 5 s by default).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from shared import names
from tests.faults.helpers import stream_state
from tests.support.stack import Stack, poll

NAPPER = {
    "name": "napper", "version": 1, "start": "echo",
    "nodes": {
        "echo": {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"}, "output": "e",
                 "next": "nap"},
        "nap": {"kind": "sleep", "seconds": 0.2, "next": "done"},
        "done": {"kind": "end", "output": "vars.e.v"},
    },
}

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
    listed = {row["job_id"]: row for row in ee_json(stack, "jobs", "--limit", "100")}
    assert all(listed[j]["status"] == "pending" and "sleep" in listed[j]["waiting_reason"] for j in ids)
    assert old.alive()

    stack.executor(EE_BUILD="new")
    jobs = stack.wait_jobs(ids, timeout=60)
    wrong = {j: (job.get("status"), job.get("output")) for j, job in jobs.items()
             if (job.get("status"), job.get("output")) != ("completed", int(j.rsplit("-", 1)[1]))}
    assert not wrong, wrong
    for job_id in ids:
        job = inspector.job(job_id)
        assert job is not None and "waiting_for" not in job and "waiting_reason" not in job
        history = job["history"]
        assert history[0]["event"] == "waiting" and history[0]["build"].endswith("+old")
        # Run by the new build only (the old one at most marked a wake it could not run).
        ran = [h for h in history if h["event"] not in ("waiting", "stranded")]
        assert {h["event"] for h in ran} >= {"created", "parked", "completed"}
        assert all(h["build"].endswith("+new") for h in ran if h["build"]), history  # "": the reactor
    assert [d for d in inspector.deadletters() if d["subject"] == names.JOBS_EXECUTE] == []
    poll(lambda: stream_state(stack, names.STREAM_JOBS)[0] == 0, 10, 0.1, "every job message acked")
    assert old.alive()
