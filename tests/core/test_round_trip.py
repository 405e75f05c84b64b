"""A job's durable round trip on real NATS, Redis and service processes."""

from __future__ import annotations

import json
import subprocess
import sys

from shared import names
from tests.faults.helpers import stream_state
from tests.support.stack import Stack, poll
from tests.workflows import BRANCHY, FAILING, THREE_STEPS, chain, sleeper


def test_three_activity_job_completes_with_its_output(engine: Stack) -> None:
    job_id = engine.submit(THREE_STEPS, {"a": 2, "b": 3})
    job = engine.wait_job(job_id)
    assert job["status"] == "completed", job
    assert job["output"] == {"sum": 105, "first": 5}
    assert engine.inspector().events(job=job_id) == []


def test_branch_takes_the_matching_case_and_the_default(engine: Stack) -> None:
    big = engine.submit(BRANCHY, {"amount": 250})
    small = engine.submit(BRANCHY, {"amount": 7})
    assert engine.wait_job(big)["output"] == "big"
    assert engine.wait_job(small)["output"] == "small"


def test_failing_activity_fails_the_job_with_its_error(engine: Stack) -> None:
    job_id = engine.submit(FAILING, {"message": "printer on fire"})
    job = engine.wait_job(job_id)
    assert job["status"] == "failed"
    assert "printer on fire" in job["error"]
    assert "boom" in job["error"]


def test_same_job_id_twice_starts_one_job(engine: Stack) -> None:
    engine.submit(chain(2), {"v": 1}, job_id="twice")
    engine.submit(chain(2), {"v": 2}, job_id="twice")
    job = engine.wait_job("twice")
    assert job["output"] == {"v": 1}
    history = engine.inspector().job("twice")["history"]  # type: ignore[index]
    assert [h["event"] for h in history].count("created") == 1


def test_history_records_each_node_and_wait_once(engine: Stack) -> None:
    job_id = engine.submit(chain(2), {"v": 1})
    engine.wait_job(job_id)
    history = engine.inspector().job(job_id)["history"]  # type: ignore[index]
    events = [(h["node"], h["event"]) for h in history]
    assert events == [("", "created"), ("s0", "entered"), ("s0", "parked"), ("s0", "fired"),
                      ("s0", "resumed"), ("s1", "entered"), ("s1", "parked"), ("s1", "fired"),
                      ("s1", "resumed"), ("done", "entered"), ("done", "completed")]
    assert all(h["at"].endswith("Z") for h in history)


def test_parked_event_is_visible_in_ee_events_and_raw_redis(engine: Stack) -> None:
    job_id = engine.submit(sleeper(30), {})
    inspector = engine.inspector()
    events = poll(lambda: inspector.events(job=job_id), 20, what="the parked event")
    assert len(events) == 1
    event_id = events[0]["event_id"]

    out = subprocess.run([sys.executable, "-m", "ee", "events", "--json", "--kind", "activity"],
                         env=engine.env(), capture_output=True, text=True, timeout=30, check=True)
    listed = json.loads(out.stdout)
    mine = [e for e in listed if e["event_id"] == event_id]
    assert mine and mine[0]["status"] == "parked" and mine[0]["activity"] == "demo.sleep"
    assert mine[0]["job"] == job_id

    raw = engine.redis_client().hgetall(f"ee:event:{{{job_id}}}~1.0")
    assert raw[b"status"] == b"parked"
    assert raw[b"kind"] == b"activity"
    assert raw[b"job"] == job_id.encode()
    job_raw = engine.redis_client().hgetall(f"ee:job:{{{job_id}}}")
    assert job_raw[b"status"] == b"parked"
    assert json.loads(job_raw[b"checkpoint"])["node"] == "nap"


def test_stale_fence_park_is_rejected_and_changes_nothing(engine: Stack) -> None:
    job_id = engine.submit(sleeper(30), {})
    engine.wait_job(job_id, statuses=("parked",))
    client = engine.redis_client()
    before = client.hgetall(f"ee:job:{{{job_id}}}")
    events_before = client.smembers(f"ee:job:{{{job_id}}}:events")
    assert before[b"fence"] == b"1"
    stale = {"job_id": job_id, "fence": 0, "checkpoint": {"node": "done", "vars": {"evil": True}},
             "waits": [{"kind": "timer", "node": "done", "seconds": 1}], "consumed": []}
    reply = engine.request("ee.reactor.park", json.dumps(stale).encode())
    assert reply.headers["Nats-Service-Error-Code"] == "409"
    assert "stale fence" in reply.headers["Nats-Service-Error"]
    assert client.hgetall(f"ee:job:{{{job_id}}}") == before
    assert client.smembers(f"ee:job:{{{job_id}}}:events") == events_before
    finish = {"job_id": job_id, "fence": 0, "status": "completed", "output": "forged"}
    reply = engine.request("ee.reactor.finish", json.dumps(finish).encode())
    assert reply.headers["Nats-Service-Error-Code"] == "409"
    assert client.hgetall(f"ee:job:{{{job_id}}}") == before


def test_streams_keep_nothing_once_acted_on(engine: Stack) -> None:
    """Jobs, tasks and results leave their streams once applied: the streams stay bounded by
    what is in flight, not by history."""
    job_ids = [engine.submit(THREE_STEPS, {"a": i, "b": 1}) for i in range(3)]
    for job_id in job_ids:
        assert engine.wait_job(job_id)["status"] == "completed"
    streams = (names.STREAM_JOBS, names.STREAM_ACTIVITIES, names.STREAM_RESPONSES)
    held = poll(lambda: (states := [stream_state(engine, s) for s in streams])
                and all(messages == 0 for messages, _ in states) and states, 20, what="empty streams")
    assert [last for _, last in held] == [3, 9, 9]  # 3 jobs, 3 tasks each, a result for each task
