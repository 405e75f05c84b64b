"""Shared pieces of the flow-control tests."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from typing import Any, Protocol

from shared import names
from tests.support.stack import Stack

QUICK = {"name": "quick", "version": 1, "start": "echo",
         "nodes": {"echo": {"kind": "activity", "activity": "demo.echo", "input": {"v": "input.v"},
                            "output": "e", "next": "done"},
                   "done": {"kind": "end", "output": "vars.e"}}}

# Waits for a signal that never comes (unless a test sends it): a job that runs until told.
WAITING = {"name": "waiting", "version": 1, "start": "hold",
           "nodes": {"hold": {"kind": "wait_signal", "signal": "go", "output": "got", "next": "done"},
                     "done": {"kind": "end", "output": "'done'"}}}


class Ee(Protocol):
    """One ``ee`` command against a stack, its exit code checked (the ``ee`` fixture, run in process)."""

    def __call__(self, stack: Stack, *args: str, code: int = 0, **env: str) -> subprocess.CompletedProcess[str]: ...


def submit_at(stack: Stack, workflow: dict[str, Any], job_id: str, **timing: Any) -> str:
    """Publish a job request with the clock fields given (``not_before``, ``deadline``)."""
    body = {"workflow": workflow, "input": {"v": 1}, "job_id": job_id, **timing}
    stack.publish(names.JOBS_EXECUTE, json.dumps(body).encode(), {"Nats-Msg-Id": job_id})
    return job_id


def now() -> float:
    return time.time()


OFFSET_ENV = "EE_TEST_SCHEDULE_CLOCK_OFFSET_S"


def offset_before_minute(lead: float, every: float = 60.0) -> tuple[float, float]:
    """A schedule-clock offset (``EE_TEST_SCHEDULE_CLOCK_OFFSET_S``, test only) that puts a
    minute boundary (with ``every=3600``, an hour's) ``lead`` seconds of real time ahead, and that
    boundary (schedule time): an every-minute (hourly) cron then fires ``lead`` seconds from now."""
    real = time.time()
    boundary = (int((real + lead) // every) + 1) * every
    return boundary - lead - real, boundary


def schedule_jobs(stack: Stack, name: str) -> list[str]:
    """Every job id of schedule ``name`` in the jobs index."""
    keys = stack.inspector().keys
    members: list[Any] = stack.redis_client().zrange(keys.jobs, 0, -1)
    ids = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
    return sorted(j for j in ids if j.startswith(f"sched-{name}-"))


def first_fire(view: dict[str, Any]) -> float:
    """The first of a schedule's ``next_fires`` (as ``ee schedule ... --json`` prints them), in
    Unix seconds: the fire time a test waits for, whatever the time its setup took."""
    return datetime.fromisoformat(view["next_fires"][0].replace("Z", "+00:00")).timestamp()
