"""Wall-clock helpers: aware UTC only."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["iso", "now"]


def now() -> float:
    return time.time()


def iso(ts: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds, as stored in Redis and shown to operators."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
