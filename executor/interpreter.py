"""The workflow interpreter: advance a job from its checkpoint until every cursor must wait,
or the job ends.

Pure and synchronous: it takes the workflow, the checkpoint, the job input and the fired
events to apply, and returns what the executor must ask the reactor to record, a
:class:`Park` or a :class:`Finish`.

A job has a top-level cursor and, while it is at a ``parallel`` or ``map``, one cursor per
running branch (``executor.cursors``). Each cursor runs until it parks on a wait, forks,
ends or fails (``executor.steps``); the branches of a fork report to it when they end (a map
then starts its next item at once), and it goes on once they all have (``executor.run``).
Every new wait of every cursor goes into one park; their event ids follow from the park's
fence and their place in its list, so the checkpoint records which cursor waits on which.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from executor.outcome import Finish, Park, top_level_checkpoint
from executor.run import Run
from executor.steps import MAX_STEPS
from shared.messages import Checkpoint, FiredEvent
from shared.workflow import Workflow

__all__ = ["MAX_STEPS", "Finish", "Park", "advance", "top_level_checkpoint"]


def advance(workflow: Workflow, checkpoint: Checkpoint, job_input: dict[str, Any],
            fired: Sequence[FiredEvent] = (), build: str = "", *, job_id: str = "", fence: int = 0) -> Park | Finish:
    """Apply ``fired`` (the job's fired events) to the cursors waiting on them and run every
    cursor on; with none, start the job at ``checkpoint.node``. ``fence``: the fence the job was
    read at (its waits get the event ids of the next one). Every fired event is consumed,
    also one whose branch is gone."""
    return Run(workflow, checkpoint, job_input, build, job_id, fence).run(fired)
