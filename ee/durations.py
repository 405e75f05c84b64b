"""Durations as operators type them: ``90``, ``30s``, ``5m``, ``1h``, ``2d``; and moments, as a
duration ago or an ISO-8601 time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

__all__ = ["parse_duration", "parse_moment"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"bad duration {text!r}: use a number with s, m, h or d (e.g. 30s, 5m, 1h)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_moment(text: str, now: float | None = None) -> float:
    """A moment as Unix seconds: a duration ago (``30m``: half an hour before ``now``) or an
    ISO-8601 time (``2026-12-03T06:00:00Z``; without a zone, UTC)."""
    try:
        return (time.time() if now is None else now) - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: use a duration ago (30m, 2h, 1d) or an ISO-8601 time "
                         "(2026-12-03T06:00:00Z)") from None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()
