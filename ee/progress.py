"""Progress of a job's forks (``parallel`` and ``map`` nodes in flight), read from its checkpoint.

``ee status`` shows one row per fork: how many of its branches are done, failed, running and
waiting to start (a map runs at most ``max_concurrency`` bodies; the rest wait), out of N.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.messages import Checkpoint

__all__ = ["fork_progress"]


def fork_progress(checkpoint: Any) -> list[dict[str, Any]]:
    """One row per fork in flight, outermost first; [] for a job at no fork (or an unreadable
    checkpoint: ``ee status`` shows the rest of the job all the same)."""
    if not isinstance(checkpoint, dict):
        return []
    try:
        at = msgspec.convert(checkpoint, Checkpoint)
    except msgspec.ValidationError:
        return []
    rows = []
    for node, fork in at.forks():
        waiting = max(0, fork.total - fork.next) if fork.kind == "map" else 0
        rows.append({"node": node, "kind": fork.kind, "done": fork.done, "failed": fork.failed,
                     "running": fork.running, "waiting": waiting, "of": fork.total})
    return rows
