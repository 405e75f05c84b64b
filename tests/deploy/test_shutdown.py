"""SIGTERM is heeded from the first moment and a stop leaves nothing but log lines.

A service still waiting for NATS or Redis (say, a pod started before its servers) stops
within seconds on SIGTERM with exit 0; a reactor that has run a while stops at once,
every line it wrote a JSON log record (no raw traceback from the NATS client).
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from ee.servers import free_port
from tests.support.stack import Service, Stack, poll

STOP_WITHIN_S = 5.0


def assert_clean_stop(service: Service, within: float = STOP_WITHIN_S) -> None:
    started = time.monotonic()
    service.signal(signal.SIGTERM)
    assert service.proc is not None
    code = service.proc.wait(timeout=30)
    took = time.monotonic() - started
    output = service.output()
    assert code == 0, output[-3000:]
    assert took < within, f"{service.name} took {took:.1f}s to stop:\n{output[-3000:]}"
    for line in output.splitlines():
        assert line.startswith("{") and json.loads(line), f"{service.name} wrote a non-JSON line: {line!r}"


def saw(service: Service, event: str) -> bool:
    return any(json.loads(line).get("event") == event for line in service.output().splitlines()
               if line.startswith("{"))


@pytest.mark.parametrize(("module", "closed", "waiting"), [
    ("reactor", "EE_REDIS_URL", "waiting for Redis"),
    ("reactor", "EE_NATS_URL", "waiting for NATS"),
    ("executor", "EE_NATS_URL", "waiting for NATS"),
    ("worker", "EE_NATS_URL", "waiting for NATS"),
], ids=["reactor-redis", "reactor-nats", "executor", "worker"])
def test_sigterm_stops_a_service_still_waiting_for_its_servers(stack: Stack, module: str, closed: str,
                                                               waiting: str) -> None:
    port = free_port()  # nothing listens there
    url = f"redis://127.0.0.1:{port}/0" if closed == "EE_REDIS_URL" else f"nats://127.0.0.1:{port}"
    args = ("--demo",) if module == "worker" else ()
    service = stack.start(module, *args, **{closed: url})
    poll(lambda: saw(service, waiting) or not service.alive(), 20, 0.05, f"{module}: {waiting!r}")
    assert service.alive(), service.output()[-3000:]
    assert_clean_stop(service)


def test_a_reactor_that_ran_a_while_stops_at_once_with_only_log_lines(stack: Stack) -> None:
    reactor = stack.reactor()
    stack.wait_ready()
    # Idle through a few of its one-second pulls of jobs.cancel: each that expires left a
    # message nats-py never marks done, which kept drain() waiting until its bound and then
    # printed "_GatheringFuture exception was never retrieved".
    ready_at = time.monotonic()
    poll(lambda: time.monotonic() - ready_at > 2.5 and reactor.alive(), 10, 0.1, "the reactor to idle")
    assert_clean_stop(reactor, within=2.0)
    assert saw(reactor, "stopping")


def test_sigterm_during_a_nats_outage_stops_every_service_cleanly(private_stack: Stack) -> None:
    """The servers go away under running services (not before their start): each one still stops
    on SIGTERM with exit 0 and log lines only (it was 60 to 100 lines of traceback)."""
    stack = private_stack.up()
    stack.nats.kill()
    for service in stack.services:
        poll(lambda s=service: saw(s, "nats disconnected"), 20, 0.05, f"{service.name} to see NATS gone")  # type: ignore[misc]
    for service in stack.services:
        assert_clean_stop(service)
        assert saw(service, "stopping") or service.name != "reactor"


def test_sigterm_during_a_redis_outage_stops_the_reactor_cleanly(private_stack: Stack) -> None:
    stack = private_stack.up()
    stack.redis.kill()
    reactor = next(s for s in stack.services if s.name == "reactor")
    poll(lambda: any(json.loads(line).get("level") in ("warning", "error")
                     for line in reactor.output().splitlines() if line.startswith("{")), 30, 0.1,
         "the reactor to notice Redis gone")
    for service in stack.services:
        assert_clean_stop(service)
