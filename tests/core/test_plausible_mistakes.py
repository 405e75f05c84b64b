"""Every command, given the mistakes people make: one line on stderr, the documented exit code
(docs/operations.md, ``ee.exits``), nothing on stdout, never a traceback.

Each runs through ``ee.cli.main`` in the test's process, with the test's environment and
folder. Mistakes of input are made against a running engine (so the refusal is about the input, not
the connection); mistakes of where: from a folder with no stack and no URLs.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

import shared.service
from ee.cli import main
from tests.support.stack import Stack
from tests.workflows import chain

GATE = {"name": "gate", "start": "ask", "nodes": {
    "ask": {"kind": "wait_signal", "signal": "go", "timeout_s": 3600, "next": "done"},
    "done": {"kind": "end"}}}

Case = tuple[list[str], int, str]  # arguments, exit code, words the line holds


def run_cases(cases: list[Case], env: dict[str, str], cwd: Path, capsys: pytest.CaptureFixture[str],
              monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each case through ``ee``'s own entry point in this process (seconds, not a minute of
    interpreter starts); an exception that escapes it fails the test with its traceback."""
    monkeypatch.chdir(cwd)
    for key in [k for k in os.environ if k.startswith("EE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    # A service command sets up logging for its process before it refuses: here that would bind
    # structlog, for every later test in this process, to a capture stream closed after this one.
    monkeypatch.setattr(shared.service, "setup_logging", lambda *_: None)
    failures = []
    for args, code, words in cases:
        monkeypatch.setattr(sys, "argv", ["ee", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            main()
        out, err = capsys.readouterr()
        got = stopped.value.code
        one_line = (err.count("\n") == 1 and "Traceback" not in err
                    and err.split(":")[0] in ("ee", "ee worker", "ee bench", "worker"))
        if got != code or not one_line or words not in err or out:
            failures.append(f"ee {' '.join(args)}: exit {got} (want {code}), stdout {out[:200]!r}, "
                            f"stderr {err[-600:]!r} (want {words!r})")
    assert not failures, "\n".join(failures)


def test_plausible_mistakes_against_a_running_engine(engine: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.json").write_text(json.dumps(chain(1)))
    (tmp_path / "gate.json").write_text(json.dumps(GATE))
    (tmp_path / "broken.json").write_text('{"name": "x", "start": "a", "nodes": {"a": {"kind": "end", "next": "b"}}}')
    (tmp_path / "notjson.json").write_text("name: x\n")
    (tmp_path / "input.json").write_text('{"amount": 5')
    (tmp_path / "list.json").write_text("[1, 2]")
    done = engine.submit(chain(1), {"v": 1}, job_id="done-1")
    engine.wait_job(done)
    parked = engine.submit(GATE, {}, job_id="parked-1")
    engine.wait_job(parked, statuses=("parked",))
    cases: list[Case] = [
        # the command line itself
        ([], 2, "missing command (one of: bench, bots"),
        (["sbumit", "ok.json"], 2, "No such command 'sbumit'"),
        (["--nats-url", "localhost:4222", "jobs"], 2, "invalid setting EE_NATS_URL"),
        (["--redis-prefix", "a b", "jobs"], 2, "invalid setting EE_REDIS_PREFIX"),
        # submit
        (["submit"], 2, "Missing argument 'FILE|NAME[@VERSION]'"),
        (["submit", "invoice"], 3, "no workflow 'invoice' is deployed"),
        (["submit", "invoice@x"], 2, "cannot read invoice@x"),
        (["submit", "missing.json"], 2, "cannot read missing.json"),
        (["submit", "."], 2, "is a directory"),
        (["submit", "notjson.json"], 2, "is not valid JSON"),
        (["submit", "list.json"], 2, "a workflow is a JSON object"),
        (["submit", "broken.json"], 2, "invalid workflow"),
        (["submit", "ok.json", "--input", "{amount: 5}"], 2, "--input is not valid JSON"),
        (["submit", "ok.json", "--input", "input.json"], 2, "(to read the file, write @input.json)"),
        (["submit", "ok.json", "--input", "@input.json"], 2, "--input (input.json) is not valid JSON"),
        (["submit", "ok.json", "--input", "@nope.json"], 2, "cannot read nope.json"),
        (["submit", "ok.json", "--input", "[5]"], 2, "--input must be a JSON object, not an array"),
        (["submit", "ok.json", "--job-id", "my job"], 2, "invalid job id 'my job'"),
        (["submit", "ok.json", "--job-id", "done-1", "--input", '{"v": 2}'], 2, "job id 'done-1' is taken"),
        (["submit", "ok.json", "--timeout", "5"], 2, "give --wait too"),
        (["submit", "ok.json", "--wait", "--timeout", "soon"], 2, "Invalid value for '--timeout'"),
        (["submit", "ok.json", "--wiat"], 2, "No such option '--wiat'"),
        (["submit", "-", "--input", "-"], 2, "cannot both be -"),
        (["submit", "gate.json", "--wait", "--timeout", "0.5"], 5, "gave up waiting for job"),
        # status, jobs, events, bots, workers, deadletter
        (["status"], 2, "Missing argument 'JOB_ID'"),
        (["status", "no-such-job"], 3, "unknown job 'no-such-job'"),
        (["status", f"{parked}~1.0"], 2, f"is an event id; its job is '{parked}'"),
        (["status", "{x}"], 2, "invalid job id"),
        (["jobs", "--status", "done"], 2, "'done' is not a job status"),
        (["jobs", "--status", "waking"], 2, "shows as parked"),
        (["jobs", "--limit", "0"], 2, "Invalid value for '--limit'"),
        (["jobs", "--since", "yesterday"], 2, "bad time 'yesterday'"),
        (["jobs", "--since", "1h", "--until", "2h"], 2, "--since must be before --until"),
        (["jobs", "--workflow", "a b"], 2, "invalid workflow name 'a b'"),
        (["jobs", "--after", "no-such-job"], 3, "unknown job 'no-such-job'"),
        (["events", "--kind", "sleep"], 2, "'sleep' is not one of"),
        (["events", "--older-than", "an hour"], 2, "bad duration 'an hour'"),
        (["events", "--job", f"{parked}~1.0"], 2, "is an event id"),
        (["events", "--activity", "demo sleep"], 2, "invalid activity name"),
        (["bots", "erp"], 2, "unexpected extra argument"),
        (["workers", "--limit", "x"], 2, "No such option '--limit'"),
        (["deadletter", "--limit", "-3"], 2, "Invalid value for '--limit'"),
        # acting on jobs and waits
        (["signal", parked], 2, "Missing argument 'NAME'"),
        (["signal", parked, "go now"], 2, "invalid signal name 'go now'"),
        (["signal", parked, "go", "--data", "{ok: true}"], 2, "--data is not valid JSON"),
        (["signal", "no-such-job", "go"], 3, "unknown job 'no-such-job'"),
        (["signal", done, "go"], 2, "already completed"),
        (["cancel"], 2, "Missing argument 'JOB_ID'"),
        (["cancel", "no-such-job"], 3, "unknown job 'no-such-job'"),
        (["cancel", done], 2, "already completed"),
        (["purge"], 2, "Missing option '--older-than'"),
        (["purge", "--older-than", "a week"], 2, "bad duration 'a week'"),
        (["purge", "--older-than", "7d", "--status", "parked"], 2, "'parked' is not one of"),
        (["purge", "--older-than", "7d", "--batch", "0"], 2, "--batch"),
        (["retry"], 2, "Missing argument 'JOB_ID'"),
        (["retry", "no-such-job"], 3, "unknown job 'no-such-job'"),
        (["retry", done], 2, "is completed: only a failed job can be retried"),
        (["retry", done, "--from", "a\tb"], 2, "invalid node id"),
        (["workflow"], 2, "missing command (one of: deploy, list, show)"),
        (["workflow", "deploy", "missing.json"], 2, "cannot read missing.json"),
        (["workflow", "deploy", "broken.json"], 2, "invalid workflow"),
        (["workflow", "show", "invoice@x"], 2, "is not NAME or NAME@VERSION"),
        (["workflow", "show", "invoice"], 3, "no workflow 'invoice' is deployed"),
        (["event"], 2, "missing command (one of: extend, fail, resolve)"),
        (["event", "resolve", parked], 2, f"is a job id; `ee events --job {parked}` lists its events"),
        (["event", "resolve", "no-such-job~1.0"], 3, "unknown event"),
        (["event", "resolve", f"{parked}~1.0", "--data", "yes"], 2, "--data is not valid JSON"),
        (["event", "fail", f"{parked}~1.0"], 2, "Missing option '--error'"),
        (["event", "extend", f"{parked}~1.0"], 2, "Missing option '--timeout'"),
        (["event", "extend", f"{parked}~1.0", "--timeout", "-5"], 2, "Invalid value for '--timeout'"),
        (["event", "extend", f"{done}~1.0", "--timeout", "5"], 3, "unknown event"),
        # the services and the stack
        (["url", "postgres"], 2, "'postgres' is not one of 'nats', 'redis'"),
        (["executor", "--grace", "-1"], 2, "Invalid value for '--grace'"),
        (["reactor", "now"], 2, "unexpected extra argument"),
        (["worker"], 2, "nothing to serve"),
        (["worker", "--demmo"], 2, "unrecognized arguments: --demmo"),
        (["worker", "--bot", "b1"], 2, "--bot and --pool go together"),
        (["worker", "--activities", "no_such_module"], 2, "no module named 'no_such_module'"),
        (["bench", "--jobz", "5"], 2, "unrecognized arguments: --jobz"),
        (["up", "--executors", "-1"], 2, "Invalid value for '--executors'"),
        (["up", "--example", "missing.json"], 2, "'missing.json' does not exist"),
        (["up", "--example", "broken.json"], 2, "invalid workflow"),
        (["up", "--example", "ok.json", "--input", "[1]"], 2, "--input must be a JSON object"),
    ]
    run_cases(cases, {k: v for k, v in engine.env().items() if k.startswith("EE_")}, tmp_path, capsys, monkeypatch)
    assert engine.job(parked)["status"] == "parked"  # type: ignore[index]  # none of it reached the job


def test_plausible_mistakes_of_where_without_a_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.json").write_text(json.dumps(chain(1)))
    nowhere = "no stack found: no .ee/stack.json in"
    run_cases([
        (["submit", "ok.json"], 2, nowhere),
        (["status", "job-1"], 2, nowhere),
        (["jobs"], 2, nowhere),
        (["events"], 2, nowhere),
        (["bots"], 2, nowhere),
        (["deadletter"], 2, nowhere),
        (["cancel", "job-1"], 2, nowhere),
        (["purge", "--older-than", "7d"], 2, nowhere),
        (["signal", "job-1", "go"], 2, nowhere),
        (["event", "resolve", "job-1~1.0"], 2, nowhere),
        (["url", "nats"], 2, nowhere),
        (["reactor"], 2, nowhere),
        (["executor"], 2, nowhere),
        (["worker", "--demo"], 2, nowhere),
    ], {}, tmp_path, capsys, monkeypatch)
