"""Exit codes a script can use (``ee.exits``, docs/operations.md), for each command.

0 done, 1 the job failed or was cancelled (``--wait``), 2 bad input or a refused request,
3 not found, 4 engine unavailable, 5 timed out; every refusal is one line on stderr.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.cli import InProcessEe, Ran, ee_subprocess
from tests.support.stack import Stack, poll
from tests.workflows import chain

SIGNAL_WAIT = {"name": "gate", "start": "ask", "nodes": {
    "ask": {"kind": "wait_signal", "signal": "go", "timeout_s": 3600, "next": "done"},
    "done": {"kind": "end", "output": "'through'"}}}
FAILS = {"name": "refuser", "start": "no", "nodes": {"no": {"kind": "fail", "error": "not today"}}}

Case = tuple[list[str], int, str]  # arguments, exit code, words the refusal's line holds
Started = list[tuple[Case, subprocess.Popen[str]]]


def start_real(stack: Stack, cases: tuple[Case, ...], cwd: Path, **env: str) -> Started:
    """``cases`` as real ``python -m ee`` processes (what a shell sees), started, not waited for."""
    return [(case, ee_subprocess(*case[0], env=stack.env(**env), cwd=cwd)) for case in cases]


def run_all(ee: InProcessEe, stack: Stack, cases: list[Case], cwd: Path, real: tuple[Case, ...] = (),
            started: Started | None = None, env: dict[str, str] | None = None) -> None:
    """Each case must exit with its code, and a refusal print one line. ``cases`` run through
    ``ee``'s entry point in this process, one after the other; ``real`` ones (and those
    ``started`` before) as processes, running meanwhile."""
    procs = [*(started or []), *start_real(stack, real, cwd, **(env or {}))]
    settings = stack.env(**(env or {}))
    problems = [ee(*args, env=settings, cwd=cwd).refusal_problem(code, words) for args, code, words in cases]
    for (args, code, words), proc in procs:
        out, err = proc.communicate(timeout=180)  # generous on 2 loaded cores
        problems.append(Ran(tuple(args), proc.returncode, out, err).refusal_problem(code, words))
    found = [p for p in problems if p is not None]
    assert not found, "\n".join(found)


def test_each_command_exits_with_the_documented_code(engine: Stack, tmp_path: Path, ee_main: InProcessEe) -> None:
    files = {}
    for name, workflow in (("ok", chain(1)), ("gate", SIGNAL_WAIT), ("fails", FAILS)):
        files[name] = str(tmp_path / f"{name}.json")
        Path(files[name]).write_text(json.dumps(workflow))
    done = engine.submit(chain(1), {"v": 1})
    engine.wait_job(done)
    parked = engine.submit(SIGNAL_WAIT, {}, job_id="parked-1")
    engine.wait_job(parked, statuses=("parked",))
    to_cancel = engine.submit(SIGNAL_WAIT, {}, job_id="to-cancel")
    engine.wait_job(to_cancel, statuses=("parked",))
    run_all(ee_main, engine, [
        (["submit", files["ok"], "--input", '{"v": 2}', "--wait"], 0, ""),
        (["submit", files["gate"], "--job-id", "slow-1", "--wait", "--timeout", "0.5"], 5,
         "gave up waiting for job 'slow-1'"),
        (["submit", files["ok"], "--input", "{oops"], 2, "--input is not valid JSON"),
        (["status", done], 0, ""),
        (["status", "a b"], 2, "invalid job id"),
        (["jobs"], 0, ""),
        (["events", "--job", parked], 0, ""),
        (["bots"], 0, ""),
        (["deadletter"], 0, ""),
        (["cancel", done], 2, "already completed"),
        (["cancel", "no-such-job"], 3, "unknown job"),
        (["signal", done, "go"], 2, "already completed"),
        (["event", "resolve", "no-such-job~1.0"], 3, "unknown event"),
        (["event", "extend", "no-such-job~1.0", "--timeout", "5"], 3, "unknown event"),
        (["event", "fail", "no-such-job~1.0", "--error", "x"], 3, "unknown event"),
        (["url", "nats"], 0, ""),
        (["purge", "--older-than", "1h", "--dry-run"], 0, ""),
        (["purge", "--older-than", "soon"], 2, "bad duration"),
    ], tmp_path, real=((["submit", files["fails"], "--wait"], 1, ""),
                       (["status", "no-such-job"], 3, "unknown job 'no-such-job'")))
    # Acting on a parked job works (0); once it has moved on, the same act is refused (2).
    run_all(ee_main, engine, [(["signal", parked, "go"], 0, ""), (["cancel", to_cancel], 0, "")], tmp_path)
    engine.wait_job(parked)
    poll(lambda: engine.job(to_cancel)["status"] == "cancelled", 20, what="the job cancelled")  # type: ignore[index]
    run_all(ee_main, engine, [
        (["event", "resolve", f"{parked}~1.0"], 3, "unknown event"),
        (["submit", files["gate"], "--job-id", to_cancel, "--wait"], 1, ""),
    ], tmp_path)


def test_every_command_exits_4_when_the_engine_is_unreachable(stack: Stack, tmp_path: Path,
                                                              ee_main: InProcessEe) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(chain(1)))
    # NATS up but no reactor answers: the requests that need one say so, also exit 4, after
    # their patience (10 s); real processes, waiting while the rest runs.
    no_reactor = start_real(stack, ((["cancel", "some-job"], 4, "reactor unavailable"),
                                    (["purge", "--older-than", "1d"], 4, "reactor unavailable")), tmp_path)
    nowhere = {"EE_NATS_URL": "nats://127.0.0.1:1", "EE_REDIS_URL": "redis://127.0.0.1:1/0"}
    run_all(ee_main, stack, [
        (["submit", str(path)], 4, "NATS at nats://127.0.0.1:1 unavailable"),
        (["submit", str(path), "--wait"], 4, "unavailable"),
        (["status", "some-job"], 4, "Redis at redis://127.0.0.1:1/0 unavailable"),
        (["events"], 4, "unavailable"),
        (["bots"], 4, "unavailable"),
        (["deadletter"], 4, "unavailable"),
        (["cancel", "some-job"], 4, "NATS at nats://127.0.0.1:1 unavailable"),
        (["signal", "some-job", "go"], 4, "unavailable"),
        (["event", "resolve", "some-job~1.0"], 4, "unavailable"),
        (["purge", "--older-than", "1d"], 4, "NATS at nats://127.0.0.1:1 unavailable"),
    ], tmp_path, real=((["jobs"], 4, "Redis at redis://127.0.0.1:1/0 unavailable"),), env=nowhere)
    run_all(ee_main, stack, [(["status", "some-job"], 3, "unknown job")], tmp_path, started=no_reactor)
