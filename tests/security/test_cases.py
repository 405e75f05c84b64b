"""Numbered cases of issue 9 that had no test of their own: each reproduces the case as the
probe did, and checks the behaviour of today (docs/guarantees.md lists every case with its test).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest

from ee.servers import nats_server, redis_server
from shared import names
from shared.config import Settings
from shared.errors import InvalidName
from shared.workflow import decode_workflow, encode_workflow, workflow_digest
from tests.faults.helpers import log_entries
from tests.support.hostile import assert_serving, deadletters, error_of
from tests.support.stack import Stack, poll
from tests.workflows import chain
from worker import demo
from worker.sdk import Worker

LONG_ACTIVITY = "a" * 5000


def long_activity_flow() -> dict[str, Any]:
    return {"name": "long", "start": "work", "nodes": {
        "work": {"kind": "activity", "activity": LONG_ACTIVITY, "input": {"v": "`1`"}, "output": "r",
                 "next": "done"},
        "done": {"kind": "end", "output": "vars.r"}}}


def test_case_5_a_5000_character_activity_name_at_every_entry_point(stack: Stack, tmp_path: Path) -> None:
    """Case 5: ``ee submit`` and the executor's intake refuse the workflow, the worker SDK
    refuses to register the name, and a workflow stored before the rule (started as is) fails
    its attempt "not dispatched": the task subject is never sent, the reactor stays connected,
    and its next start sends nothing again."""
    stack.up()
    path = tmp_path / "long.json"
    path.write_text(json.dumps(long_activity_flow()))
    out = subprocess.run([sys.executable, "-m", "ee", "submit", str(path)], env=stack.env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "invalid activity name 'aaaa" in out.stderr and "(5000 characters)" in out.stderr, out.stderr

    stack.publish(names.JOBS_EXECUTE, json.dumps({"workflow": long_activity_flow(), "job_id": "long-raw"}).encode())
    refused = stack.wait_job("long-raw")
    assert refused["status"] == "failed" and "invalid activity name" in refused["refused"], refused

    with pytest.raises(InvalidName, match=r"invalid activity name .*\(5000 characters\)"):
        Worker(Settings(nats_url="nats://127.0.0.1:1")).register(LONG_ACTIVITY, demo.echo)

    # Stored before the rule: the reactor's start takes it as it is, an executor runs it.
    workflow = encode_workflow(decode_workflow(long_activity_flow(), check_names=False))
    start = {"job_id": "long-stored", "workflow": base64.b64encode(workflow).decode(),
             "digest": workflow_digest(workflow), "name": "long", "version": 1, "start": "work"}
    assert error_of(stack.request(names.reactor_subject("start"), json.dumps(start).encode())) == ("", "")
    job = stack.wait_job("long-stored", timeout=60)
    assert job["status"] == "failed", job
    assert "attempt 1 not dispatched" in job["error"] and "subject" in job["error"], job["error"]
    reactor = stack.services[0]
    assert stack.redis_client().zcard(stack.inspector().keys.dispatch) == 0
    assert_serving(stack)
    reactor.kill()
    stack.reactor()
    stack.wait_ready()
    assert_serving(stack)
    assert not log_entries(stack.services[-1], "activity task refused before sending")  # nothing sent again


def test_case_10_a_start_over_the_limit_fails_the_job_once(stack: Stack) -> None:
    """Case 10, start: a workflow and an input that fit a job message together, but not the
    start request (the workflow travels base64-encoded): failed once, recorded, dead-lettered."""
    stack.extra_env["EE_MAX_PAYLOAD_BYTES"] = "65536"
    stack.up()
    flow = {"name": "wide", "start": "done", "nodes": {"done": {"kind": "end", "output": "'" + "w" * 33_000 + "'"}}}
    job_id = stack.submit(flow, {"v": "i" * 24_000})
    assert_failed_once(stack, job_id, "start")


def test_case_10_a_finish_over_the_limit_fails_the_job_once(stack: Stack) -> None:
    """Case 10, finish: an output three times the input is over the limit."""
    stack.extra_env["EE_MAX_PAYLOAD_BYTES"] = "65536"
    stack.up()
    flow = {"name": "triple", "start": "done", "nodes": {"done": {"kind": "end",
                                                                   "output": "[input.v, input.v, input.v]"}}}
    job_id = stack.submit(flow, {"v": "t" * 25_000})
    assert_failed_once(stack, job_id, "finish")


def assert_failed_once(stack: Stack, job_id: str, op: str) -> None:
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "failed", job
    assert re.search(r"job state of \d+ bytes exceeds the limit of 65536", job["error"]), job["error"]
    executor = stack.services[1]
    poll(lambda: any(job_id in r["reason"] for r in deadletters(stack)), 20, what="the job's dead letter")
    letters = [r for r in deadletters(stack) if job_id in r["reason"]]
    assert [r["subject"] for r in letters] == [names.reactor_subject(op)], letters
    failed = [e for e in log_entries(executor, "job failed: its state is over a limit") if e["job_id"] == job_id]
    assert len(failed) == 1, failed  # once: not retried
    assert not log_entries(executor, "task failed")
    history = [h["event"] for h in (stack.job(job_id) or {})["history"]]
    assert history.count("failed") == 1, history
    assert_serving(stack)


def test_case_4_a_signal_that_makes_the_wake_too_big_fails_the_job(engine: Stack) -> None:
    """Case 4, the signal variant: 300 KB of input and an 800 KB signal, each within the
    limit, make a wake over it. The job fails saying so; the reactor carries on."""
    flow = {"name": "waits", "start": "w", "nodes": {
        "w": {"kind": "wait_signal", "signal": "go", "output": "s", "next": "e"},
        "e": {"kind": "end", "output": "'done'"}}}
    job_id = engine.submit(flow, {"v": "i" * 300_000})
    engine.wait_job(job_id, statuses=("parked",))
    body = {"job_id": job_id, "signal": "go", "data": "s" * 800_000}
    assert error_of(engine.request(names.reactor_subject("signal"), json.dumps(body).encode(), timeout=10)) == ("", "")
    job = engine.wait_job(job_id, timeout=60)
    assert job["status"] == "failed" and "job state of" in job["error"], job
    assert_serving(engine)


def test_case_18_generated_job_ids_are_random_and_never_merge(engine: Stack, tmp_path: Path) -> None:
    """Case 18: ids were ``job-<stream sequence>``, so a job could be cancelled before it
    existed, and an explicit id equal to a generated one merged two jobs. Now ``ee submit``
    and the executor (for a message without an id) choose random ids: jobs submitted with
    the old generated ids stay jobs of their own."""
    explicit = [engine.submit(chain(1), {"v": f"explicit-{i}"}, job_id=f"job-{i}") for i in range(1, 4)]
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(chain(1)))
    printed = []
    for i in range(2):
        argv = [sys.executable, "-m", "ee", "submit", str(path), "--input", json.dumps({"v": f"cli-{i}"})]
        out = subprocess.run(argv, env=engine.env(), capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        printed.append(out.stdout.strip())
    for i in range(2):  # no job_id at all: the executor chooses it
        engine.publish(names.JOBS_EXECUTE, json.dumps({"workflow": chain(1), "input": {"v": f"raw-{i}"}}).encode())
    assert all(re.fullmatch(r"[0-9a-f]{32}", job_id) for job_id in printed) and printed[0] != printed[1], printed

    def all_done() -> list[dict[str, Any]] | None:
        jobs = engine.inspector().jobs(limit=50)
        done = [j for j in jobs if j.get("status") == "completed"]
        return done if len(done) >= 7 else None

    done = poll(all_done, 60, what="seven jobs completed")
    outputs = {j["job_id"]: json.loads(j["output"]) if isinstance(j["output"], str) else j["output"] for j in done}
    for i, job_id in enumerate(explicit, 1):
        assert outputs[job_id] == {"v": f"explicit-{i}"}
    generated = {job_id: out for job_id, out in outputs.items() if job_id not in explicit}
    assert sorted(out["v"] for out in generated.values()) == ["cli-0", "cli-1", "raw-0", "raw-1"], generated
    assert all(re.fullmatch(r"[0-9a-f]{32}", job_id) for job_id in generated), generated


def test_case_3_a_reactor_whose_connection_is_closed_for_good_exits_and_restarts(tmp_path: Path) -> None:
    """Case 3, the process: nats-server closes the reactor's connection (an operator lowered
    max_payload by a config reload; the reactor's next large reply is over it) and nats-py
    never reconnects. The reactor exits 2 naming the cause, instead of staying up deaf with
    /healthz 200; started again (as a supervisor would), it serves."""
    config = tmp_path / "nats.conf"
    config.write_text("max_payload: 1048576\n")
    n = nats_server(tmp_path / "nats", extra=["-c", str(config)]).start()
    r = redis_server(tmp_path / "redis").start()
    stack = Stack(n, r, tmp_path, ops=True)
    try:
        stack.up()
        reactor = stack.services[0]
        flow = {"name": "wide", "start": "e", "nodes": {"e": {"kind": "end", "output": "'" + "o" * 20_000 + "'"}}}
        job_id = stack.submit(flow)
        assert stack.wait_job(job_id)["status"] == "completed"
        assert reactor.healthz() == 200

        config.write_text("max_payload: 4096\n")
        os.kill(n.pid, signal.SIGHUP)  # reload: connections made before keep their old limit
        poll(lambda: "max_payload = 4096" in (n.data_dir / "nats.log").read_text(), 20, what="the reload")
        # The reply (20 KB of output) is over the new limit: the server closes the connection.
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            stack.request(names.reactor_subject("inspect"), json.dumps({"job_id": job_id}).encode(), timeout=3)
        assert reactor.proc is not None
        code = reactor.proc.wait(timeout=30)
        assert code == 2, reactor.output()[-3000:]
        assert "closed for good" in reactor.output() and "Traceback" not in reactor.output()

        stack.services.remove(reactor)  # exited, as it should: not a failure of the restarted engine
        restarted = stack.reactor()
        stack.wait_ready()
        assert restarted.healthz() == 200
        ok = stack.submit(chain(1), {"v": "after"})
        assert stack.wait_job(ok, timeout=60)["output"] == {"v": "after"}
    finally:
        stack.stop_all()
        n.stop()
        r.stop()
