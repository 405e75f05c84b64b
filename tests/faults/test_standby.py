"""A second reactor waits as a standby and takes over when the active one dies; the lease
fences a reactor that lost it, so that two reactors never act at once."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from typing import Any

from tests.faults.helpers import assert_at_most_once, assert_chain_outputs, log_entries
from tests.support.stack import Service, Stack, poll
from tests.workflows import chain


def readyz(service: Service) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{service.ops_port}/readyz", timeout=5) as reply:
            return int(reply.status), json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def standby_lines(service: Service) -> list[str]:
    return [line for line in service.output().splitlines() if '"event": "standby: reactor ' in line
            or '"event":"standby: reactor ' in line]


def active_and_standby(stack: Stack) -> tuple[Service, Service]:
    stack.ops = True
    active = stack.reactor()
    poll(lambda: log_entries(active, "reactor ready"), 30, 0.05, "the first reactor to be ready")
    standby = stack.reactor()
    poll(lambda: standby_lines(standby), 30, 0.05, "the second reactor's standby line")
    return active, standby


def finished_once(stack: Stack, job_ids: list[str]) -> None:
    inspector = stack.inspector()
    twice = {}
    for job_id in job_ids:
        history = inspector.job(job_id)["history"]  # type: ignore[index]
        ends = [h for h in history if h["event"] in ("completed", "failed")]
        if len(ends) != 1:
            twice[job_id] = ends
    assert not twice, f"jobs not finished exactly once: {dict(list(twice.items())[:3])}"


def test_standby_takes_over_when_the_active_reactor_is_killed(stack: Stack) -> None:
    active, standby = active_and_standby(stack)
    [line] = standby_lines(standby)
    assert "is active, lease until" in line
    code, body = readyz(standby)
    assert (code, body["role"]) == (503, "standby"), body
    assert standby.healthz() == 200
    assert readyz(active)[0] == 200
    assert not log_entries(standby, "reactor ready")  # no streams, consumers, endpoints or loops
    stack.executor()
    stack.worker()
    ids = stack.submit_many(chain(3), [{"v": i} for i in range(200)], "standby")
    poll(lambda: len(stack.executions()) >= 100, 60, 0.02, "jobs in flight")
    active.kill()
    poll(lambda: log_entries(standby, "reactor ready"), 30, 0.05, "the standby to take over")
    assert readyz(standby)[0] == 200
    jobs = stack.wait_jobs(ids, timeout=90)
    assert_chain_outputs(jobs, {jid: {"v": i} for i, jid in enumerate(ids)})
    assert_at_most_once(stack)
    finished_once(stack, ids)


def test_a_reactor_paused_past_its_lease_is_fenced_and_exits(stack: Stack) -> None:
    """The jobs complete while the old reactor is still paused: the new one took the results
    consumer's deliveries over from the paused one's connection, which NATS keeps open."""
    old, standby = active_and_standby(stack)
    stack.executor()
    stack.worker()
    ids = stack.submit_many(chain(3), [{"v": i} for i in range(40)], "paused")
    poll(lambda: len(stack.executions()) >= 10, 60, 0.02, "jobs in flight")
    old.signal(signal.SIGSTOP)
    try:
        poll(lambda: log_entries(standby, "reactor ready"), 30, 0.05, "the standby to take over")
        jobs = stack.wait_jobs(ids, timeout=90)
        assert log_entries(standby, "taking over a push consumer from the connection bound to it")
    finally:
        old.signal(signal.SIGCONT)
    assert old.proc is not None
    code = old.proc.wait(timeout=30)
    assert code == 2, old.output()[-3000:]
    assert "lost the reactor lease" in old.output()
    assert "Traceback" not in old.output()
    assert_chain_outputs(jobs, {jid: {"v": i} for i, jid in enumerate(ids)})
    assert_at_most_once(stack)
    finished_once(stack, ids)


def test_sigterm_releases_the_lease(stack: Stack) -> None:
    """The stopping reactor deletes its lease: the standby takes over at its next try, not
    after the TTL (which the test lengthens so that only the release can explain a takeover)."""
    stack.ops = True
    stack.extra_env["EE_REACTOR_LEASE_S"] = "60"
    active, standby = active_and_standby(stack)
    assert active.stop() == 0
    assert log_entries(active, "reactor lease released")
    poll(lambda: log_entries(standby, "reactor ready"), 40, 0.05, "the standby to take over")
    assert readyz(standby)[0] == 200
