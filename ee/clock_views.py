"""What ``ee`` reads of the clock: the jobs flagged overdue (``ee jobs --overdue``)."""

from __future__ import annotations

from typing import Any

from ee.inspect import Inspector

__all__ = ["overdue_jobs"]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def overdue_jobs(inspector: Inspector, limit: int) -> list[dict[str, Any]]:
    """Jobs flagged overdue, most recently flagged first (a job purged meanwhile is left out)."""
    rows = []
    for member in inspector.r.zrevrange(inspector.keys.overdue, 0, limit - 1):
        job = inspector.job(_text(member), history=False)
        if job is not None:
            job.pop("events", None)
            rows.append(job)
    return rows
