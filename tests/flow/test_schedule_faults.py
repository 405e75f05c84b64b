"""Each fire time starts exactly one job: the reactor SIGKILLed across a fire time (before it,
and right after the fire step recorded the job, frozen there by a failpoint), and with a
standby reactor that takes over."""

from __future__ import annotations

import json
import signal

import pytest

from reactor.schedules import schedule_job_id
from tests.faults.helpers import hold_at, wait_marker
from tests.flow.helpers import OFFSET_ENV, QUICK, Ee, first_fire, now, offset_before_minute, schedule_jobs
from tests.support.stack import Stack, poll

pytestmark = pytest.mark.faults

# Of real time, from the reactor's start to the first fire time: its start and the schedule's
# add (in process). A slower setup fires a minute later (first_fire reads which).
LEAD_S = 8


def _add(ee: Ee, stack: Stack, name: str) -> float:
    """Add the schedule; its first fire time (the boundary ahead, or the next on a slow machine)."""
    flow = stack.workdir / "quick.json"
    flow.write_text(json.dumps(QUICK))
    return first_fire(json.loads(ee(stack, "schedule", "add", name, "--cron", "* * * * *", "--workflow", str(flow),
                                    "--input", '{"v": 7}', "--json").stdout))


def _exactly_one(ee: Ee, stack: Stack, name: str, boundary: float) -> None:
    job_id = schedule_job_id(name, boundary)
    assert stack.wait_job(job_id, timeout=100)["output"] == {"v": 7}
    assert schedule_jobs(stack, name) == [job_id]
    history = stack.job(job_id)["history"]  # type: ignore[index]
    assert [h["event"] for h in history].count("deferred") == 1
    assert [h["event"] for h in history].count("started") == 1
    shown = json.loads(ee(stack, "schedule", "show", name, "--json").stdout)
    assert shown["fired"] == 1 and shown["last_job"] == job_id


def test_reactor_killed_before_a_fire_time_fires_it_once_after_restart(stack: Stack, ee: Ee) -> None:
    offset, _ = offset_before_minute(LEAD_S)
    reactor = stack.reactor(**{OFFSET_ENV: repr(offset)})
    stack.executor()
    stack.worker()
    stack.wait_ready()
    boundary = _add(ee, stack, "across")
    reactor.kill(signal.SIGKILL)
    real_fire = boundary - offset
    poll(lambda: now() > real_fire + 1, 90, 0.1, "the fire time to pass with no reactor")
    assert schedule_jobs(stack, "across") == []
    stack.reactor(**{OFFSET_ENV: repr(offset)})
    _exactly_one(ee, stack, "across", boundary)


def test_reactor_killed_right_after_recording_a_fire_starts_that_job_once(stack: Stack, ee: Ee) -> None:
    offset, _ = offset_before_minute(LEAD_S)
    reactor, marker = hold_at(stack, "schedule-fired", "reactor", **{OFFSET_ENV: repr(offset)})
    stack.executor()
    stack.worker()
    stack.wait_ready()
    boundary = _add(ee, stack, "recorded")
    wait_marker(marker, reactor, timeout=100)
    reactor.kill(signal.SIGKILL)
    assert schedule_jobs(stack, "recorded") == [schedule_job_id("recorded", boundary)]
    stack.reactor(**{OFFSET_ENV: repr(offset)})
    _exactly_one(ee, stack, "recorded", boundary)


def test_with_a_standby_reactor_a_fire_time_still_starts_one_job(stack: Stack, ee: Ee) -> None:
    offset, _ = offset_before_minute(LEAD_S + 4)
    active, marker = hold_at(stack, "schedule-fired", "reactor", **{OFFSET_ENV: repr(offset)})
    stack.executor()
    stack.worker()
    stack.wait_ready()
    standby = stack.reactor(**{OFFSET_ENV: repr(offset)})
    poll(lambda: "standby: reactor" in standby.output(), 30, 0.05, "the second reactor to wait as a standby")
    boundary = _add(ee, stack, "standby")
    wait_marker(marker, active, timeout=100)
    active.kill(signal.SIGKILL)
    _exactly_one(ee, stack, "standby", boundary)
    assert '"reactor ready"' in standby.output() or "reactor ready" in standby.output()
