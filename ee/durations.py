"""Durations as operators type them: ``90``, ``30s``, ``5m``, ``1h``, ``2d``; and moments, as a
duration ago or an ISO-8601 time."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from shared.durations import parse_duration

__all__ = ["parse_duration", "parse_moment"]


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
