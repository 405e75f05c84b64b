"""Bad input anywhere: a clear error to the sender, or a dead-letter record, and service goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.errors import InvalidWorkflow
from shared.workflow import decode_workflow
from tests.support.bad_input import assert_each_refused
from tests.support.cli import InProcessEe
from tests.support.hostile import GARBAGE, core_publish, deadletters
from tests.support.stack import Stack, poll
from tests.workflows import chain


def test_invalid_workflow_is_refused_naming_node_and_field(stack: Stack, tmp_path: Path) -> None:
    bad = chain(2)
    bad["nodes"]["s1"]["next"] = "nowhere"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    out = subprocess.run([sys.executable, "-m", "ee", "submit", str(path), "--wait"],
                         env=stack.env(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "node 's1'" in out.stderr and "field 'next'" in out.stderr and "nowhere" in out.stderr

    bad = chain(1)
    bad["nodes"]["s0"]["input"] = {"v": "input.[oops"}
    path.write_text(json.dumps(bad))
    out = subprocess.run([sys.executable, "-m", "ee", "submit", str(path)],
                         env=stack.env(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "node 's0'" in out.stderr and "input.v" in out.stderr


def test_submit_exits_4_when_the_engine_is_unreachable(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(chain(1)))
    out = subprocess.run([sys.executable, "-m", "ee", "submit", str(path), "--wait"],
                         env=stack.env(EE_NATS_URL="nats://127.0.0.1:1"), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 4
    assert "unavailable" in out.stderr and "Traceback" not in out.stderr


def test_garbage_on_jobs_execute_is_dead_lettered(engine: Stack) -> None:
    engine.publish("jobs.execute", GARBAGE)
    # Invalid for any build (a known kind without its required field): refused. An unknown kind
    # would wait for a newer build instead (tests/faults/test_rollout.py).
    invalid = {"workflow": {"name": "x", "start": "a", "nodes": {"a": {"kind": "sleep"}}},
               "job_id": "bad-wf"}
    engine.publish("jobs.execute", json.dumps(invalid).encode())
    rows = poll(lambda: len(deadletters(engine)) >= 2 and deadletters(engine), 20, what="dead letters")
    subjects = {r["subject"] for r in rows}
    assert subjects == {"jobs.execute"}
    reasons = " ".join(r["reason"] for r in rows)
    assert "malformed message on jobs.execute" in reasons
    assert "node 'a'" in reasons
    refused = engine.job("bad-wf")
    assert refused is not None and refused["status"] == "failed" and "node 'a'" in refused["refused"]
    assert [h["event"] for h in refused["history"]] == ["refused"]
    job_id = engine.submit(chain(1), {"v": 3})
    assert engine.wait_job(job_id)["output"] == {"v": 3}


def test_garbage_on_activity_response_is_dead_lettered(engine: Stack) -> None:
    engine.publish("activity.response", GARBAGE)
    engine.publish("activity.response", b'{"event_id": "nope~1.0", "attempt": 1, "ok": true}')
    rows = poll(lambda: deadletters(engine), 20, what="a dead letter")
    assert rows[0]["subject"] == "activity.response"
    job_id = engine.submit(chain(2), {"v": 4})
    assert engine.wait_job(job_id)["output"] == {"v": 4}


def test_garbage_on_a_reactor_endpoint_gets_an_error_reply(engine: Stack) -> None:
    for op in ("park", "start", "finish", "signal"):
        reply = engine.request(f"ee.reactor.{op}", GARBAGE)
        assert reply.headers["Nats-Service-Error-Code"] == "400"
        assert f"malformed message on ee.reactor.{op}" in reply.headers["Nats-Service-Error"]
    unknown = engine.request("ee.reactor.inspect", b'{"job_id": "no-such-job"}')
    assert unknown.headers["Nats-Service-Error-Code"] == "404"
    job_id = engine.submit(chain(1), {"v": 5})
    assert engine.wait_job(job_id)["output"] == {"v": 5}


def test_garbage_wake_does_not_stop_the_executor(engine: Stack) -> None:
    core_publish(engine, "ee.executor.wake", GARBAGE)
    job_id = engine.submit(chain(1), {"v": 6})
    assert engine.wait_job(job_id)["output"] == {"v": 6}
    poll(lambda: any(r["subject"] == "ee.executor.wake" for r in deadletters(engine)), 20,
         what="the wake dead letter")


def test_oversize_payloads_are_refused(stack: Stack) -> None:
    stack.extra_env["EE_MAX_PAYLOAD_BYTES"] = "65536"
    stack.up()
    oversize = b'{"job_id":"' + b"x" * 100_000 + b'"}'
    reply = stack.request("ee.reactor.inspect", oversize)
    assert reply.headers["Nats-Service-Error-Code"] == "400"
    assert "exceeds the limit of 65536" in reply.headers["Nats-Service-Error"]
    big_job = {"workflow": chain(1), "input": {"v": "y" * 70_000}, "job_id": "too-big"}
    try:
        stack.publish("jobs.execute", json.dumps(big_job).encode())
    except Exception as exc:  # the stream's max_msg_size refuses it at the door
        assert "maximum" in str(exc).lower() or "size" in str(exc).lower()
    else:
        poll(lambda: any("too-big" in r["data"] or "size" in r["reason"] for r in deadletters(stack)), 20,
             what="the oversize job's dead letter")
    assert stack.job("too-big") is None
    job_id = stack.submit(chain(1), {"v": 7})
    assert stack.wait_job(job_id)["output"] == {"v": 7}


# The command line's own checks need no engine: NATS and Redis point nowhere here.
BAD_CLI = [
    # (file content or None, arguments, words the one line must hold)
    ("[1, 2]", ["submit", "{file}"], "holds an array; a workflow is a JSON object"),
    ("null", ["submit", "{file}", "--wait"], "holds null; a workflow is a JSON object"),
    ('"x"', ["submit", "{file}"], "holds a string; a workflow is a JSON object"),
    ('{"nodes": 1}', ["submit", "{file}"], "field 'nodes': must be an object"),
    ("{bad", ["submit", "{file}"], "is not valid JSON"),
    (json.dumps(chain(1)), ["submit", "{file}", "--input", "[1]"], "--input must be a JSON object, not an array"),
    (json.dumps(chain(1)), ["submit", "{file}", "--wait", "--timeout", "-1"], "Invalid value for '--timeout'"),
    (None, ["submit", "{file}"], "cannot read"),
    (None, ["jobs", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1"),
    (None, ["jobs", "--limit", "-1"], "Invalid value for '--limit': -1 is not in the range x>=1"),
    (None, ["deadletter", "--limit", "0"], "Invalid value for '--limit'"),
    (None, ["events", "--limit", "0"], "Invalid value for '--limit'"),
    (None, ["events", "--older-than", "soon"], "bad duration 'soon'"),
    (None, ["event", "extend", "e~1.0", "--timeout", "0"], "Invalid value for '--timeout'"),
    (None, ["jobs", "--no-such-flag"], "No such option '--no-such-flag'"),
]


def test_bad_cli_input_is_one_line_on_stderr_and_exit_2(tmp_path: Path, ee_main: InProcessEe) -> None:
    assert_each_refused(ee_main, tmp_path, BAD_CLI)


def test_decode_workflow_refuses_what_is_not_an_object() -> None:
    for value, words in (([1, 2], "not an array"), (None, "not null"), (b'"x"', "not a string"),
                         (b"7", "not a number")):
        with pytest.raises(InvalidWorkflow, match=words):
            decode_workflow(value)
