"""Cron expressions in a time zone, for schedules (``ee schedule``, reactor.schedules).

cronsim (the cron evaluator of healthchecks.io) reads them: a small, typed, maintained
library that works on aware ``datetime``\\ s in a ``zoneinfo`` zone and follows Debian cron
across DST changes (docs/operations.md, "Schedules"): a fixed time that does not exist on the
spring-forward day (02:30 in Europe/Berlin) fires at the first moment after the gap (03:00), one
that happens twice on the fall-back day fires once, at its first occurrence; an expression with
a wildcard hour (hourly) fires in both repeated hours, since an hour passed between them.
Five fields (minute hour day month weekday), no seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = ["check_cron", "fire_times", "zone"]

MAX_CRON_CHARS = 200


def zone(name: str) -> ZoneInfo:
    """The zone ``name`` (IANA: ``Europe/Berlin``, ``UTC``); ValueError naming it otherwise."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name or "\x00" in name:
        raise ValueError(f"unknown time zone {name[:64]!r}: use an IANA name such as Europe/Berlin or UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC") from None


def check_cron(expr: str, tz: str) -> None:
    """Refuse an expression cronsim cannot read, or a zone that does not exist, with one line."""
    where = zone(tz)
    if len(expr) > MAX_CRON_CHARS or not expr.strip():
        raise ValueError(f"bad cron expression {expr[:40]!r}: five fields (minute hour day month weekday)")
    try:
        next(CronSim(expr, datetime.now(where)))
    except (CronSimError, StopIteration, ValueError, LookupError, TypeError, OverflowError) as exc:
        raise ValueError(f"bad cron expression {expr!r}: {exc or 'never fires'} (five fields: minute hour "
                         "day month weekday)") from None


def fire_times(expr: str, tz: str, after: float) -> Iterator[float]:
    """The fire times of ``expr`` in zone ``tz`` strictly after ``after`` (Unix seconds), in order."""
    start = datetime.fromtimestamp(after, UTC).astimezone(zone(tz))
    for moment in CronSim(expr, start):
        yield moment.timestamp()
