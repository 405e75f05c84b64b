"""Redis restarted (AOF) and NATS restarted (JetStream file store): services reconnect, nothing lost."""

from __future__ import annotations

import signal

from tests.faults.helpers import assert_at_most_once
from tests.support.stack import Stack
from tests.workflows import chain


def test_redis_restart_loses_nothing(private_stack: Stack) -> None:
    stack = private_stack.up()
    ids = stack.submit_many(chain(3, "demo.sleep"), [{"v": i, "seconds": 0.3} for i in range(30)], "redis")
    stack.wait_job(ids[-1], statuses=("parked", "completed"))
    stack.redis.kill(signal.SIGTERM)  # AOF is flushed on a clean shutdown
    stack.redis.start()
    jobs = stack.wait_jobs(ids, timeout=90)
    assert [j["output"] for j in jobs.values()] == [{"v": i} for i in range(30)]
    assert_at_most_once(stack)
    assert all(s.alive() for s in stack.services)


def test_redis_killed_with_fsync_always_loses_nothing(private_stack: Stack) -> None:
    stack = private_stack
    stack.redis.stop()
    stack.redis.argv[stack.redis.argv.index("--appendfsync") + 1] = "always"
    stack.redis.start()
    stack.up()
    ids = stack.submit_many(chain(3), [{"v": i} for i in range(30)], "fsync")
    stack.wait_job(ids[3], statuses=("parked", "completed"))
    stack.redis.kill(signal.SIGKILL)
    stack.redis.start()
    jobs = stack.wait_jobs(ids, timeout=90)
    assert [j["output"] for j in jobs.values()] == [{"v": i} for i in range(30)]
    assert_at_most_once(stack)


def test_nats_restart_loses_nothing(private_stack: Stack) -> None:
    stack = private_stack.up()
    ids = stack.submit_many(chain(3, "demo.sleep"), [{"v": i, "seconds": 0.3} for i in range(30)], "nats")
    stack.wait_job(ids[-1], statuses=("parked", "completed"))
    stack.nats.kill(signal.SIGKILL)
    stack.nats.start()
    jobs = stack.wait_jobs(ids, timeout=90)
    assert [j["output"] for j in jobs.values()] == [{"v": i} for i in range(30)]
    assert_at_most_once(stack)
    assert all(s.alive() for s in stack.services)
