"""The clock's options of ``ee submit`` and ``ee jobs --overdue`` (docs/operations.md)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import click

from ee import exits
from ee.clock_views import overdue_jobs
from ee.inspect import Inspector
from ee.render import print_json, print_table
from shared import clock
from shared.instants import parse_later

__all__ = ["SubmitTiming", "print_clock_fields", "print_overdue", "submit_timing"]


@dataclass(frozen=True, slots=True)
class SubmitTiming:
    not_before: float | None
    deadline: float | None


def submit_timing(not_before: str | None, delay: str | None, deadline: str | None) -> SubmitTiming:
    """``--not-before``/``--delay`` and ``--deadline`` as Unix seconds; a bad one is one line, exit 2.
    A start time in the past is taken as given: the job starts at once."""
    now = time.time()
    try:
        if not_before is not None and delay is not None:
            raise ValueError("--not-before and --delay both say when to start: give one")
        start = None
        if not_before is not None:
            start = parse_later(not_before, now, "--not-before")
        elif delay is not None:
            start = parse_later(delay, now, "--delay")
        end = None if deadline is None else parse_later(deadline, start or now, "--deadline")
    except ValueError as exc:
        click.echo(f"ee: {exc}", err=True)
        sys.exit(exits.BAD_INPUT)
    return SubmitTiming(start, end)


def print_overdue(inspector: Inspector, limit: int, as_json: bool) -> None:
    rows = overdue_jobs(inspector, limit)
    if as_json:
        print_json(rows)
        return
    print_table(rows, ["job_id", "status", "name", "deadline", "overdue", "on_deadline", "error"])


def print_clock_fields(job: dict[str, Any]) -> None:
    """``ee status``: a job's start time, deadline, overdue flag and schedule, where it has them."""
    for key, shown in (("not_before", "starts"), ("started", "started"), ("deadline", "deadline")):
        value = job.get(key)
        if isinstance(value, float):
            click.echo(f"{shown:>9}: {clock.iso(value)}")
        elif value:
            click.echo(f"{shown:>9}: {value}")
    if job.get("overdue"):
        click.echo(f"{'overdue':>9}: since {job['overdue']} (on deadline: {job.get('on_deadline') or 'flag'})")
    if job.get("schedule"):
        click.echo(f"{'schedule':>9}: {job['schedule']} (fire time {job.get('fire_time', '')})")
