"""What one advance of a job comes to: a :class:`Park` (every new wait of every branch) or a
:class:`Finish`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.messages import Checkpoint, FinalStatus, HistoryEntry, Wait

__all__ = ["Finish", "Park", "top_level_checkpoint"]


@dataclass(slots=True)
class Park:
    checkpoint: Checkpoint
    waits: list[Wait]
    history: list[HistoryEntry]
    release_bots: list[str] = field(default_factory=list)
    # Waits of dropped branches (a sibling failed their fork), parked or fired, not consumed here.
    drop: list[str] = field(default_factory=list)
    consumed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Finish:
    status: FinalStatus
    output: Any
    error: str | None
    history: list[HistoryEntry]
    # A failed job: the checkpoint at the top-level node that failed (``ee retry`` resumes there).
    checkpoint: Checkpoint | None = None
    consumed: list[str] = field(default_factory=list)


def top_level_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """The checkpoint at the top-level node the job is at, its branches left out: where a job
    that fails there resumes from on ``ee retry`` (a fork runs again in full)."""
    return Checkpoint(node=checkpoint.node, vars=dict(checkpoint.vars), bot=checkpoint.bot, steps=checkpoint.steps)
