"""Cron in a time zone across DST changes (shared.cron, cronsim), and the refusals of bad
schedules: one line and exit 2, before anything is sent."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.cron import check_cron, fire_times
from tests.flow.helpers import QUICK, Ee
from tests.support.stack import Stack

BERLIN = ZoneInfo("Europe/Berlin")


def _local(expr: str, after: datetime, n: int) -> list[str]:
    return [datetime.fromtimestamp(t, UTC).astimezone(BERLIN).isoformat()
            for t in itertools.islice(fire_times(expr, "Europe/Berlin", after.timestamp()), n)]


def test_a_daily_time_in_the_spring_forward_gap_fires_once_right_after_the_gap() -> None:
    # 2026-03-29: clocks go from 02:00 to 03:00 in Berlin; 02:30 does not exist that day.
    fires = _local("30 2 * * *", datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN), 3)
    assert fires == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]


def test_an_hourly_schedule_fires_in_both_repeated_hours_of_the_fall_back_day() -> None:
    # 2026-10-25: clocks go from 03:00 back to 02:00; the hour 02:00-03:00 happens twice.
    fires = _local("0 * * * *", datetime(2026, 10, 25, 0, 30, tzinfo=BERLIN), 4)
    assert fires == ["2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00",
                     "2026-10-25T03:00:00+01:00"]
    gaps = {b - a for a, b in itertools.pairwise(
        itertools.islice(fire_times("0 * * * *", "Europe/Berlin", datetime(2026, 10, 25, 0, 30, tzinfo=BERLIN)
                                    .timestamp()), 4))}
    assert gaps == {3600.0}  # an hour apart each time, in real time


def test_a_daily_time_in_the_repeated_hour_fires_once() -> None:
    fires = _local("30 2 * * *", datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN), 2)
    assert fires == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


@pytest.mark.parametrize(("expr", "tz", "says"), [
    ("61 * * * *", "UTC", "bad cron expression '61 * * * *': Bad minute"),
    ("* * * *", "UTC", "Wrong number of fields"),
    ("0 0 30 2 *", "UTC", "Bad day-of-month"),
    ("* * * * *", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("* * * * *", "../../etc/passwd", "unknown time zone"),
])
def test_bad_cron_and_zones_are_refused(expr: str, tz: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_cron(expr, tz)
    assert says in str(caught.value)


@pytest.mark.parametrize(("args", "says"), [
    (["--cron", "61 * * * *"], "bad cron expression"),
    (["--cron", "* * * * *", "--tz", "Nowhere/City"], "unknown time zone"),
    (["--cron", "* * * * *", "--catchup", "-5m"], "bad duration"),
    (["--cron", "* * * * *", "--catchup", "soon"], "bad duration"),
    (["--cron", "* * * * *", "--input", "[1]"], "--input must be a JSON object"),
])
def test_ee_schedule_add_refuses_bad_input_in_one_line(stack: Stack, args: list[str], says: str, ee: Ee) -> None:
    flow = stack.workdir / "quick.json"
    flow.write_text(json.dumps(QUICK))
    done = ee(stack, "schedule", "add", "nightly", "--workflow", str(flow), *args, code=2)
    assert says in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_ee_schedule_add_refuses_a_bad_name_and_workflow(stack: Stack, ee: Ee) -> None:
    done = ee(stack, "schedule", "add", "a b", "--cron", "* * * * *", "--workflow", "w", code=2)
    assert done.stderr.count("\n") == 1
    done = ee(stack, "schedule", "add", "ok", "--cron", "* * * * *", "--workflow", "w@x", code=2)
    assert "positive whole number" in done.stderr
