"""Upgrading from the build before the one-layout change: no parked wait is lost.

The previous build (``PREVIOUS``, the last commit before ``shared/layout.py``) runs for real,
from its own source tree (``git archive``), against the same NATS and Redis: it finishes one
job and parks one job on each kind of wait (an activity whose task waits in JetStream for a
worker, a sleep with a signal already in the job's inbox, a signal, a bot lock). Then its
services stop and the current build starts on the same servers. Every key the previous build
wrote is a key of the current layout (no rename happened, so none needs a migration), and
every parked job completes under the new build: the activity runs once, the timer fires, the
signal sent after the upgrade is delivered, the bot is granted; ``ee status`` and ``ee jobs``
find every job, the finished one too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.layout import FAMILIES
from tests.faults.helpers import assert_at_most_once
from tests.support.stack import Stack, poll, text
from tests.support.status_index import assert_status_indexes_match

PREVIOUS = "e9887ae"  # the parent of 80c3c0c ("One layout")
REPO = Path(__file__).resolve().parents[2]

ECHO = {"name": "upgrade-echo", "version": 1, "start": "echo", "nodes": {
    "echo": {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"}, "output": "e", "next": "done"},
    "done": {"kind": "end", "output": "vars.e.v"}}}
NAP_THEN_INBOX = {"name": "upgrade-nap", "version": 1, "start": "nap", "nodes": {
    "nap": {"kind": "sleep", "seconds": 3600, "next": "wait"},
    "wait": {"kind": "wait_signal", "signal": "early", "output": "got", "next": "done"},
    "done": {"kind": "end", "output": "vars.got"}}}
SIGNAL = {"name": "upgrade-signal", "version": 1, "start": "wait", "nodes": {
    "wait": {"kind": "wait_signal", "signal": "go", "output": "got", "next": "done"},
    "done": {"kind": "end", "output": "vars.got"}}}
BOT = {"name": "upgrade-bot", "version": 1, "start": "lock", "nodes": {
    "lock": {"kind": "lock_bot", "pool": "upgrade", "output": "bot", "next": "work"},
    "work": {"kind": "activity", "activity": "demo.echo", "input": {"v": "'on bot'"}, "on_bot": True,
             "output": "worked", "next": "free"},
    "free": {"kind": "unlock_bot", "next": "done"},
    "done": {"kind": "end", "output": "vars.bot.bot"}}}


@pytest.fixture
def previous_build(tmp_path: Path) -> Path:
    """The previous build's source tree, from this clone's history (skipped in a shallow clone)."""
    found = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{PREVIOUS}^{{commit}}"], capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"commit {PREVIOUS} is not in this clone's history (shallow clone?)")
    tree = tmp_path / "previous-build"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def ee(stack: Stack, *args: str, cwd: Path | None = None) -> Any:
    """``ee ARGS --json`` of this build, or of the one whose source tree ``cwd`` is."""
    out = subprocess.run([sys.executable, "-m", "ee", *args, "--json"], env=stack.env(), capture_output=True,
                         text=True, timeout=30, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def send_signal(stack: Stack, job_id: str, name: str, data: str, cwd: Path | None = None) -> None:
    out = subprocess.run([sys.executable, "-m", "ee", "signal", job_id, name, "--data", data], env=stack.env(),
                         capture_output=True, text=True, timeout=30, cwd=cwd)
    assert out.returncode == 0, out.stderr


def family_of(key: str, kind: str, prefix: str) -> str | None:
    """The family of the current layout that names ``key`` with Redis type ``kind``, if any."""
    for family in FAMILIES:
        if family.name.startswith("legacy_") or family.type != kind:
            continue
        pattern = re.escape(prefix + family.pattern)
        pattern = pattern.replace(re.escape("{J}~F.i"), r"\{[^{}]+\}~[^~{}]+")
        pattern = pattern.replace(re.escape("{J}"), r"\{[^{}]+\}")
        pattern = re.sub(re.escape(re.escape("<")) + "[a-z]+" + re.escape(re.escape(">")), ".+", pattern)
        if re.fullmatch(pattern, key):
            return family.name
    return None


def test_jobs_parked_by_the_previous_build_complete_under_this_one(stack: Stack, previous_build: Path) -> None:
    stack.start_build(previous_build, "reactor", EE_BUILD="prev")
    stack.start_build(previous_build, "executor", EE_BUILD="prev")
    worker = stack.start_build(previous_build, "worker", "--demo", EE_BUILD="prev")
    stack.wait_ready()
    done = stack.submit(ECHO, {"v": "before"}, "up-finished")
    poll(lambda: ee(stack, "status", done, cwd=previous_build)["status"] == "completed", 30, 0.1, f"{done} to finish")
    assert worker.stop() == 0  # from here no worker runs: the next task waits in JetStream

    activity = stack.submit(ECHO, {"v": "across"}, "up-activity")
    nap = stack.submit(NAP_THEN_INBOX, {}, "up-nap")
    signal = stack.submit(SIGNAL, {}, "up-signal")
    bot = stack.submit(BOT, {}, "up-bot")
    # What the previous build's own ee sees: one open event of each kind, the early signal kept.
    want = {(activity, "activity"), (nap, "timer"), (signal, "signal"), (bot, "bot_lock")}
    poll(lambda: {(e["job"], e["kind"]) for e in ee(stack, "events", cwd=previous_build)} == want, 30, 0.1,
         "each job parked on its wait")
    send_signal(stack, nap, "early", '"from the inbox"', cwd=previous_build)  # not waited for yet: kept
    assert [service.stop() for service in stack.services] == [0, 0, 0]

    client = stack.redis_client()
    # Every key the previous build wrote is one the current layout names, with its type.
    written = {text(k): text(client.type(k)) for k in client.scan_iter(match=stack.prefix + "*", count=1000)}
    assert written, "the previous build wrote nothing"
    unknown = {k: t for k, t in written.items() if family_of(k, t, stack.prefix) is None}
    assert not unknown, f"keys of the previous build the current layout does not name: {unknown}"
    assert {family_of(k, t, stack.prefix) for k, t in written.items()} >= {
        "job", "job_events", "job_history", "job_inbox", "event", "jobs", "timers", "event_index"}

    stack.reactor(EE_BUILD="next")
    stack.executor(EE_BUILD="next")
    stack.worker(EE_BUILD="next")
    stack.worker("--bot", "upgrade-bot-1", "--pool", "upgrade", EE_BUILD="next")
    stack.wait_ready()
    inspector = stack.inspector()
    keys = inspector.keys
    (timer,) = inspector.job(nap, history=False)["events"]  # type: ignore[index]
    client.zadd(keys.timers, {timer: 0}, xx=True)  # an hour passes
    send_signal(stack, signal, "go", '"after the upgrade"')

    jobs = stack.wait_jobs([activity, nap, signal, bot], timeout=60)
    assert {j: (job["status"], job["output"]) for j, job in jobs.items()} == {
        activity: ("completed", "across"), nap: ("completed", "from the inbox"),
        signal: ("completed", "after the upgrade"), bot: ("completed", "upgrade-bot-1")}
    for job_id in (activity, nap, signal, bot):
        history = ee(stack, "status", job_id)["history"]
        assert history[0]["build"].endswith("+prev"), history
        assert history[-1]["build"].endswith("+next"), history  # resumed and finished by the new build
    listed = {row["job_id"]: row["status"] for row in ee(stack, "jobs", "--limit", "100")}
    assert listed == {done: "completed", activity: "completed", nap: "completed", signal: "completed",
                      bot: "completed"}
    assert ee(stack, "status", done)["output"] == "before"
    assert [e for e, _ in stack.executions() if e.startswith(activity)] == [f"{activity}~1.0"]
    assert_at_most_once(stack)
    assert_status_indexes_match(client, stack.prefix)
    assert not {k: n for k, n in stack.event_index_keys().items() if n}
