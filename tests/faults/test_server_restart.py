"""Redis restarted (AOF) and NATS restarted (JetStream file store): services reconnect, nothing lost.

Each server stays down for a few seconds while jobs are in flight (activities
running, results coming in), long enough for every service to hit the outage;
a client request made meanwhile fails with a clear message and exit code 2.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ee.servers import ServerProcess
from tests.faults.helpers import all_parked, assert_at_most_once, assert_chain_outputs, sleepy_chain
from tests.support.cli import InProcessEe, StackEe
from tests.support.stack import Stack, poll

OUTAGE_S = 5.0
JOBS = 30


@pytest.fixture
def ee(ee_main: InProcessEe, tmp_path: Path) -> StackEe:
    """``ee(stack, *args)``: one command, in this process (tests.support.cli)."""
    return StackEe(ee_main, tmp_path)


def assert_clear_failure(out: subprocess.CompletedProcess[str], says: str) -> None:
    assert out.returncode == 4, (out.returncode, out.stdout, out.stderr)
    assert out.stderr.startswith(f"ee: {says}"), out.stderr
    assert "Traceback" not in out.stderr


def in_flight(stack: Stack) -> list[str]:
    """Jobs of 3 half-second activities, every one started and parked, none finished."""
    ids = stack.submit_many(sleepy_chain(3, 0.5), [{"v": i} for i in range(JOBS)], "restart")
    poll(lambda: all_parked(stack, ids), 30, 0.05, "every job parked")
    return ids


def outage(stack: Stack, server: ServerProcess, sig: int, while_down: Callable[[], None] = lambda: None,
           seconds: float = OUTAGE_S) -> None:
    """Take ``server`` down with ``sig`` while jobs are in flight, run ``while_down``, keep it down
    ``seconds`` in all, then start it again (same port, same data)."""
    server.kill(sig)
    assert len(stack.executions()) < 3 * JOBS, "no activity left to run: nothing was in flight"
    down_at = time.monotonic()
    while_down()
    poll(lambda: time.monotonic() - down_at >= seconds, seconds + 60, 0.1, "the outage to last")
    server.start()


def assert_all_done(stack: Stack, ids: list[str]) -> None:
    jobs = stack.wait_jobs(ids, timeout=90)
    assert_chain_outputs(jobs, {jid: {"v": i} for i, jid in enumerate(ids)})
    assert_at_most_once(stack)
    assert len(stack.executions()) == 3 * len(ids)
    assert all(s.alive() for s in stack.services), [s.name for s in stack.services if not s.alive()]


def test_redis_restart_loses_nothing(private_stack: Stack, ee: StackEe) -> None:
    stack = private_stack.up()
    ids = in_flight(stack)

    def while_down() -> None:
        assert_clear_failure(ee(stack, "status", ids[0]), "Redis at ")
        assert_clear_failure(ee(stack, "jobs"), "Redis at ")

    outage(stack, stack.redis, signal.SIGTERM, while_down)  # AOF is flushed on a clean shutdown
    assert_all_done(stack, ids)


def test_redis_sigkilled_recovers_from_its_aof(private_stack: Stack) -> None:
    """redis-server killed, not stopped: what it acknowledged is in its AOF (``appendfsync
    always`` here). A process kill leaves written data in the OS page cache, so this shows
    recovery from the AOF, not durability through a power cut (see docs/guarantees.md)."""
    stack = private_stack
    stack.redis.stop()
    stack.redis.argv[stack.redis.argv.index("--appendfsync") + 1] = "always"
    stack.redis.start()
    stack.up()
    ids = in_flight(stack)
    outage(stack, stack.redis, signal.SIGKILL, seconds=1)
    assert_all_done(stack, ids)


def test_nats_restart_loses_nothing(private_stack: Stack, ee: StackEe) -> None:
    stack = private_stack.up()
    ids = in_flight(stack)

    def while_down() -> None:
        flow = stack.workdir / "flow.json"
        flow.write_text('{"name": "x", "version": 1, "start": "e", "nodes": {"e": {"kind": "end"}}}')
        assert_clear_failure(ee(stack, "submit", str(flow), "--wait"), "NATS at ")

    outage(stack, stack.nats, signal.SIGTERM, while_down)  # a clean stop writes out the file store
    assert_all_done(stack, ids)


def test_nats_sigkilled_with_sync_always_loses_nothing(private_stack: Stack) -> None:
    """nats-server killed, not stopped, running with ``sync_interval: always`` (each write synced
    before it is acknowledged); with the default (synced every 2 minutes) a host crash can lose
    acknowledged messages (see docs/guarantees.md)."""
    stack = private_stack
    conf = stack.workdir / "nats-sync-always.conf"
    conf.write_text("jetstream {\n  sync_interval: always\n}\n")
    stack.nats.stop()
    stack.nats.argv += ["-c", str(conf)]
    stack.nats.start()
    stack.up()
    ids = in_flight(stack)
    outage(stack, stack.nats, signal.SIGKILL, seconds=1)
    assert_all_done(stack, ids)
