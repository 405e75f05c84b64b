"""The reactor's /metrics and logs, from a real process driven as an executor would.

Jobs by status and parked events by kind follow each step (a fired wait not consumed yet is
not parked), an activity's dispatch-to-result time is observed, and garbage, a stale fence
and a redelivery move the dead-letter, fence-rejection and redelivery counters. Refusals,
dead letters and operator actions are logged with their job and event ids.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request
from typing import Any

import msgspec
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ee.servers import free_port
from shared import names
from shared.messages import (
    ActivityResult,
    ActivityWait,
    CancelRequest,
    Checkpoint,
    EventOp,
    FinishRequest,
    IntakeRequest,
    ParkReply,
    ParkRequest,
    SignalRequest,
    SignalWait,
    StartRequest,
    Wait,
    encode,
)
from tests.support.stack import Service, Stack, poll

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Driver:
    """Requests to the reactor as an executor sends them."""

    def __init__(self, stack: Stack, port: int) -> None:
        self.stack = stack
        self.port = port

    def call(self, op: str, request: Any) -> Any:
        return self.stack.request(names.reactor_subject(op), encode(request))

    def start(self, job_id: str) -> None:
        reply = self.call("start", StartRequest(job_id=job_id, workflow=b"{}", digest="metrics", name="metrics",
                                                version=1, start="step"))
        assert not reply.headers, reply.headers

    def park(self, job_id: str, fence: int, wait: Wait) -> Any:
        return self.call("park", ParkRequest(job_id=job_id, fence=fence, checkpoint=Checkpoint(node="step"),
                                             waits=[wait]))

    def gauges_show(self, **expected: float) -> Samples:
        """Poll /metrics until each ``name`` / ``name:label`` shows its expected value."""
        def check() -> Samples | None:
            samples = scrape(self.port)
            for key, want in expected.items():
                name, _, label = key.partition("__")
                labels = {"ee_jobs": "status", "ee_parked_events": "kind"}
                got = value(samples, name, **({labels[name]: label} if label else {}))
                if got != want:
                    return None
            return samples
        return poll(check, 15, 0.05, f"/metrics to show {expected}")


def consumer_counts(stack: Stack) -> tuple[int, int]:
    """(redelivered, ack pending) of the reactor's results consumer."""
    async def go() -> tuple[int, int]:
        nc = await nats.connect(stack.nats.url)
        try:
            info = await nc.jetstream().consumer_info(names.STREAM_RESPONSES, names.CONSUMER_REACTOR_RESPONSES)
            return int(info.num_redelivered or 0), int(info.num_ack_pending or 0)
        finally:
            await nc.close()
    return asyncio.run(go())


def consumer_redelivered(stack: Stack) -> int:
    return consumer_counts(stack)[0]


def paused(service: Service) -> Any:
    class Paused:
        def __enter__(self) -> None:
            os.kill(service.pid, signal.SIGSTOP)

        def __exit__(self, *_: object) -> None:
            os.kill(service.pid, signal.SIGCONT)
    return Paused()


@pytest.mark.timeout(90)
def logged(service: Service, event: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in service.output().splitlines() if line.startswith("{")]
    return [r for r in records if r.get("event") == event]


