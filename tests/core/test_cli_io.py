"""The command line's input and output: @FILE and - for JSON, refusals before anything is
sent (a job id taken by another submission, a status that does not exist), JSON on the
action commands, events carrying job_id, and tables that show times and durations as text."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from shared.build import package_version
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack
from tests.workflows import chain

NAP = {"name": "nap", "version": 2, "start": "nap", "nodes": {
    "nap": {"kind": "sleep", "seconds": 3600, "next": "done"}, "done": {"kind": "end"}}}
GATE = {"name": "gate", "start": "ask", "nodes": {
    "ask": {"kind": "wait_signal", "signal": "go", "timeout_s": 3600, "output": "got", "next": "done"},
    "done": {"kind": "end", "output": "vars.got"}}}


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args, stdin="", cwd=None)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path, COLUMNS="200")


def refused(out: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("ee: ") and words in out.stderr, out.stderr
    assert out.stdout == "", out.stdout


def test_json_from_a_file_or_stdin(engine: Stack, tmp_path: Path, ee: StackEe) -> None:
    (tmp_path / "wf.json").write_text(json.dumps(chain(1)))
    big = {"v": "x" * 200_000}  # above what a shell takes as one argument
    (tmp_path / "in.json").write_text(json.dumps(big))
    out = ee(engine, "submit", "wf.json", "--input", "@in.json", "--wait", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["output"] == big
    out = ee(engine, "submit", "-", "--input", '{"v": 3}', "--wait", "--json", stdin=json.dumps(chain(1)))
    assert out.returncode == 0 and json.loads(out.stdout)["output"] == {"v": 3}, out.stderr
    out = ee(engine, "submit", str(tmp_path / "wf.json"), "--input", "-", "--wait", "--json", stdin='{"v": 4}')
    assert out.returncode == 0 and json.loads(out.stdout)["output"] == {"v": 4}, out.stderr

    job = engine.submit(GATE, {})
    engine.wait_job(job, statuses=("parked",))
    (tmp_path / "go.json").write_text('{"ok": true}')
    out = ee(engine, "signal", job, "go", "--data", "@go.json", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"job_id": job, "signal": "go", "delivered": True, "buffered": False}
    assert engine.wait_job(job)["output"] == {"ok": True}

    refused(ee(engine, "submit", "wf.json", "--input", "@missing.json", cwd=tmp_path), 2,
            "--input: cannot read missing.json")
    refused(ee(engine, "submit", "wf.json", "--input", "in.json", cwd=tmp_path), 2,
            "(to read the file, write @in.json)")
    refused(ee(engine, "submit", "-", "--input", "-", stdin="{}"), 2, "cannot both be -")
    (tmp_path / "bad.json").write_text("{nope")
    refused(ee(engine, "signal", job, "go", "--data", "@bad.json", cwd=tmp_path), 2,
            "--data (bad.json) is not valid JSON")


def test_a_taken_job_id_is_refused_and_the_same_submission_is_idempotent(stack: Stack, tmp_path: Path,
                                                                         ee: StackEe) -> None:
    stack.reactor()
    stack.wait_ready()
    wf, other = tmp_path / "nap.json", tmp_path / "other.json"
    wf.write_text(json.dumps(NAP))
    other.write_text(json.dumps({**NAP, "version": 3}))
    # No executor yet: the first submission waits in the jobs stream, and is compared there.
    first = ee(stack, "submit", str(wf), "--job-id", "order-7", "--input", '{"n": 1}')
    assert first.returncode == 0 and first.stdout == "order-7\n", first.stderr
    refused(ee(stack, "submit", str(wf), "--job-id", "order-7", "--input", '{"n": 2}'), 2,
            "job id 'order-7' is taken: job 'order-7' of workflow nap (pending) was submitted with a "
            "different input")
    again = ee(stack, "submit", str(wf), "--job-id", "order-7", "--input", '{"n": 1}', "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["job_id"] == "order-7", again.stderr
    # Started and parked: compared with the job's record.
    stack.executor()
    stack.wait_job("order-7", statuses=("parked",))
    refused(ee(stack, "submit", str(other), "--job-id", "order-7", "--input", '{"n": 1}'), 2,
            "of workflow nap v2 (parked) was submitted with a different workflow")
    refused(ee(stack, "submit", str(other), "--job-id", "order-7"), 2, "different workflow and input")
    again = ee(stack, "submit", str(wf), "--job-id", "order-7", "--input", '{"n": 1}', "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "parked", again.stderr
    assert stack.job("order-7")["fence"] == 1  # type: ignore[index]


def test_job_status_values_are_checked(tmp_path: Path, stack: Stack, ee: StackEe) -> None:
    refused(ee(stack, "jobs", "--status", "done"), 2, "'done' is not a job status: use one of pending, running")
    refused(ee(stack, "jobs", "--status", "waking"), 2, "shows as parked until an executor takes it")


def test_json_of_actions_and_events_and_tables_in_words(engine: Stack, ee: StackEe) -> None:
    job = engine.submit(NAP, {})
    engine.wait_job(job, statuses=("parked",))
    event_id = f"{job}~1.0"
    [event] = json.loads(ee(engine, "events", "--job", job, "--json").stdout)
    assert event["job_id"] == job and event["job"] == job and isinstance(event["age_s"], float)
    assert isinstance(event["deadline"], float) and event["deadline"] > 1e9, event  # Unix seconds, a number
    [wait] = json.loads(ee(engine, "status", job, "--json").stdout)["waits"]
    assert wait["deadline"] == event["deadline"] and wait["attempt"] == 1, wait
    table = ee(engine, "events", "--job", job).stdout
    assert re.search(r"until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", table), table
    assert not re.search(r"\b1\d{9}\.\d+", table), table  # no Unix seconds
    assert re.search(r"\b\d+(ms|s)\b", table) and "age" in table, table

    out = ee(engine, "event", "extend", event_id, "--timeout", "60", "--json")
    assert json.loads(out.stdout) == {"event_id": event_id, "job_id": job, "op": "extend", "status": "extended"}
    out = ee(engine, "cancel", job, "--reason", "enough", "--json")
    assert json.loads(out.stdout) == {"job_id": job, "status": "cancelled", "reason": "enough"}
    assert ee(engine, "--version").stdout == f"ee {package_version()}\n"
