"""The workflow interpreter: advance a job from its checkpoint until every cursor must wait,
or the job ends.

Pure and synchronous: it takes the workflow, the checkpoint, the job input and the fired
events to apply, and returns what the executor must ask the reactor to record, a
:class:`Park` or a :class:`Finish`.

A job has a top-level cursor and, while it is at a ``parallel`` or ``map``, one cursor per
running branch (``executor.cursors``). Each cursor runs until it parks on a wait, forks,
ends or fails; the branches of a fork report to it when they end (a map then starts its next
item at once), and it goes on once they all have. Every new wait of every cursor goes into
one park; their event ids follow from the park's fence and their place in its list, so the
checkpoint records which cursor waits on which.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from executor.cursors import TOP, Cursor, from_checkpoint, to_checkpoint
from executor.expressions import search
from executor.failures import Failure, caught_value, result_failure, route_for
from shared import clock
from shared.bounds import bounded_text
from shared.messages import (
    ActivityWait,
    BotLockWait,
    Checkpoint,
    ChildWait,
    EventResult,
    FinalStatus,
    FiredEvent,
    Fork,
    HistoryEntry,
    SignalWait,
    TimerWait,
    Wait,
)
from shared.names import child_job_id, event_id_for
from shared.workflow import (
    MAX_MAP_ITEMS,
    ActivityNode,
    BranchNode,
    CallNode,
    EndNode,
    FailNode,
    LockBotNode,
    MapNode,
    Node,
    ParallelNode,
    RetryPolicy,
    SetNode,
    SleepNode,
    UnlockBotNode,
    WaitSignalNode,
    Workflow,
    json_type,
    kind_of,
)

__all__ = ["MAX_STEPS", "Finish", "Park", "advance", "top_level_checkpoint"]

# Nodes one cursor (the top level, or one branch) may run: bounds a loop without waits.
MAX_STEPS = 10_000
NO_RETRY = RetryPolicy()
# The node kinds that park, and so the only ones a cursor resumes at with a result.
_WAITING = (ActivityNode, WaitSignalNode, SleepNode, LockBotNode, CallNode)


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


Task = tuple[Literal["enter", "resume", "join"], str, EventResult | None]


class _Run:
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
                    self.resume(c, result)
                elif task == "join":
                    self.join(c)
                else:
                    self.walk(c)
            except Failure as failure:
                self.failed(c, failure)
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

    def step(self, c: Cursor) -> None:
        c.steps += 1
        if c.steps > MAX_STEPS:
            what = "job" if c.parent is None else f"branch {c.key!r}"
            raise Failure(c.path(), f"{what} exceeded {MAX_STEPS} steps (a loop without waits?)", fatal=True)

    def resume(self, c: Cursor, result: EventResult) -> None:
        """Apply the result of the wait the cursor parked on, then run on."""
        path = c.path()
        self.entry(path, "resumed")
        self.step(c)
        node = self.nodes(c).get(c.node)
        if node is None:
            raise Failure(path, f"the job is at node {path!r}, which its workflow does not have", fatal=True)
        if not isinstance(node, _WAITING):
            # Only a node that parked is resumed with a result: applying it to any other would
            # hand it to the next wait of the job, which never asked for it.
            raise Failure(path, f"node {path!r} ({kind_of(node)}) does not wait, but the job was resumed there "
                          "with a result", fatal=True)
        value: Any = result.output
        match node:
            case ActivityNode():
                what = f"activity {node.activity!r} failed"
            case WaitSignalNode():
                what = f"signal {node.signal!r}"
            case SleepNode():
                what, value = "sleep", None
            case CallNode():
                what = f"call {node.workflow!r}"
            case LockBotNode():
                what = f"lock_bot {node.pool!r}"
        if not result.ok:
            raise result_failure(path, what, result)
        if isinstance(node, LockBotNode):
            granted = result.output if isinstance(result.output, dict) else {}
            if not isinstance(granted.get("bot"), str) or not granted["bot"]:
                raise Failure(path, f"node {path!r}: lock_bot {node.pool!r} was granted no bot "
                              f"(got {bounded_text(repr(result.output), 120)})", fatal=True)
            c.bot = granted["bot"]
            value = granted
        output = getattr(node, "output", None)
        if output:
            self.assign(c, output, value)
        c.node = node.next or ""
        self.walk(c)

    def walk(self, c: Cursor) -> None:
        """Run the cursor from its node until it parks, forks, ends or fails."""
        while True:
            self.step(c)
            path = c.path()
            node = self.nodes(c).get(c.node)
            if node is None:
                raise Failure(path, f"the job is at node {path!r}, which its workflow does not have", fatal=True)
            self.entry(path, "entered")
            match node:
                case ActivityNode():
                    scope = self.scope(c)
                    args = {k: search(path, v, scope) for k, v in node.input.items()}
                    retry = node.retry or NO_RETRY
                    bot = self.bot(c) if node.on_bot else None
                    if node.on_bot and bot is None:
                        raise Failure(path, f"node {path!r} runs on_bot but the job holds no bot")
                    c.wait = ActivityWait(
                        node=path, branch=c.key, activity=node.activity, input=args, timeout_s=node.timeout_s,
                        bot=bot, max_attempts=retry.max_attempts, backoff_s=retry.backoff_s,
                        multiplier=retry.multiplier, max_backoff_s=retry.max_backoff_s)
                    return
                case BranchNode():
                    target = node.default
                    for case in node.cases:
                        if search(path, case.when, self.scope(c)):
                            target = case.next
                            break
                    c.node = target
                case WaitSignalNode():
                    c.wait = SignalWait(node=path, branch=c.key, signal=node.signal, timeout_s=node.timeout_s)
                    return
                case SleepNode():
                    if node.seconds > 0:
                        c.wait = TimerWait(node=path, branch=c.key, seconds=node.seconds)
                        return
                    c.node = node.next or ""
                case LockBotNode():
                    c.wait = BotLockWait(node=path, branch=c.key, pool=node.pool, timeout_s=node.timeout_s)
                    return
                case UnlockBotNode():
                    if c.bot is not None:
                        self.release.append(c.bot)
                        c.bot = None
                    c.node = node.next or ""
                case SetNode():
                    scope = self.scope(c)
                    values = {k: search(path, v, scope) for k, v in node.vars.items()}
                    for name, value in values.items():
                        self.assign(c, name, value)
                    c.node = node.next or ""
                case CallNode():
                    scope = self.scope(c)
                    args = {k: search(path, v, scope) for k, v in node.input.items()}
                    # Resolved to a deployed workflow (digest, version, start) by the driver.
                    c.wait = ChildWait(node=path, branch=c.key, job_id=child_job_id(self.job_id, path), digest="",
                                       name=node.workflow, version=node.version or 0, start="", input=args)
                    return
                case ParallelNode():
                    count = len(node.branches)
                    c.fork = Fork(kind="parallel", total=count, next=count, running=count)
                    for name, sub in node.branches.items():
                        key = c.child_key(name, is_map=False)
                        self.cursors[key] = Cursor(key, c.key, name, sub.start, {})
                        self.queue.append(("enter", key, None))
                    return
                case MapNode():
                    total = len(self.items(c))
                    if total:
                        c.fork = Fork(kind="map", total=total)
                        self.start_items(c, node)
                        return
                    if node.output:
                        self.assign(c, node.output, [])
                    c.node = node.next or ""
                case EndNode():
                    output = search(path, node.output, self.scope(c)) if node.output else None
                    self.ended(c, output)
                    return
                case FailNode():
                    raise Failure(path, node.error)

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
        fork = parent.fork
        assert fork is not None
        fork.outputs[c.slot] = output
        fork.running -= 1
        fork.done += 1
        self.branch_over(parent)

    def branch_over(self, parent: Cursor) -> None:
        """A branch of ``parent``'s fork ended (or failed, tolerated): start the next item of a
        map; join once none is left."""
        fork = parent.fork
        assert fork is not None
        node = self.nodes(parent)[parent.node]
        if isinstance(node, MapNode):
            self.start_items(parent, node)
        if fork.running == 0 and fork.next >= fork.total:
            self.queue.append(("join", parent.key, None))

    def join(self, c: Cursor) -> None:
        """Every branch of the fork ``c`` is at has ended: its output, then on."""
        fork = c.fork
        node = self.nodes(c)[c.node]
        assert fork is not None and isinstance(node, ParallelNode | MapNode)
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
        self.walk(c)

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
        fork = parent.fork
        assert fork is not None
        fork.running -= 1
        fork_node = self.nodes(parent)[parent.node]
        if not failure.fatal and isinstance(fork_node, MapNode) and fork.failed < fork_node.tolerated_failures:
            fork.failed += 1
            fork.outputs[c.slot] = {"error": failure.error, "type": failure.cls}
            self.branch_over(parent)
            return
        self.drop_beneath(parent, f"dropped: {failure.message}")
        self.failed(parent, failure)


def advance(workflow: Workflow, checkpoint: Checkpoint, job_input: dict[str, Any],
            fired: Sequence[FiredEvent] = (), build: str = "", *, job_id: str = "", fence: int = 0) -> Park | Finish:
    """Apply ``fired`` (the job's fired events) to the cursors waiting on them and run every
    cursor on; with none, start the job at ``checkpoint.node``. ``fence``: the fence the job was
    read at (its waits get the event ids of the next one). Every fired event is consumed,
    also one whose branch is gone."""
    return _Run(workflow, checkpoint, job_input, build, job_id, fence).run(fired)
