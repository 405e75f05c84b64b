"""Poison messages (issue 9, "Down" 1-5, "Lost or wedged" 10-11, bounds): no message stops a
process or comes back at its next start; what is over a bound fails its job, once, clearly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import nats
import pytest

from shared import names
from shared.bounds import MAX_DATA_DEPTH, MAX_DEPTH, bounded_text, nested_deeper_than, object_deeper_than
from shared.config import Settings
from shared.connect import connect_nats, nats_open, watch_nats
from shared.error_replies import known_errors
from shared.errors import EngineUnavailable, InvalidMessage, InvalidName, InvalidWorkflow, JobNotFound
from shared.messages import ActivityResult, BotHeartbeat, Codec, ParkRequest, Wake
from shared.workflow import decode_workflow
from tests.support.hostile import CORPUS, DEEP, consumer_idle, core_publish, deadletters, deep_result
from tests.support.stack import Stack, poll
from tests.workflows import chain

# -- unit level: every decoder is total ----------------------------------------------------

@pytest.mark.parametrize("kind", [ActivityResult, BotHeartbeat, ParkRequest, Wake])
def test_codecs_refuse_any_bytes_with_invalid_message(kind: type[Any]) -> None:
    codec: Codec[Any] = Codec(kind, "some.subject")
    for data in CORPUS:
        with pytest.raises(InvalidMessage):
            codec.decode(data)
    with pytest.raises(InvalidMessage, match="exceeds the limit of 10"):
        codec.decode(b"x" * 11, max_bytes=10)


def test_nesting_is_measured_without_recursion_and_ignores_strings() -> None:
    assert nested_deeper_than(DEEP, MAX_DEPTH)
    assert not nested_deeper_than(b'{"a": "' + b"[" * 1000 + b'"}', MAX_DEPTH)
    assert not nested_deeper_than(b'{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
                                  MAX_DEPTH)
    assert not nested_deeper_than(b"[" * 64 + b"]" * 64, 64)
    assert nested_deeper_than(b"[" * 65 + b"]" * 65, 64)
    assert not nested_deeper_than(b"[" + b"[[]]," * 10_000 + b"[]]", 3)
    value: Any = []
    for _ in range(MAX_DEPTH + 1):
        value = [value]
    assert object_deeper_than(value, MAX_DEPTH) and not object_deeper_than(value, MAX_DEPTH + 2)
    assert codec_accepts_the_deepest_allowed_result()


def codec_accepts_the_deepest_allowed_result() -> bool:
    return Codec(ActivityResult, "x").decode(deep_result(MAX_DATA_DEPTH - 1)).ok


def test_deep_workflows_are_refused_with_a_clear_error() -> None:
    deep: Any = {}
    for _ in range(200):
        deep = {"x": deep}
    for data in (DEEP, json.dumps(deep).encode(), {"name": "w", "start": "a", "nodes": deep}):
        with pytest.raises(InvalidWorkflow, match="nested more than"):
            decode_workflow(data)
    nodes = {"a": {"kind": "activity", "activity": "demo.echo", "input": {"v": "[" * 3000 + "input" + "]" * 3000},
                   "next": "e"}, "e": {"kind": "end"}}
    with pytest.raises(InvalidWorkflow, match="nested too deeply to compile"):
        decode_workflow({"name": "w", "start": "a", "nodes": nodes})


def test_bounded_text_is_one_short_line() -> None:
    text = bounded_text("a\r\nb" + "x" * 10_000)
    assert "\n" not in text and "\r" not in text and len(text) < 300


# -- the NATS connection closed for good: the service exits ------------------------------

@pytest.mark.anyio
async def test_a_connection_the_server_closes_makes_watch_nats_raise(stack: Stack) -> None:
    """Case 3's mechanism for real: a publish over max_payload (headers are not checked by
    nats-py) makes nats-server close the connection, and nats-py never reconnects."""
    nc = await connect_nats(Settings(nats_url=stack.nats.url), "poison-test")
    alive = nats_open(nc)
    assert await alive()
    try:
        huge = {"X-Echo": "x" * (nc.max_payload + 10)}
        await nc._send_publish("poison.test", "", b"", 0, huge)
        with anyio.fail_after(10), pytest.raises(EngineUnavailable, match="closed for good"):
            await watch_nats(nc)
        assert not await alive()
    finally:
        await nc.close()


# -- process level ---------------------------------------------------------------------------

def test_deep_nesting_on_results_and_heartbeats_does_not_stop_the_reactor(engine: Stack) -> None:
    """Cases 1 and 2: 10 KB of nesting on activity.response and on bots.heartbeat."""
    reactor = engine.services[0]
    engine.publish(names.ACTIVITY_RESPONSE, DEEP)
    core_publish(engine, names.BOTS_HEARTBEAT, DEEP)
    rows = poll(lambda: len(deadletters(engine)) >= 2 and deadletters(engine), 20, what="two dead letters")
    assert {r["subject"] for r in rows} == {names.ACTIVITY_RESPONSE, names.BOTS_HEARTBEAT}
    assert all("nested more than" in r["reason"] for r in rows)
    assert reactor.alive()
    job_id = engine.submit(chain(2), {"v": 1})
    assert engine.wait_job(job_id)["output"] == {"v": 1}
    # Terminated, not left for redelivery: a restarted reactor never sees it again.
    poll(lambda: consumer_idle(engine, names.STREAM_RESPONSES, names.CONSUMER_REACTOR_RESPONSES), 20,
         what="the results consumer to hold nothing")
    reactor.kill()
    engine.reactor()
    engine.wait_ready()
    job_id = engine.submit(chain(1), {"v": 2})
    assert engine.wait_job(job_id)["output"] == {"v": 2}
    assert len([r for r in deadletters(engine) if r["subject"] == names.ACTIVITY_RESPONSE]) == 1
    assert engine.services[-1].alive()


def test_a_megabyte_id_gets_a_short_error_and_the_reactor_stays_connected(engine: Stack) -> None:
    """Case 3: the error reply used to echo the whole id, over max_payload: nats-server closed
    the reactor's connection and it stayed up, deaf."""
    big = "x" * 1_000_000
    requests = {
        "inspect": {"job_id": big}, "cancel": {"job_id": big}, "strand": {"job_id": big, "reason": "r"},
        "park": {"job_id": big, "fence": 1, "checkpoint": {"node": "a"}},
        "finish": {"job_id": big, "fence": 1, "status": "failed"}, "workflow": {"digest": big},
        "event": {"event_id": big, "op": "resolve"}, "signal": {"job_id": big, "signal": "s"},
    }
    for op, body in requests.items():
        reply = engine.request(names.reactor_subject(op), json.dumps(body).encode(), timeout=10)
        kind = known_errors()[reply.headers[names.ERROR_TYPE_HEADER]]
        assert issubclass(kind, InvalidName | InvalidMessage | JobNotFound), (op, kind)
        assert len(reply.data) < 1000, op  # the attributes are bounded like the message
        assert len(reply.headers["Nats-Service-Error"]) < 400, op
    assert engine.services[0].alive()
    job_id = engine.submit(chain(1), {"v": 3})
    assert engine.wait_job(job_id)["output"] == {"v": 3}


