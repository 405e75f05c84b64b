"""Running one cursor through the nodes of its (sub-)workflow: until it parks on a wait,
forks, ends or fails; and applying the result of the wait it parked on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from executor.cursors import Cursor
from executor.expressions import search
from executor.failures import Failure, result_failure
from executor.limit_keys import limit_of
from shared.bounds import bounded_text
from shared.messages import ActivityWait, BotLockWait, ChildWait, EventResult, Fork, SignalWait, TaskWait, TimerWait
from shared.names import child_job_id
from shared.workflow import (
    ActivityNode,
    BranchNode,
    CallNode,
    EndNode,
    FailNode,
    HumanTaskNode,
    LockBotNode,
    MapNode,
    ParallelNode,
    RetryPolicy,
    SetNode,
    SleepNode,
    UnlockBotNode,
    WaitSignalNode,
    kind_of,
)

if TYPE_CHECKING:
    from executor.run import Run

__all__ = ["MAX_STEPS", "resume", "step", "walk"]

# Nodes one cursor (the top level, or one branch) may run: bounds a loop without waits.
MAX_STEPS = 10_000
NO_RETRY = RetryPolicy()
# The node kinds that park, and so the only ones a cursor resumes at with a result.
_WAITING = (ActivityNode, WaitSignalNode, SleepNode, LockBotNode, CallNode, HumanTaskNode)


def step(run: Run, c: Cursor) -> None:
    c.steps += 1
    if c.steps > MAX_STEPS:
        what = "job" if c.parent is None else f"branch {c.key!r}"
        raise Failure(c.path(), f"{what} exceeded {MAX_STEPS} steps (a loop without waits?)", fatal=True)


def resume(run: Run, c: Cursor, result: EventResult) -> None:
    """Apply the result of the wait the cursor parked on, then run on."""
    path = c.path()
    run.entry(path, "resumed")
    step(run, c)
    node = run.nodes(c).get(c.node)
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
        case HumanTaskNode():
            what = f"human task {node.title!r}"
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
        run.assign(c, output, value)
    c.node = node.next or ""
    walk(run, c)


def walk(run: Run, c: Cursor) -> None:
    """Run the cursor from its node until it parks, forks, ends or fails."""
    while True:
        step(run, c)
        path = c.path()
        node = run.nodes(c).get(c.node)
        if node is None:
            raise Failure(path, f"the job is at node {path!r}, which its workflow does not have", fatal=True)
        run.entry(path, "entered")
        match node:
            case ActivityNode():
                scope = run.scope(c)
                args = {k: search(path, v, scope) for k, v in node.input.items()}
                retry = node.retry or NO_RETRY
                bot = run.bot(c) if node.on_bot else None
                if node.on_bot and bot is None:
                    raise Failure(path, f"node {path!r} runs on_bot but the job holds no bot")
                limit, limit_key = limit_of(path, node, scope)
                c.wait = ActivityWait(
                    node=path, branch=c.key, activity=node.activity, input=args, timeout_s=node.timeout_s,
                    bot=bot, max_attempts=retry.max_attempts, backoff_s=retry.backoff_s,
                    multiplier=retry.multiplier, max_backoff_s=retry.max_backoff_s, limit=limit,
                    limit_key=limit_key)
                return
            case BranchNode():
                target = node.default
                for case in node.cases:
                    if search(path, case.when, run.scope(c)):
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
                    run.release.append(c.bot)
                    c.bot = None
                c.node = node.next or ""
            case SetNode():
                scope = run.scope(c)
                values = {k: search(path, v, scope) for k, v in node.vars.items()}
                for name, value in values.items():
                    run.assign(c, name, value)
                c.node = node.next or ""
            case CallNode():
                scope = run.scope(c)
                args = {k: search(path, v, scope) for k, v in node.input.items()}
                # Resolved to a deployed workflow (digest, version, start) by the driver.
                c.wait = ChildWait(node=path, branch=c.key, job_id=child_job_id(run.job_id, path), digest="",
                                   name=node.workflow, version=node.version or 0, start="", input=args)
                return
            case ParallelNode():
                count = len(node.branches)
                c.fork = Fork(kind="parallel", total=count, next=count, running=count)
                for name, sub in node.branches.items():
                    key = c.child_key(name, is_map=False)
                    run.cursors[key] = Cursor(key, c.key, name, sub.start, {})
                    run.queue.append(("enter", key, None))
                return
            case MapNode():
                total = len(run.items(c))
                if total:
                    c.fork = Fork(kind="map", total=total)
                    run.start_items(c, node)
                    return
                if node.output:
                    run.assign(c, node.output, [])
                c.node = node.next or ""
            case EndNode():
                output = search(path, node.output, run.scope(c)) if node.output else None
                run.ended(c, output)
                return
            case FailNode():
                raise Failure(path, node.error)
            case HumanTaskNode():
                c.wait = _task_wait(node, path, c.key, run.scope(c))
                return


def _task_wait(node: HumanTaskNode, path: str, branch: str, scope: dict[str, Any]) -> TaskWait:
    """At its due time a task is escalated when it has somebody to escalate to, else failed as
    a timeout when a catch takes exactly ``timeout`` (a catch-all does not make every task
    fail at due), else only marked overdue."""
    details = search(path, node.details, scope) if node.details else None
    on_due: Literal["escalate", "fail", "overdue"]
    if node.escalate_to:
        on_due = "escalate"
    elif any(route.error == "timeout" for route in node.catch):
        on_due = "fail"
    else:
        on_due = "overdue"
    return TaskWait(node=path, branch=branch, title=node.title, assignee=node.assignee, form=node.form,
                    details=details, due_s=node.due_s, escalate_to=node.escalate_to or "", on_due=on_due)
