"""Tables and JSON for the command line (rich for tables).

Tables are for people: a time stored as Unix seconds is shown as ISO-8601 UTC and a
duration in seconds as text (``1h02m``), by the column's name. JSON is for scripts: it
prints the values as they are read, numbers as numbers (docs/operations.md).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["duration_text", "print_json", "print_table", "time_text"]

# Columns holding a time (Unix seconds or ISO text) and a duration in seconds, and the header
# each duration column shows.
_TIMES = frozenset({"at", "created", "updated", "accepted", "finished", "parked_at", "fired_at", "deadline",
                    "lease_until", "held_since", "last_seen", "since"})
_DURATIONS = {"age_s": "age", "timeout_s": "timeout", "backoff_s": "backoff", "lease_s": "lease",
              "waited_s": "waited"}

# Off a terminal (a pipe, a log) rich would cut tables at 80 columns: give them room instead.
_console = Console(width=None if sys.stdout.isatty() else 200)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=None, default=str))


def time_text(value: Any) -> str:
    """A time as ISO-8601 UTC to the millisecond: Unix seconds converted, ISO text as it is."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration_text(value: Any) -> str:
    """Seconds as text: ``850ms``, ``4.2s``, ``3m05s``, ``2h10m``, ``3d4h``."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 1:
        return f"{sign}{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{sign}{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{sign}{days}d{hours}h"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    return f"{sign}{minutes}m{secs:02d}s"


def _cell(value: Any, column: str = "") -> str:
    if value is None or value == "":
        return ""
    if column in _TIMES:
        return time_text(value)
    if column in _DURATIONS:
        return duration_text(value)
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(_DURATIONS.get(column, column))
    for row in rows:
        table.add_row(*(_cell(row.get(c), c) for c in columns))
    _console.print(table)