def test_a_wake_over_max_payload_fails_its_job_once(engine: Stack) -> None:
    """Case 4: input and result, each within max_payload, make a wake over it. The job fails
    saying so, with a dead letter; the reactor stays up, and its next start does too."""
    job_id = engine.submit(chain(1), {"v": "y" * 600_000})
    job = engine.wait_job(job_id, timeout=60)
    assert job["status"] == "failed"
    assert "job state of" in job["error"] and "exceeds the limit of" in job["error"]
    poll(lambda: any(job_id in r["reason"] for r in deadletters(engine)), 20, what="the job's dead letter")
    reactor = engine.services[0]
    assert reactor.alive()
    reactor.kill()
    engine.reactor()
    engine.wait_ready()
    ok = engine.submit(chain(1), {"v": 4})
    assert engine.wait_job(ok)["output"] == {"v": 4}


def test_a_park_over_the_limit_fails_the_job_once(stack: Stack) -> None:
    """Case 10: a park request over the limit was retried 50 times and never failed."""
    stack.extra_env["EE_MAX_PAYLOAD_BYTES"] = "65536"
    stack.up()
    # The echo's output (40 KB) joins the input (40 KB) in the next park's checkpoint and task.
    job_id = stack.submit(chain(2), {"v": "z" * 40_000})
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "failed", job
    assert "job state of" in job["error"] and "exceeds the limit of 65536" in job["error"]
    assert all(s.alive() for s in stack.services)
    ok = stack.submit(chain(1), {"v": 5})
    assert stack.wait_job(ok)["output"] == {"v": 5}


