"""Delayed starts (``ee submit --not-before/--delay``, ``JobRequest.not_before``): the job is
accepted at once, visible as pending with its start time, and starts then, also when the
reactor was down at that time."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime, timedelta

import pytest

from ee.api import Client
from shared import clock
from tests.flow.helpers import QUICK, Ee, now, submit_at
from tests.support.stack import Stack, poll


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def _history_events(stack: Stack, job_id: str) -> list[str]:
    job = stack.job(job_id)
    assert job is not None
    return [h["event"] for h in job["history"]]


def test_a_delayed_job_is_pending_with_its_start_time_then_runs(engine: Stack, ee: Ee) -> None:
    start = now() + 5  # room for the record and two ee commands (in process) while it is pending
    job_id = submit_at(engine, QUICK, "delayed-1", not_before=_iso(start))
    pending = poll(lambda: (j := engine.job(job_id)) and j.get("status") == "pending" and j, 20, 0.02,
                   "the delayed job recorded pending")
    assert abs(pending["not_before"] - start) < 0.01
    shown = json.loads(ee(engine, "status", job_id, "--json").stdout)
    assert shown["status"] == "pending" and abs(shown["not_before"] - start) < 0.01
    assert f"   starts: {clock.iso(start)}" in ee(engine, "status", job_id).stdout
    listed = json.loads(ee(engine, "jobs", "--status", "pending", "--json").stdout)
    assert job_id in [row["job_id"] for row in listed]
    done = engine.wait_job(job_id, timeout=30)
    assert done["status"] == "completed" and done["output"] == {"v": 1}
    started = datetime.fromisoformat(done["started"].replace("Z", "+00:00")).timestamp()
    assert started >= start  # never before its time
    events = _history_events(engine, job_id)
    assert events[:2] == ["deferred", "started"], events


def test_ee_submit_delay_and_a_past_time_starts_at_once(engine: Stack, tmp_path: object, ee: Ee) -> None:
    flow = engine.workdir / "quick.json"
    flow.write_text(json.dumps(QUICK))
    out = json.loads(ee(engine, "submit", str(flow), "--input", '{"v": 2}', "--delay", "1s", "--json").stdout)
    assert out["status"] == "pending"
    assert engine.wait_job(out["job_id"])["output"] == {"v": 2}
    past = ee(engine, "submit", str(flow), "--input", '{"v": 3}', "--not-before", "2020-01-01T00:00:00Z").stdout
    assert engine.wait_job(past.strip())["output"] == {"v": 3}


def test_bad_start_times_are_one_line_and_exit_2(stack: Stack, ee: Ee) -> None:
    flow = stack.workdir / "quick.json"
    flow.write_text(json.dumps(QUICK))
    for args, says in [(["--delay", "-5s"], "cannot be negative"), (["--delay", "soon"], "use a duration"),
                       (["--not-before", "2026-12-03T07:00:00"], "use a duration"),
                       (["--deadline", "yesterday-ish"], "use a duration"),
                       (["--delay", "1s", "--not-before", "2030-01-01T00:00:00Z"], "give one")]:
        done = ee(stack, "submit", str(flow), *args, code=2)
        assert says in done.stderr and done.stderr.count("\n") == 1, (args, done.stderr)


def test_a_delayed_start_survives_the_reactor_being_down_at_its_time(stack: Stack) -> None:
    reactor = stack.reactor()
    stack.executor()
    stack.worker()
    stack.wait_ready()
    start = now() + 2
    job_id = submit_at(stack, QUICK, "delayed-kill", not_before=start)
    poll(lambda: (j := stack.job(job_id)) is not None and j.get("status") == "pending", 20, 0.02, "pending")
    reactor.kill(signal.SIGKILL)
    poll(lambda: now() > start + 1, 10, 0.05, "the start time to pass with no reactor")
    assert stack.job(job_id)["status"] == "pending"  # type: ignore[index]
    stack.reactor()
    assert stack.wait_job(job_id, timeout=60)["status"] == "completed"
    assert _history_events(stack, job_id).count("started") == 1


def test_a_delayed_job_cancelled_before_its_time_never_runs(engine: Stack, ee: Ee) -> None:
    job_id = submit_at(engine, QUICK, "delayed-cancel", not_before=now() + 5)
    poll(lambda: (j := engine.job(job_id)) is not None and j.get("status") == "pending", 20, 0.02, "pending")
    ee(engine, "cancel", job_id)
    poll(lambda: engine.redis_client().zscore(engine.inspector().keys.deferred, job_id) is None, 20, 0.05,
         "the cancelled job to leave the clock at its start time")
    job = engine.job(job_id)
    assert job is not None and job["status"] == "cancelled"
    assert "started" not in [h["event"] for h in job["history"]]


def test_the_python_client_submits_delayed_jobs_with_deadlines(engine: Stack) -> None:
    async def go() -> None:
        async with Client(engine.nats.url, engine.redis.url, redis_prefix=engine.prefix) as client:
            start = datetime.now(UTC) + timedelta(seconds=5)
            job = await client.submit(QUICK, {"v": 4}, job_id="api-delayed", not_before=start,
                                      deadline=start + timedelta(hours=1))
            assert await job.status() == "pending"  # accepted (the jobs stream) or deferred (Redis)
            # Its record is written once an executor handed it to the reactor's clock.
            record = poll(lambda: engine.job("api-delayed"), 20, 0.05, "the delayed job's record")
            assert abs(record["not_before"] - start.timestamp()) < 0.01
            assert abs(record["deadline"] - start.timestamp() - 3600) < 0.01
            assert (await job.result(timeout=60)).output == {"v": 4}
            later = await client.submit(QUICK, {"v": 6}, delay=0.5)
            assert (await later.result(timeout=60)).output == {"v": 6}
            with pytest.raises(TypeError, match="priority"):
                await client.submit(QUICK, {}, priority=1)

    asyncio.run(go())
