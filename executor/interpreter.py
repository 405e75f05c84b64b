"""The workflow interpreter: advance a job from its checkpoint until it must wait or ends.

Pure and synchronous: it takes the workflow, the checkpoint, the job input and
the result of the wait that just fired, and returns what the executor must ask
the reactor to record, a :class:`Park` or a :class:`Finish`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jmespath.exceptions

from shared import clock
from shared.bounds import bounded_text
from shared.messages import (
    ActivityWait,
    BotLockWait,
    Checkpoint,
    EventResult,
    FinalStatus,
    HistoryEntry,
    SignalWait,
    TimerWait,
    Wait,
)
from shared.workflow import (
    ActivityNode,
    BranchNode,
    EndNode,
    FailNode,
    LockBotNode,
    RetryPolicy,
    SleepNode,
    UnlockBotNode,
    WaitSignalNode,
    Workflow,
    compile_expression,
)

__all__ = ["MAX_STEPS", "Finish", "Park", "advance"]

MAX_STEPS = 10_000
NO_RETRY = RetryPolicy()
# The node kinds that park, and so the only ones a job resumes at with a result.
_WAITING = (ActivityNode, WaitSignalNode, SleepNode, LockBotNode)


@dataclass(slots=True)
class Park:
    checkpoint: Checkpoint
    waits: list[Wait]
    history: list[HistoryEntry]
    release_bots: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Finish:
    status: FinalStatus
    output: Any
    error: str | None
    history: list[HistoryEntry]


class _JobFailed(Exception):
    """The node failed; ``error_type`` is the class of a failed wait's error when its result
    names one (``operator``), what a catch route will match on."""

    def __init__(self, node: str, message: str, error_type: str | None = None) -> None:
        self.node = node
        self.error_type = error_type
        super().__init__(message)


def _wait_failed(node: str, what: str, result: EventResult) -> _JobFailed:
    """A wait that ended in an error fails its node, whatever kind of wait it was."""
    return _JobFailed(node, f"node {node!r}: {what}: {result.error}", result.error_type)


_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _field_path(fields: tuple[str, ...], scope: Any) -> Any:
    # JMESPath semantics of a plain sub-expression: a field of anything but an object is null.
    for name in fields:
        if not isinstance(scope, dict):
            return None
        scope = scope.get(name)
    return scope


@functools.lru_cache(maxsize=4096)
def _evaluator(expression: str) -> Callable[[Any], Any]:
    """The expression as a function of the scope.

    Most expressions are plain field paths (``input.amount``, ``vars.fetched.id``):
    those are walked directly, which costs a tenth of the jmespath interpreter's
    visitor and was an eighth of the executor's CPU under load. Everything else
    goes to jmespath.
    """
    if _FIELD_PATH.fullmatch(expression):
        return functools.partial(_field_path, tuple(expression.split(".")))
    return compile_expression(expression).search  # type: ignore[no-any-return]


def _search(node: str, expression: str, scope: dict[str, Any]) -> Any:
    try:
        return _evaluator(expression)(scope)
    except jmespath.exceptions.JMESPathError as exc:
        raise _JobFailed(node, f"node {node!r}: expression {expression!r} failed: {exc}") from exc


def advance(workflow: Workflow, checkpoint: Checkpoint, job_input: dict[str, Any],
            result: EventResult | None = None, build: str = "") -> Park | Finish:
    """Run nodes from ``checkpoint.node``; ``result`` is the outcome of the wait it parked on."""
    at = clock.iso()
    history: list[HistoryEntry] = []
    variables = dict(checkpoint.vars)
    bot = checkpoint.bot
    steps = checkpoint.steps
    release: list[str] = []
    name = checkpoint.node
    scope = {"input": job_input, "vars": variables}

    def entry(node: str, event: str, detail: str = "") -> None:
        history.append(HistoryEntry(at=at, node=node, event=event, build=build, detail=detail))

    def park(wait: Wait) -> Park:
        entry(name, "parked")
        return Park(Checkpoint(node=name, vars=variables, bot=bot, steps=steps), [wait], history, release)

    try:
        if result is not None:
            entry(name, "resumed")
        while True:
            steps += 1
            if steps > MAX_STEPS:
                raise _JobFailed(name, f"job exceeded {MAX_STEPS} steps (a loop without waits?)")
            node = workflow.nodes.get(name)
            if node is None:
                raise _JobFailed(name, f"the job is at node {name!r}, which its workflow does not have")
            if result is None:
                entry(name, "entered")
            elif not isinstance(node, _WAITING):
                # Only a node that parked is resumed with a result: applying it to any other would
                # hand it to the next wait of the job, which never asked for it.
                kind = node.__struct_config__.tag
                raise _JobFailed(name, f"node {name!r} ({kind}) does not wait, but the job was resumed there "
                                 "with a result")
            match node:
                case ActivityNode():
                    if result is None:
                        args = {k: _search(name, v, scope) for k, v in node.input.items()}
                        retry = node.retry or NO_RETRY
                        if node.on_bot and bot is None:
                            raise _JobFailed(name, f"node {name!r} runs on_bot but the job holds no bot")
                        return park(ActivityWait(
                            node=name, activity=node.activity, input=args, timeout_s=node.timeout_s,
                            bot=bot if node.on_bot else None, max_attempts=retry.max_attempts,
                            backoff_s=retry.backoff_s, multiplier=retry.multiplier,
                            max_backoff_s=retry.max_backoff_s))
                    if not result.ok:
                        raise _wait_failed(name, f"activity {node.activity!r} failed", result)
                    if node.output:
                        variables[node.output] = result.output
                    name, result = node.next or "", None
                case BranchNode():
                    target = node.default
                    for case in node.cases:
                        if _search(name, case.when, scope):
                            target = case.next
                            break
                    name = target
                case WaitSignalNode():
                    if result is None:
                        return park(SignalWait(node=name, signal=node.signal, timeout_s=node.timeout_s))
                    if not result.ok:
                        raise _wait_failed(name, f"signal {node.signal!r}", result)
                    if node.output:
                        variables[node.output] = result.output
                    name, result = node.next or "", None
                case SleepNode():
                    if result is None and node.seconds > 0:
                        return park(TimerWait(node=name, seconds=node.seconds))
                    if result is not None and not result.ok:
                        raise _wait_failed(name, "sleep", result)
                    name, result = node.next or "", None
                case LockBotNode():
                    if result is None:
                        return park(BotLockWait(node=name, pool=node.pool, timeout_s=node.timeout_s))
                    if not result.ok:
                        raise _wait_failed(name, f"lock_bot {node.pool!r}", result)
                    granted = result.output if isinstance(result.output, dict) else {}
                    if not isinstance(granted.get("bot"), str) or not granted["bot"]:
                        raise _JobFailed(name, f"node {name!r}: lock_bot {node.pool!r} was granted no bot "
                                         f"(got {bounded_text(repr(result.output), 120)})")
                    bot = granted["bot"]
                    if node.output:
                        variables[node.output] = granted
                    name, result = node.next or "", None
                case UnlockBotNode():
                    if bot is not None:
                        release.append(bot)
                        bot = None
                    name = node.next or ""
                case EndNode():
                    output = _search(name, node.output, scope) if node.output else None
                    entry(name, "completed")
                    return Finish("completed", output, None, history)
                case FailNode():
                    entry(name, "failed", node.error)
                    return Finish("failed", None, node.error, history)
    except _JobFailed as exc:
        entry(exc.node, "failed", str(exc))
        return Finish("failed", None, str(exc), history)