def test_submit_to_a_full_stream_is_one_line_and_exit_2(stack: Stack, tmp_path: Path) -> None:
    """Case 11: no executor runs, the jobs stream is full; `ee submit` printed a traceback, exit 1."""
    stack.reactor()
    stack.wait_ready()

    async def fill() -> None:
        nc = await nats.connect(stack.nats.url)
        js = nc.jetstream()
        info = await js.stream_info(names.STREAM_JOBS)
        config = info.config
        config.max_msgs = 1
        await js.update_stream(config)
        await js.publish(names.JOBS_EXECUTE, b"{}")
        await nc.close()

    asyncio.run(fill())
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(chain(1)))
    out = subprocess.run([sys.executable, "-m", "ee", "submit", str(path)], env=stack.env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 4, out.stderr
    assert out.stderr.startswith("ee: ") and out.stderr.count("\n") == 1, out.stderr
    assert "not accepted" in out.stderr and "Traceback" not in out.stderr


def test_hostile_corpus_on_every_subject_leaves_every_service_serving(engine: Stack) -> None:
    """A short hostile-input run: each corpus entry to each subject and endpoint, then every
    service is alive and a normal job completes. (A larger run: docs/guarantees.md.)"""
    subjects = [names.reactor_subject(op) for op in (
        "start", "park", "finish", "redrive", "workflow", "signal", "cancel", "inspect", "deadletter", "event",
        "strand")]

    async def go() -> None:
        nc = await nats.connect(engine.nats.url)
        js = nc.jetstream()
        for data in CORPUS:
            for subject in subjects:
                with anyio.move_on_after(5):
                    await nc.request(subject, data, timeout=5)
            for subject in (names.BOTS_HEARTBEAT, names.EXECUTOR_WAKE):
                await nc.publish(subject, data)
            for subject in (names.ACTIVITY_RESPONSE, names.JOBS_CANCEL, names.JOBS_EXECUTE,
                            names.activity_subject("demo.echo")):
                with contextlib.suppress(Exception):  # an empty message, say, refused at the door
                    await js.publish(subject, data, timeout=5)
        await nc.flush()
        await nc.close()

    asyncio.run(go())
    assert all(s.alive() for s in engine.services)
    job_id = engine.submit(chain(2), {"v": 6})
    assert engine.wait_job(job_id)["output"] == {"v": 6}
    assert all(s.alive() for s in engine.services)


def test_a_jobs_signal_inbox_is_bounded_in_bytes(engine: Stack) -> None:
    """Bounds: 100 signals of 1 MiB each once fitted a job's inbox (100 MiB of Redis)."""
    waiter = {"name": "waiter", "version": 1, "start": "w",
              "nodes": {"w": {"kind": "wait_signal", "signal": "go", "output": "got", "next": "e"},
                        "e": {"kind": "end", "output": "vars.got"}}}
    job_id = engine.submit(waiter, {})
    engine.wait_job(job_id, statuses=("parked",))
    body = {"job_id": job_id, "signal": "other", "data": "d" * 600_000}
    first = engine.request(names.reactor_subject("signal"), json.dumps(body).encode(), timeout=10)
    assert not first.headers or "Nats-Service-Error-Code" not in first.headers
    second = engine.request(names.reactor_subject("signal"), json.dumps(body).encode(), timeout=10)
    assert second.headers["Nats-Service-Error-Code"] == "409", second.headers
    assert "inbox limit of 1048576 bytes" in second.headers["Nats-Service-Error"]
    go = {"job_id": job_id, "signal": "go", "data": {"ok": True}}
    engine.request(names.reactor_subject("signal"), json.dumps(go).encode(), timeout=10)
    assert engine.wait_job(job_id)["output"] == {"ok": True}
