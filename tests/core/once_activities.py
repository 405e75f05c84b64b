"""A test activity for ``ee retry``: ``test.once`` fails the first time it runs for a marker
file and succeeds every time after (``python -m worker --activities tests.core.once_activities``).

Its state is the marker file, so a retried job (a new event, attempt 1 again) finds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.sdk import Worker

__all__ = ["register"]


class FirstRunFails(Exception):
    pass


def once(data: dict[str, Any]) -> Any:
    marker = Path(str(data["marker"]))
    if not marker.exists():
        marker.write_text("ran")
        raise FirstRunFails(f"the first run for {marker.name} fails")
    return {"ran": "again"}


def register(worker: Worker) -> None:
    worker.register("test.once", once)