def test_reactor_metrics_follow_jobs_and_count_refusals(stack: Stack) -> None:
    port = free_port()
    reactor = stack.reactor(EE_OPS_PORT=str(port), EE_GAUGE_INTERVAL_S="0.05")
    stack.wait_ready()
    driver = Driver(stack, port)
    client = stack.redis_client()
    keys = stack.inspector().keys

    # A job started and not parked yet is running; parked on a signal, it is parked.
    driver.start("m-sig")
    driver.gauges_show(ee_jobs__running=1, ee_jobs__parked=0, ee_jobs__finished=0)
    reply = driver.park("m-sig", 0, SignalWait(node="step", signal="go"))
    assert msgspec.json.decode(reply.data, type=ParkReply).events == ["m-sig~1.0"]
    driver.gauges_show(ee_jobs__running=0, ee_jobs__parked=1, ee_parked_events__signal=1)

    # An activity: its dispatch-to-result time is observed once its result arrives.
    driver.start("m-act")
    driver.park("m-act", 0, ActivityWait(node="step", activity="metrics.act"))
    poll(lambda: client.zscore(keys.dispatch, "m-act~1.0") is None, 10, 0.02, "the task to be dispatched")
    before = scrape(port)
    assert value(before, "ee_activity_result_seconds_count", activity="metrics.act") == 0
    token = stack.task_token("metrics.act", "m-act~1.0")
    stack.publish(names.ACTIVITY_RESPONSE, encode(ActivityResult(event_id="m-act~1.0", attempt=1, ok=True,
                                                                 token=token)))
    samples = driver.gauges_show(ee_jobs__waking=1, ee_jobs__parked=1, ee_parked_events__activity=0)
    assert value(samples, "ee_activity_result_seconds_count", activity="metrics.act") == 1
    assert 0 < value(samples, "ee_activity_result_seconds_sum", activity="metrics.act") < 10

    # An operator extends the signal wait: still parked, logged with its ids.
    extended = driver.call("event", EventOp(event_id="m-sig~1.0", op="extend", timeout_s=3600))
    assert not extended.headers, extended.headers

    # The signal fires the other wait: no wait is parked any more, both jobs are waking.
    driver.call("signal", SignalRequest(job_id="m-sig", signal="go", data={}))
    driver.gauges_show(ee_jobs__waking=2, ee_jobs__parked=0, ee_parked_events__signal=0,
                       ee_parked_events__activity=0)

    # A stale fence, garbage on a request subject and on a stream.
    stale = driver.park("m-sig", 0, SignalWait(node="step", signal="again"))
    assert stale.headers and stale.headers.get("Nats-Service-Error-Code") == "409"
    garbage = driver.stack.request(names.reactor_subject("park"), b"\x00garbage")
    assert garbage.headers and garbage.headers.get("Nats-Service-Error-Code") == "400"
    stack.publish(names.ACTIVITY_RESPONSE, b"not json")

    # A redelivery: the reactor is paused holding a result past its ack wait (5 s).
    poll(lambda: scrape(port).get(("ee_deadletters_total", (("subject", names.ACTIVITY_RESPONSE),))), 10, 0.05,
         "the garbage result to be dead-lettered")
    # The counter moves before the reactor terminates the message: pausing the reactor before
    # JetStream has the term would have the garbage redelivered and dead-lettered twice.
    poll(lambda: consumer_counts(stack)[1] == 0, 10, 0.05, "the garbage result to be terminated")
    with paused(reactor):
        stack.publish(names.ACTIVITY_RESPONSE, encode(ActivityResult(event_id="m-gone~1.0", attempt=1, ok=True)))
        poll(lambda: consumer_redelivered(stack) > 0, 20, 0.2, "JetStream to redeliver the held result")

    def counted() -> Samples | None:
        samples = scrape(port)
        redelivered = value(samples, "ee_redeliveries_total", stream=names.STREAM_RESPONSES) >= 1
        applied = value(samples, "ee_duplicate_results_total") >= 1  # the result for an unknown event
        return samples if redelivered and applied else None

    samples = poll(counted, 15, 0.05, "the redelivery to be counted and the result applied")
    assert value(samples, "ee_fence_rejections_total") == 1
    assert value(samples, "ee_deadletters_total", subject=names.reactor_subject("park")) == 1
    assert value(samples, "ee_deadletters_total", subject=names.ACTIVITY_RESPONSE) == 1
    assert value(samples, "ee_jobs_started_total") == 2

    # A finished job is counted as finished, no longer as waking.
    finish = driver.call("finish", FinishRequest(job_id="m-act", fence=1, status="completed"))
    assert not finish.headers, finish.headers
    driver.gauges_show(ee_jobs__finished=1, ee_jobs__waking=1, ee_jobs__running=0, ee_jobs__parked=0)
    cancelled = driver.call("cancel", CancelRequest(job_id="m-sig", reason="metrics test"))
    assert not cancelled.headers, cancelled.headers
    driver.gauges_show(ee_jobs__finished=2, ee_jobs__waking=0)

    # The log: refusals, dead letters and operator actions carry their ids; no line per park.
    stale_log = logged(reactor, "stale fence refused")
    assert [(r["level"], r["job_id"], r["fence"], r["current"]) for r in stale_log] == [("warning", "m-sig", 0, 1)]
    assert [(r["op"], r["subject"]) for r in logged(reactor, "malformed request refused")] == [
        ("park", names.reactor_subject("park"))]
    assert [r["subject"] for r in logged(reactor, "dead letter")] == [names.ACTIVITY_RESPONSE]
    assert [(r["op"], r["event_id"], r["job_id"], r["status"]) for r in logged(reactor, "operator event action")] \
        == [("extend", "m-sig~1.0", "m-sig", "extended")]
    assert [(r["job_id"], r["reason"]) for r in logged(reactor, "job cancelled")] == [("m-sig", "metrics test")]
    assert not any("park" in str(r.get("event")) and r.get("level") == "info"
                   for r in (json.loads(x) for x in reactor.output().splitlines() if x.startswith("{")))


def test_pending_jobs_are_counted_pending_never_finished(stack: Stack) -> None:
    """Pending: job messages no executor was handed yet (no executor ever ran: the whole stream)
    and jobs recorded pending by an executor that cannot read them; only refused ones are finished."""
    port = free_port()
    stack.reactor(EE_OPS_PORT=str(port), EE_GAUGE_INTERVAL_S="0.05")
    stack.wait_ready()
    driver = Driver(stack, port)
    stack.submit_many({"name": "n", "start": "done", "nodes": {"done": {"kind": "end"}}}, [{}, {}], "queued")
    driver.gauges_show(ee_jobs__pending=2, ee_jobs__finished=0)
    for request in (IntakeRequest(job_id="m-wait", verdict="waiting", reason="a test", build="old"),
                    IntakeRequest(job_id="m-refused", verdict="refused", reason="a test", build="old")):
        reply = driver.call("intake", request)
        assert not reply.headers, reply.headers
    driver.gauges_show(ee_jobs__pending=3, ee_jobs__finished=1, ee_jobs__running=0)
