"""Schedules end to end: ``ee schedule add|list|show|pause|resume|delete|trigger``, a fire that
starts its job, the overlap policies and the catch-up window.

The schedule clock of the reactor under test is shifted (``EE_TEST_SCHEDULE_CLOCK_OFFSET_S``,
test only: cronsim has no seconds field) so that a minute boundary of an every-minute cron is
a few seconds ahead; nothing else of the reactor is shifted."""

from __future__ import annotations

import json
import signal
from typing import Any

from reactor.schedules import schedule_job_id
from shared import clock
from tests.flow.helpers import OFFSET_ENV, QUICK, WAITING, Ee, first_fire, offset_before_minute, schedule_jobs
from tests.support.stack import Stack, poll

# Of real time, from the reactor's start to the first fire time: its start and the test's first
# commands (in process). A slower setup waits for the next minute's fire (first_fire).
LEAD_S = 8


def _flow(stack: Stack, workflow: dict[str, Any], name: str) -> str:
    path = stack.workdir / f"{name}.json"
    path.write_text(json.dumps(workflow))
    return str(path)


def _show(ee: Ee, stack: Stack, name: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(ee(stack, "schedule", "show", name, "--json").stdout)
    return shown


def _started(stack: Stack, offset: float) -> None:
    stack.reactor(**{OFFSET_ENV: repr(offset)})
    stack.executor()
    stack.worker()
    stack.wait_ready()


def test_a_schedule_fires_its_job_and_is_managed_by_ee(stack: Stack, ee: Ee) -> None:
    offset, boundary = offset_before_minute(LEAD_S)
    _started(stack, offset)
    flow = _flow(stack, QUICK, "quick")
    added = json.loads(ee(stack, "schedule", "add", "every-minute", "--cron", "* * * * *", "--tz", "Europe/Berlin",
                          "--workflow", flow, "--input", '{"v": 5}', "--json").stdout)
    fire = first_fire(added)  # the boundary, or the next one on a machine slow to get here
    assert fire >= boundary and added["next_fires"] == [clock.iso(fire + 60 * i) for i in range(5)]
    boundary = fire
    assert (added["overlap"], added["catchup_s"], added["paused"]) == ("skip", 60.0, False)
    again = ee(stack, "schedule", "add", "every-minute", "--cron", "* * * * *", "--workflow", flow, code=2)
    assert "exists" in again.stderr
    listed = json.loads(ee(stack, "schedule", "list", "--json").stdout)
    assert [row["name"] for row in listed] == ["every-minute"]
    assert "every-minute" in ee(stack, "schedule", "list").stdout
    text = ee(stack, "schedule", "show", "every-minute").stdout
    assert "next fires:" in text and f"  {clock.iso(boundary + 240)}" in text
    job_id = schedule_job_id("every-minute", boundary)
    done = stack.wait_job(job_id, timeout=100)
    assert done["output"] == {"v": 5} and done["schedule"] == "every-minute"
    assert done["fire_time"] == clock.iso(boundary)
    shown = _show(ee, stack, "every-minute")
    assert (shown["fired"], shown["last_job"]) == (1, job_id)
    assert shown["next_fires"][0] == clock.iso(boundary + 60)
    paused = json.loads(ee(stack, "schedule", "pause", "every-minute", "--json").stdout)
    assert paused["paused"] and paused["next_fires"] == []
    resumed = json.loads(ee(stack, "schedule", "resume", "every-minute", "--json").stdout)
    assert not resumed["paused"] and len(resumed["next_fires"]) == 5
    triggered = json.loads(ee(stack, "schedule", "trigger", "every-minute", "--json").stdout)
    assert stack.wait_job(triggered["job_id"])["output"] == {"v": 5}
    ee(stack, "schedule", "delete", "every-minute")
    assert json.loads(ee(stack, "schedule", "list", "--json").stdout) == []
    gone = ee(stack, "schedule", "show", "every-minute", code=3)
    assert "no schedule named 'every-minute'" in gone.stderr


def test_overlap_skip_buffer_one_and_allow_all(stack: Stack, ee: Ee) -> None:
    # Hourly schedules set up with their fire time far ahead on the schedule clock, then the
    # reactor restarted with that clock moved to just before it: the fire comes after each
    # schedule's triggered job is parked, however long the setup took on a loaded machine.
    offset, boundary = offset_before_minute(600, every=3600)
    _started(stack, offset)
    flow = _flow(stack, WAITING, "waiting")
    running = {}
    for name, overlap in (("skipper", "skip"), ("buffer", "buffer_one"), ("all", "allow_all")):
        added = json.loads(ee(stack, "schedule", "add", name, "--cron", "0 * * * *", "--workflow", flow, "--overlap",
                              overlap, "--json").stdout)
        assert first_fire(added) == boundary, "the setup took longer than the lead"
        running[name] = json.loads(ee(stack, "schedule", "trigger", name, "--json").stdout)["job_id"]
        stack.wait_job(running[name], statuses=("parked",))
    assert clock.now() + offset < boundary, "the setup took longer than the lead"
    reactor = next(s for s in stack.services if s.name == "reactor")
    assert reactor.stop() == 0
    stack.reactor(**{OFFSET_ENV: repr(boundary - 2 - clock.now())})
    poll(lambda: all(first_fire(_show(ee, stack, n)) > boundary for n in running), 100, 0.2, "the fire time to pass")
    skipper = _show(ee, stack, "skipper")
    assert (skipper["skipped"], skipper["fired"]) == (1, 1)  # the trigger's job only
    assert schedule_jobs(stack, "skipper") == [running["skipper"]]
    fired = schedule_job_id("all", boundary)
    assert stack.wait_job(fired, statuses=("parked",))["schedule"] == "all"
    buffer = _show(ee, stack, "buffer")
    assert buffer["buffered"] == clock.iso(boundary) and buffer["skipped"] == 0
    held = schedule_job_id("buffer", boundary)
    assert stack.job(held) is None
    ee(stack, "signal", running["buffer"], "go")
    assert stack.wait_job(running["buffer"])["status"] == "completed"
    assert stack.wait_job(held, statuses=("parked",))["fire_time"] == clock.iso(boundary)
    assert _show(ee, stack, "buffer")["buffered"] == ""


def test_fire_times_missed_while_no_reactor_ran_start_inside_the_catch_up_window(stack: Stack, ee: Ee) -> None:
    offset, _ = offset_before_minute(LEAD_S)
    reactor = stack.reactor(**{OFFSET_ENV: repr(offset)})
    stack.executor()
    stack.worker()
    stack.wait_ready()
    boundary = first_fire(json.loads(ee(stack, "schedule", "add", "catchup", "--cron", "* * * * *", "--workflow",
                                        _flow(stack, QUICK, "quick"), "--overlap", "allow_all", "--catchup", "5m",
                                        "--json").stdout))
    reactor.kill(signal.SIGKILL)
    assert schedule_jobs(stack, "catchup") == []
    # The reactor "comes back" 10.5 minutes after the first fire time on the schedule clock: fire
    # times boundary .. boundary + 600 are due, those more than 5 minutes old missed.
    stack.reactor(**{OFFSET_ENV: repr(boundary + 627 - clock.now())})
    expected = [schedule_job_id("catchup", boundary + 60 * i) for i in range(6, 11)]
    poll(lambda: schedule_jobs(stack, "catchup") == sorted(expected), 60, 0.1, "the fires inside the window")
    shown = _show(ee, stack, "catchup")
    assert (shown["fired"], shown["missed"], shown["skipped"]) == (5, 6, 0)
    assert shown["last_missed"] == clock.iso(boundary)
    for job_id in expected:
        assert stack.wait_job(job_id)["status"] == "completed"


def test_a_schedule_by_name_runs_the_deployed_workflow_at_each_fire(stack: Stack, ee: Ee) -> None:
    offset, _ = offset_before_minute(LEAD_S)
    _started(stack, offset)
    ee(stack, "workflow", "deploy", _flow(stack, QUICK, "quick"))
    added = json.loads(ee(stack, "schedule", "add", "by-name", "--cron", "* * * * *", "--workflow", "quick@1",
                          "--input", '{"v": 9}', "--json").stdout)
    assert added["workflow"] == "quick@1"
    done = stack.wait_job(schedule_job_id("by-name", first_fire(added)), timeout=100)
    assert done["output"] == {"v": 9} and done["name"] == "quick"
