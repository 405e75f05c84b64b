"""The clock's options of ``Client.submit`` (ee.api): ``not_before``, ``delay`` and ``deadline``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from shared.instants import parse_instant

__all__ = ["submit_times"]

_KNOWN = ("not_before", "delay", "deadline")


def _moment(value: Any, what: str) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what}: give an aware datetime (with its zone)")
        return value.timestamp()
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return parse_instant(value)
    raise TypeError(f"{what} must be an aware datetime, Unix seconds or ISO-8601 text, not {type(value).__name__}")


def submit_times(options: dict[str, Any]) -> tuple[float | None, float | None]:
    """(not_before, deadline) as Unix seconds. ``not_before``: a moment; ``delay``: seconds from
    now; ``deadline``: a moment. TypeError for an option this build does not know."""
    unknown = sorted(set(options) - set(_KNOWN))
    if unknown:
        raise TypeError(f"submit() got options this build does not know: {', '.join(unknown)}")
    if "not_before" in options and "delay" in options:
        raise TypeError("submit() takes not_before or delay, not both")
    start = None
    if options.get("not_before") is not None:
        start = _moment(options["not_before"], "not_before")
    elif options.get("delay") is not None:
        delay = options["delay"]
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 1e9:
            raise ValueError(f"delay must be a number of seconds from 0, not {delay!r}")
        start = time.time() + float(delay)
    deadline = None if options.get("deadline") is None else _moment(options["deadline"], "deadline")
    return start, deadline
