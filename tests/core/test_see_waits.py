"""What a job waits on: ee status lists its open waits, --follow streams its history until it
ends, ee submit --wait shows progress on a terminal and names the wait when it gives up, and
ee jobs filters by workflow and time, page by page."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import ee as ee_client
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll
from tests.workflows import sleeper

GATE = {"name": "gate", "start": "ask", "nodes": {
    "ask": {"kind": "wait_signal", "signal": "go", "timeout_s": 3600, "output": "got", "next": "done"},
    "done": {"kind": "end", "output": "vars.got"}}}
NAP = {"name": "nap", "start": "nap", "nodes": {"nap": {"kind": "sleep", "seconds": 3600, "next": "done"},
                                                "done": {"kind": "end"}}}


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli); the ones about a
    process's output as it runs (``--follow``, a terminal) stay real processes."""
    return StackEe(ee_main, tmp_path, COLUMNS="250")


def test_status_lists_each_open_wait(engine: Stack, ee: StackEe) -> None:
    on_activity = engine.submit(sleeper(3600), {})
    on_signal = engine.submit(GATE, {})
    on_timer = engine.submit(NAP, {})
    for job in (on_activity, on_signal, on_timer):
        engine.wait_job(job, statuses=("parked",))
    poll(lambda: engine.inspector().events(job=on_activity)[0].get("phase") == "running", 20,
         what="the activity dispatched")
    words = {on_activity: "activity demo.sleep (attempt 1", on_signal: "signal 'go' (timeout until 20",
             on_timer: "sleep until 20"}
    for job, expected in words.items():
        out = ee(engine, "status", job)
        assert out.returncode == 0, out.stderr
        assert "open waits" in out.stdout and expected in out.stdout and f"{job}~1.0" in out.stdout, out.stdout
        [wait] = json.loads(ee(engine, "status", job, "--json").stdout)["waits"]
        assert wait["event_id"] == f"{job}~1.0" and wait["waits_on"].startswith(expected.split(" (")[0])
        assert wait["since"] == wait["parked_at"] and wait["kind"] in ("activity", "signal", "timer")


def test_follow_prints_history_until_the_job_ends(engine: Stack, ee: StackEe) -> None:
    job = engine.submit(GATE, {})
    engine.wait_job(job, statuses=("parked",))
    text = subprocess.Popen([sys.executable, "-m", "ee", "status", job, "--follow"], env=engine.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = subprocess.Popen([sys.executable, "-m", "ee", "status", job, "--follow", "--json"], env=engine.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert text.stdout is not None
        seen = ""
        while "parked" not in seen:  # the history so far, before anything new happens
            seen += text.stdout.readline()
        assert text.poll() is None
        signalled = ee(engine, "signal", job, "go", "--data", "1")
        assert signalled.returncode == 0, signalled.stderr
        out, err = text.communicate(timeout=30)
        assert text.returncode == 0, err
        seen += out
        assert "fired" in seen and "completed" in seen and seen.rstrip().endswith(f"job {job} completed"), seen
        out, err = lines.communicate(timeout=30)
        assert lines.returncode == 0, err
        view, *entries = [json.loads(line) for line in out.splitlines()]
        assert view["job_id"] == job and "history" not in view
        assert {e["job_id"] for e in entries} == {job} and entries[-1]["event"] == "completed"
    finally:
        for proc in (text, lines):
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    failed = engine.submit(GATE, {})
    engine.wait_job(failed, statuses=("parked",))
    assert ee(engine, "cancel", failed).returncode == 0
    assert ee(engine, "status", failed, "--follow").returncode == 1


def test_submit_wait_shows_progress_on_a_terminal_and_names_the_wait_when_it_gives_up(
        engine: Stack, tmp_path: Path, ee: StackEe) -> None:
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(GATE))
    gave_up = ee(engine, "submit", str(path), "--job-id", "slow-2", "--wait", "--timeout", "1")
    assert gave_up.returncode == 5, gave_up.stderr
    assert gave_up.stderr.count("\n") == 1 and "gave up waiting for job 'slow-2'" in gave_up.stderr
    assert "it is still parked, waiting on signal 'go'" in gave_up.stderr and "at node 'ask'" in gave_up.stderr

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ee", "submit", str(path), "--job-id", "watched", "--wait"],
                            env=engine.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    try:
        shown = b""
        deadline = time.monotonic() + 30
        while b"job watched: parked, waiting on signal 'go'" not in shown:  # once parked (running before)
            assert time.monotonic() < deadline, shown
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                shown += os.read(leader, 4096)
        assert ee(engine, "signal", "watched", "go", "--data", '"yes"').returncode == 0
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and out.decode().startswith("job watched completed"), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        os.close(leader)


def test_jobs_filter_by_workflow_and_time_page_by_page(engine: Stack, ee: StackEe) -> None:
    naps = [engine.submit(NAP, {}, job_id=f"nap-{i}") for i in range(7)]
    gates = [engine.submit(GATE, {}, job_id=f"gate-{i}") for i in range(3)]
    for job in naps + gates:
        engine.wait_job(job, statuses=("parked",))

    def listed(*args: str) -> list[str]:
        out = ee(engine, "jobs", "--json", *args)
        assert out.returncode == 0, out.stderr
        return [row["job_id"] for row in json.loads(out.stdout)]

    assert set(listed("--workflow", "gate")) == set(gates)
    pages, after = [], None
    while True:
        page = listed("--workflow", "nap", "--limit", "3", *(("--after", after) if after else ()))
        if not page:
            break
        pages.append(page)
        after = page[-1]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(job for page in pages for job in page) == sorted(naps)
    assert set(listed("--status", "parked", "--workflow", "nap", "--since", "1h")) == set(naps)
    assert listed("--since", "2999-01-01T00:00:00Z") == []
    assert set(listed("--until", "2999-01-01T00:00:00Z", "--limit", "100")) == set(naps + gates)
    assert listed("--until", "1h") == []
    refused = ee(engine, "jobs", "--since", "yesterday")
    assert refused.returncode == 2 and "bad time 'yesterday'" in refused.stderr
    unknown = ee(engine, "jobs", "--after", "no-such-job")
    assert unknown.returncode == 3 and "unknown job 'no-such-job'" in unknown.stderr
    with ee_client.SyncClient(engine.nats.url, engine.redis.url, redis_prefix=engine.prefix) as client:
        first = client.jobs(workflow="nap", limit=3)
        assert [j["job_id"] for j in first] == pages[0]
        assert [j["job_id"] for j in client.jobs(workflow="nap", limit=3, after=first[-1]["job_id"])] == pages[1]
        assert client.jobs(since=datetime(2999, 1, 1, tzinfo=UTC)) == []
