"""A pure stand-in for the reactor's side of a job, for interpreter tests: it keeps the job's
open waits by event id, fires the ones a test names, and applies parks as the reactor would
(consumed and dropped waits closed, new ones opened under the next fence, bots released)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from executor.interpreter import Finish, Park, advance
from shared.messages import Checkpoint, EventResult, FiredEvent, HistoryEntry, Wait, encode
from shared.names import event_id_for
from shared.workflow import Workflow, decode_workflow

__all__ = ["Sim", "failed", "flow", "ok"]

JOB = "job-1"


def ok(output: Any = None) -> EventResult:
    return EventResult(ok=True, output=output)


def failed(error: str, error_type: str | None = None, code: str | None = None) -> EventResult:
    return EventResult(ok=False, error=error, error_type=error_type, error_code=code)


def flow(nodes: dict[str, Any], start: str = "a") -> Workflow:
    return decode_workflow({"name": "t", "start": start, "nodes": nodes})


@dataclass
class Sim:
    workflow: Workflow
    input: dict[str, Any] = field(default_factory=dict)
    fence: int = 1
    checkpoint: Checkpoint | None = None
    open: dict[str, Wait] = field(default_factory=dict)  # event id -> wait
    released: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    finish: Finish | None = None
    sizes: list[int] = field(default_factory=list)  # encoded checkpoint sizes, park by park
    most_open: int = 0

    def start(self) -> Sim:
        self.checkpoint = Checkpoint(node=self.workflow.start)
        return self._apply(advance(self.workflow, self.checkpoint, self.input, (), "b", job_id=JOB,
                                   fence=self.fence))

    def waiting(self) -> list[str]:
        """The shown paths of the open waits, in park order."""
        return [w.node for w in self.open.values()]

    def event(self, path: str) -> str:
        return next(e for e, w in self.open.items() if w.node == path)

    def wait(self, path: str) -> Wait:
        return self.open[self.event(path)]

    def fire(self, results: dict[str, EventResult], extra: list[FiredEvent] | None = None) -> Sim:
        """Fire the open waits at these paths together (one wake), and apply the outcome."""
        assert self.checkpoint is not None and self.finish is None
        fired = [FiredEvent(event_id=self.event(p), branch=self.wait(p).branch, node=p, result=r)
                 for p, r in results.items()] + (extra or [])
        return self._apply(advance(self.workflow, self.checkpoint, self.input, fired, "b", job_id=JOB,
                                   fence=self.fence))

    def _apply(self, step: Park | Finish) -> Sim:
        self.history += step.history
        for event in step.consumed:
            self.open.pop(event, None)
        if isinstance(step, Finish):
            self.finish = step
            return self
        assert not set(step.drop) & set(step.consumed)
        for event in step.drop:
            assert event in self.open, f"dropped {event}, which is not open"
            del self.open[event]
        self.dropped += step.drop
        self.released += step.release_bots
        self.fence += 1
        for i, wait in enumerate(step.waits):
            self.open[event_id_for(JOB, self.fence, i)] = wait
        self.checkpoint = step.checkpoint
        recorded = set(step.checkpoint.events) | {e for b in step.checkpoint.branches.values() for e in b.events}
        assert recorded == set(self.open), (recorded, set(self.open))
        self.sizes.append(len(encode(step.checkpoint)))
        self.most_open = max(self.most_open, len(self.open))
        return self

    @property
    def output(self) -> Any:
        assert self.finish is not None and self.finish.status == "completed", self.finish
        return self.finish.output

    def events_of(self, path: str) -> list[str]:
        return [h.event for h in self.history if h.node == path]
