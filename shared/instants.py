"""Moments as the clock features take them: Unix seconds or ISO-8601 text (``JobRequest.not_before``
and ``deadline``), and, on the command line, a duration from now (``--delay 5m``, ``--deadline 2h``).

A time without a zone is refused: "07:00" means a different moment in every zone, and a job
started at the wrong hour is worse than a refused submit.
"""

from __future__ import annotations

import math
from datetime import datetime

from shared.durations import parse_duration

__all__ = ["parse_instant", "parse_later"]

# Unix seconds beyond this are not a moment anybody means (year 2286), and ``datetime`` refuses
# them: refused as such, not as an overflow.
_LATEST = 1e10


def parse_instant(value: float | int | str) -> float:
    """Unix seconds from Unix seconds (a number, or its text) or ISO-8601 text with a zone
    (``2026-12-03T07:00:00Z``, ``...+01:00``); ValueError with a message naming the value."""
    if isinstance(value, bool):
        raise ValueError(f"bad time {value!r}: use Unix seconds or ISO-8601 with a zone")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"bad time {value!r}: use Unix seconds or ISO-8601 with a zone "
                                 "(2026-12-03T07:00:00Z)") from None
            if moment.tzinfo is None:
                raise ValueError(f"bad time {value!r}: give its zone (Z or +01:00): a time without one "
                                 "means a different moment in every zone") from None
            seconds = moment.timestamp()
    if not math.isfinite(seconds) or not 0 <= seconds <= _LATEST:
        raise ValueError(f"bad time {value!r}: Unix seconds from 0 to {_LATEST:.0f}")
    return seconds


def parse_later(text: str, now: float, what: str) -> float:
    """``--delay``/``--deadline``: a duration from ``now`` (``90``, ``30s``, ``5m``, ``2h``, ``1d``)
    or a moment (:func:`parse_instant`). A negative duration is refused."""
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ValueError(f"{what} {text!r}: a duration cannot be negative")
    try:
        return now + parse_duration(stripped)
    except ValueError:
        pass
    try:
        return parse_instant(stripped)
    except ValueError:
        raise ValueError(f"{what} {text!r}: use a duration (30s, 5m, 2h, 1d) or a time with its zone "
                         "(2026-12-03T07:00:00Z, or Unix seconds)") from None
