"""One advance of a job: every cursor it resumes or starts, run in turn, and the forks they
report to (a branch's end, failure or drop), until all wait or the job ends."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

from executor import steps
from executor.cursors import TOP, Cursor, from_checkpoint, to_checkpoint
from executor.expressions import search
from executor.failures import Failure, caught_value, route_for
from executor.outcome import Finish, Park
from shared import clock
from shared.messages import Checkpoint, EventResult, FiredEvent, Fork, HistoryEntry, Wait
from shared.names import event_id_for
from shared.workflow import MAX_MAP_ITEMS, LockBotNode, MapNode, Node, ParallelNode, Workflow, json_type

__all__ = ["Run"]

Task = tuple[Literal["enter", "resume", "join"], str, EventResult | None]


class Run:
    """One advance of one job: its cursors, and what the advance records."""

    def __init__(self, workflow: Workflow, checkpoint: Checkpoint, job_input: dict[str, Any],
                 build: str, job_id: str, fence: int) -> None:
        self.workflow = workflow
        self.input = job_input
        self.build = build
        self.job_id = job_id
        self.fence = fence
        self.at = clock.iso()
        self.cursors = from_checkpoint(checkpoint)
        self.history: list[HistoryEntry] = []
        self.release: list[str] = []
        self.drop: list[str] = []
        self.queue: deque[Task] = deque()
        self.finish: Finish | None = None
        self._nodes: dict[str, dict[str, Node]] = {TOP: workflow.nodes}
        self._items: dict[str, list[Any]] = {}

    # ---- bookkeeping ------------------------------------------------------------------

    def entry(self, node: str, event: str, detail: str = "") -> None:
        self.history.append(HistoryEntry(at=self.at, node=node, event=event, build=self.build, detail=detail))

    def nodes(self, c: Cursor) -> dict[str, Node]:
        """The nodes of the (sub-)workflow a cursor runs in."""
        found = self._nodes.get(c.key)
        if found is None:
            parent = self.cursors[c.parent or TOP]
            fork = self.nodes(parent).get(parent.node)
            if isinstance(fork, ParallelNode) and c.slot in fork.branches:
                found = fork.branches[c.slot].nodes
            elif isinstance(fork, MapNode):
                found = fork.body.nodes
            else:
                raise Failure(c.path(), f"branch {c.key!r} belongs to no fork of its workflow", fatal=True)
            self._nodes[c.key] = found
        return found

    def scope(self, c: Cursor) -> dict[str, Any]:
        """``input`` and the variables the cursor sees (its own over those of the enclosing
        cursors, frozen while it runs), with ``item`` and ``index`` in a map's body."""
        if c.scope is None:
            if c.parent is None:
                c.scope = {"input": self.input, "vars": c.vars}
            else:
                parent = self.cursors[c.parent]
                outer = self.scope(parent)
                c.scope = {**outer, "vars": {**outer["vars"], **c.vars}}
                if isinstance(self.nodes(parent).get(parent.node), MapNode):
                    index = int(c.slot)
                    items = self.items(parent)
                    c.scope["item"] = items[index] if index < len(items) else None
                    c.scope["index"] = index
        return c.scope

    def assign(self, c: Cursor, name: str, value: Any) -> None:
        c.vars[name] = value
        if c.scope is not None:
            c.scope["vars"][name] = value

    def items(self, c: Cursor) -> list[Any]:
        """The items of the map a cursor is at: evaluated again at each advance rather than
        stored (its scope cannot change while it runs), so a checkpoint holds no copy."""
        found = self._items.get(c.key)
        if found is None:
            node = self.nodes(c)[c.node]
            assert isinstance(node, MapNode)
            path = c.path()
            value = search(path, node.items, self.scope(c))
            if not isinstance(value, list):
                raise Failure(path, f"node {path!r}: items {node.items!r} is {json_type(value)}, not a list")
            if len(value) > MAX_MAP_ITEMS:
                raise Failure(path, f"node {path!r}: {len(value)} items, over the limit of {MAX_MAP_ITEMS} "
                              "a map takes", fatal=True)
            found = self._items[c.key] = value
        return found

    def bot(self, c: Cursor) -> str | None:
        """The bot an on_bot activity of this cursor runs on: its own, else the enclosing one's."""
        cursor: Cursor | None = c
        while cursor is not None:
            if cursor.bot is not None:
                return cursor.bot
            cursor = self.cursors.get(cursor.parent) if cursor.parent is not None else None
        return None

    # ---- the run ------------------------------------------------------------------------

    def run(self, fired: Sequence[FiredEvent]) -> Park | Finish:
        consumed = [f.event_id for f in fired]
        waiting_on = {event: key for key, c in self.cursors.items() for event in c.events}
        top = self.cursors[TOP]
        # A checkpoint from before branches records no events: its one wait is the top level's.
        legacy = not top.events and top.fork is None and len(self.cursors) == 1
        resumed: set[str] = set()
        for event in fired:
            key = waiting_on.get(event.event_id)
            if key is None and legacy and not event.branch:
                key = TOP
            if key is None or key in resumed:
                continue  # its branch is gone (dropped when a sibling failed) or it was not awaited
            resumed.add(key)
            cursor = self.cursors[key]
            cursor.events = [e for e in cursor.events if e != event.event_id]
            self.queue.append(("resume", key, event.result or EventResult(ok=True)))
        if not fired and not top.events and top.fork is None and len(self.cursors) == 1:
            self.queue.append(("enter", TOP, None))
        while self.queue and self.finish is None:
            task, key, result = self.queue.popleft()
            c = self.cursors.get(key)
            if c is None:
                continue  # dropped meanwhile
            try:
                if task == "resume":
                    assert result is not None
                    steps.resume(self, c, result)
                elif task == "join":
                    self.join(c)
                else:
                    steps.walk(self, c)
            except Failure as failure:
                try:
                    self.failed(c, failure)
                except Failure as worse:  # a stored state that does not fit the workflow, found on the way up
                    self.entry(worse.node, "failed", worse.message)
                    top = self.cursors[TOP]
                    self.finish = Finish("failed", None, worse.message, self.history,
                                         Checkpoint(node=top.node, vars=top.vars, bot=top.bot, steps=top.steps))
        return self.outcome(consumed)

    def outcome(self, consumed: list[str]) -> Park | Finish:
        if self.finish is not None:
            self.finish.consumed = consumed
            return self.finish
        waits: list[Wait] = []
        for c in self.cursors.values():
            if c.wait is not None:
                c.events.append(event_id_for(self.job_id, self.fence + 1, len(waits)))
                waits.append(c.wait)
                self.entry(c.wait.node, "parked")
        done = set(consumed)
        return Park(to_checkpoint(self.cursors), waits, self.history, self.release,
                    [e for e in self.drop if e not in done], consumed)

    # ---- forks --------------------------------------------------------------------------

    def start_items(self, c: Cursor, node: MapNode) -> None:
        """Start bodies of the map ``c`` is at, up to its max_concurrency in flight."""
        fork = c.fork
        assert fork is not None
        while fork.running < node.max_concurrency and fork.next < fork.total:
            slot = str(fork.next)
            fork.next += 1
            fork.running += 1
            key = c.child_key(slot, is_map=True)
            self.cursors[key] = Cursor(key, c.key, slot, node.body.start, {})
            self.queue.append(("enter", key, None))

    def ended(self, c: Cursor, output: Any) -> None:
        self.entry(c.path(), "completed")
        if c.parent is None:
            self.finish = Finish("completed", output, None, self.history)
            return
        parent = self.remove(c)
        fork, _ = self.fork_of(parent)
        fork.outputs[c.slot] = output
        fork.running -= 1
        fork.done += 1
        self.branch_over(parent)

    def fork_of(self, parent: Cursor) -> tuple[Fork, ParallelNode | MapNode]:
        """The progress and the node of the fork a branch's parent is at."""
        node = self.nodes(parent).get(parent.node)
        if parent.fork is None or not isinstance(node, ParallelNode | MapNode):
            raise Failure(parent.path(), f"node {parent.path()!r} has branches, but no fork of it runs", fatal=True)
        return parent.fork, node

    def branch_over(self, parent: Cursor) -> None:
        """A branch of ``parent``'s fork ended (or failed, tolerated): start the next item of a
        map; join once none is left."""
        fork, node = self.fork_of(parent)
        if isinstance(node, MapNode):
            self.start_items(parent, node)
        if fork.running == 0 and fork.next >= fork.total:
            self.queue.append(("join", parent.key, None))

    def join(self, c: Cursor) -> None:
        """Every branch of the fork ``c`` is at has ended: its output, then on."""
        fork = c.fork
        node = self.nodes(c).get(c.node)
        if fork is None or not isinstance(node, ParallelNode | MapNode):
            raise Failure(c.path(), f"node {c.path()!r} was joined, but no fork of it runs", fatal=True)
        if isinstance(node, ParallelNode):
            value: Any = {name: fork.outputs.get(name) for name in node.branches}
        else:
            value = [fork.outputs.get(str(i)) for i in range(fork.total)]
        detail = f"{fork.done} of {fork.total} done" + (f", {fork.failed} failed (tolerated)" if fork.failed else "")
        self.entry(c.path(), "resumed", detail)
        c.fork = None
        self._items.pop(c.key, None)
        if node.output:
            self.assign(c, node.output, value)
        c.node = node.next or ""
        steps.walk(self, c)

    def remove(self, c: Cursor) -> Cursor:
        """Take an ended branch out, releasing the bot it locked; its parent."""
        parent = self.cursors[c.parent or TOP]
        self.take_out(c)
        return parent

    def take_out(self, c: Cursor) -> None:
        del self.cursors[c.key]
        self._nodes.pop(c.key, None)
        if c.bot is not None:
            self.release.append(c.bot)

    def drop_beneath(self, c: Cursor, reason: str) -> None:
        """Drop every branch under the fork ``c`` is at: their waits, their bots."""
        def under(cursor: Cursor) -> bool:
            while cursor.parent is not None:
                if cursor.parent == c.key:
                    return True
                cursor = self.cursors[cursor.parent]
            return False

        dropped = [d for d in self.cursors.values() if under(d)]
        # A bot granted to a branch by an event of this same wake, not applied yet: released too
        # (looked up before any is removed: finding a branch's nodes takes its parent).
        granted = {key: result for task, key, result in self.queue if task == "resume" and result is not None}
        for d in dropped:
            result = granted.get(d.key)
            if result is not None and result.ok and isinstance(self.nodes(d).get(d.node), LockBotNode):
                bot = result.output.get("bot") if isinstance(result.output, dict) else None
                if isinstance(bot, str) and bot:
                    self.release.append(bot)
        for d in dropped:
            self.drop.extend(d.events)
            self.entry(d.path(), "cancelled", reason)
            self.take_out(d)
        c.fork = None
        self._items.pop(c.key, None)

    def failed(self, c: Cursor, failure: Failure) -> None:
        """The cursor's node failed: a catch route of the node, else the branch fails its fork
        (unless a map tolerates it), else the job fails."""
        path = c.path()
        node = self.nodes(c).get(c.node) if not failure.fatal else None
        route = route_for(getattr(node, "catch", []), failure) if node is not None else None
        if route is not None:
            if c.fork is not None:
                self.drop_beneath(c, f"dropped: {failure.message}")
            self.entry(path, "caught", failure.message)
            if route.output:
                self.assign(c, route.output, caught_value(failure))
            c.node = route.next
            self.queue.append(("enter", c.key, None))
            return
        self.entry(path, "failed", failure.message)
        if c.parent is None:
            self.finish = Finish("failed", None, failure.message, self.history,
                                 Checkpoint(node=c.node, vars=c.vars, bot=c.bot, steps=c.steps))
            return
        parent = self.remove(c)
        fork, fork_node = self.fork_of(parent)
        fork.running -= 1
        if not failure.fatal and isinstance(fork_node, MapNode) and fork.failed < fork_node.tolerated_failures:
            fork.failed += 1
            fork.outputs[c.slot] = {"error": failure.error, "type": failure.cls}
            self.branch_over(parent)
            return
        self.drop_beneath(parent, f"dropped: {failure.message}")
        self.failed(parent, failure)
