"""Bad input anywhere: a clear error to the sender, or a dead-letter record, and service goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.stack import Stack, poll
from tests.workflows import chain

GARBAGE = b"\x00\xffnot json at all{{{"


def deadletters(stack: Stack) -> list[dict[str, str]]:
    return stack.inspector().deadletters()


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


def test_submit_exits_2_when_the_engine_is_unreachable(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(chain(1)))
    out = subprocess.run([sys.executable, "-m", "ee", "submit", str(path), "--wait"],
                         env=stack.env(EE_NATS_URL="nats://127.0.0.1:1"), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "unavailable" in out.stderr and "Traceback" not in out.stderr


def test_garbage_on_jobs_execute_is_dead_lettered(engine: Stack) -> None:
    engine.publish("jobs.execute", GARBAGE)
    invalid = {"workflow": {"name": "x", "start": "a", "nodes": {"a": {"kind": "teleport"}}},
               "job_id": "bad-wf"}
    engine.publish("jobs.execute", json.dumps(invalid).encode())
    rows = poll(lambda: len(deadletters(engine)) >= 2 and deadletters(engine), 20, what="dead letters")
    subjects = {r["subject"] for r in rows}
    assert subjects == {"jobs.execute"}
    reasons = " ".join(r["reason"] for r in rows)
    assert "malformed message on jobs.execute" in reasons
    assert "node 'a'" in reasons
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
    async_publish_core(engine, "ee.executor.wake", GARBAGE)
    job_id = engine.submit(chain(1), {"v": 6})
    assert engine.wait_job(job_id)["output"] == {"v": 6}
    poll(lambda: any(r["subject"] == "ee.executor.wake" for r in deadletters(engine)), 20,
         what="the wake dead letter")


def async_publish_core(stack: Stack, subject: str, data: bytes) -> None:
    import asyncio

    import nats

    async def go() -> None:
        nc = await nats.connect(stack.nats.url)
        await nc.publish(subject, data)
        await nc.flush()
        await nc.close()

    asyncio.run(go())


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
