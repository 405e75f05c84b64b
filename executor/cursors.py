"""A job's cursors while the interpreter runs it: the top level and every running branch.

Read from the :class:`~shared.messages.Checkpoint` (copied: the checkpoint handed in is
never changed, the executor may be offered it again) and written back into one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.messages import BranchCursor, Checkpoint, Fork, Wait

__all__ = ["TOP", "Cursor", "from_checkpoint", "to_checkpoint"]

TOP = ""  # the key of the top-level cursor


@dataclass(slots=True)
class Cursor:
    key: str
    parent: str | None  # None: the top level
    slot: str  # branch name or item index
    node: str
    vars: dict[str, Any]  # the top level's variables; a branch's own assignments
    bot: str | None = None
    steps: int = 0
    events: list[str] = field(default_factory=list)
    fork: Fork | None = None
    # While it runs: its expression scope (built once), and the wait it parks on.
    scope: dict[str, Any] | None = None
    wait: Wait | None = None

    def path(self, node: str | None = None) -> str:
        """A node of this cursor as shown: ``run`` at the top level, ``each[3]/run`` in a branch."""
        name = self.node if node is None else node
        return name if self.key == TOP else f"{self.key}/{name}"

    def child_key(self, slot: str, is_map: bool) -> str:
        """The key of a branch of the fork this cursor is at: ``both.erp``, ``each[3]``,
        ``both.erp/each[3]`` (unique: branch names hold no ``.``, ``/`` or brackets)."""
        base = self.path()
        return f"{base}[{slot}]" if is_map else f"{base}.{slot}"


def _fork(fork: Fork | None) -> Fork | None:
    if fork is None:
        return None
    return Fork(kind=fork.kind, total=fork.total, next=fork.next, running=fork.running, done=fork.done,
                failed=fork.failed, outputs=dict(fork.outputs))


def from_checkpoint(checkpoint: Checkpoint) -> dict[str, Cursor]:
    """Every cursor by key, the top level first."""
    cursors = {TOP: Cursor(TOP, None, "", checkpoint.node, dict(checkpoint.vars), checkpoint.bot,
                           checkpoint.steps, list(checkpoint.events), _fork(checkpoint.fork))}
    for key, b in checkpoint.branches.items():
        cursors[key] = Cursor(key, b.parent, b.slot, b.node, dict(b.vars), b.bot, b.steps, list(b.events),
                              _fork(b.fork))
    return cursors


def to_checkpoint(cursors: dict[str, Cursor]) -> Checkpoint:
    top = cursors[TOP]
    branches = {key: BranchCursor(parent=c.parent or TOP, slot=c.slot, node=c.node, vars=c.vars, bot=c.bot,
                                  steps=c.steps, events=c.events, fork=c.fork)
                for key, c in cursors.items() if c.parent is not None}
    return Checkpoint(node=top.node, vars=top.vars, bot=top.bot, steps=top.steps, events=top.events,
                      fork=top.fork, branches=branches)
