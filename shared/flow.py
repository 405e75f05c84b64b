"""Flow control's bounds and parsers, shared by ``ee`` and the reactor: a job's priority, a
limit's name, concurrency and rate (``N/PERIOD``)."""

from __future__ import annotations

import re

from shared.errors import InvalidMessage

__all__ = ["PERIODS", "PRIORITY_DEFAULT", "PRIORITY_MAX", "PRIORITY_MIN", "check_concurrency", "check_priority",
           "check_rate", "parse_rate"]

PRIORITY_MIN = 1  # the most urgent
PRIORITY_MAX = 9
PRIORITY_DEFAULT = 5
# A rate's period: a unit, or a number of seconds with an optional unit (10s, 5m).
PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
           "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_RATE = re.compile(r"^\s*(-?\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]*)\s*$")


def check_priority(subject: str, priority: object) -> int:
    if type(priority) is not int or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidMessage(subject, f"priority must be an integer from {PRIORITY_MIN} (most urgent) to "
                                      f"{PRIORITY_MAX}, not {priority!r}")
    return priority


def check_concurrency(subject: str, concurrency: object) -> int:
    if type(concurrency) is not int or concurrency < 1 or concurrency > 1_000_000:
        raise InvalidMessage(subject, f"concurrency must be a whole number from 1 to 1000000, not {concurrency!r}")
    return concurrency


def check_rate(subject: str, rate: object, period_s: object) -> tuple[int, float]:
    if type(rate) is not int or rate < 1 or rate > 1_000_000:
        raise InvalidMessage(subject, f"rate must be a whole number of starts from 1 to 1000000, not {rate!r}")
    if not isinstance(period_s, int | float) or isinstance(period_s, bool) or not 0.001 <= period_s <= 31 * 86400:
        raise InvalidMessage(subject, f"rate period must be from 1 ms to 31 days, not {period_s!r}")
    return rate, float(period_s)


def parse_rate(text: str) -> tuple[int, float]:
    """``N/PERIOD`` (``100/min``, ``5/s``, ``10/30s``) as (starts, period in seconds); ValueError
    with one line saying what is wrong."""
    m = _RATE.match(text.lower())
    if not m:
        raise ValueError(f"rate {text!r} is not N/PERIOD (e.g. 100/min, 5/s, 10/30s)")
    count, number, unit = int(m.group(1)), m.group(2), m.group(3) or "s"
    if count < 1:
        raise ValueError(f"rate {text!r}: the number of starts must be 1 or more")
    if unit not in PERIODS:
        raise ValueError(f"rate {text!r}: period unit {unit!r} not understood (s, m, h, d)")
    period = (float(number) if number else 1.0) * PERIODS[unit]
    if period <= 0:
        raise ValueError(f"rate {text!r}: the period must be longer than 0")
    return count, period
