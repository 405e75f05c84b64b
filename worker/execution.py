"""Running one activity function for one task, and turning the outcome into a result.

Async functions run in the event loop, sync ones in a worker thread. A task
with ``timeout_s`` is cancelled after that long; a function that raises becomes
``ok=false`` with ``"<ExceptionType>: <message>"`` (a ``BusinessError``: its message,
``error_type="business"`` and its code; a timeout: ``error_type="timeout"``); an output
that would make the result larger than the payload limit becomes ``ok=false`` too. While a function runs,
``current_task.get()`` describes its task.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
from anyio import CancelScope

from shared.bounds import MAX_DATA_DEPTH, bounded_text, nested_deeper_than
from shared.messages import ActivityResult, ActivityTask, encode
from worker.errors import BUSINESS, TIMEOUT, BusinessError

__all__ = ["Activity", "TaskInfo", "current_task", "encode_result", "failure", "run_activity"]

Activity = Callable[[dict[str, Any]], Awaitable[Any]] | Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class TaskInfo:
    """The task a function runs for: which wait (``event_id``) of which job, which attempt
    (1, 2, ... under the node's retry policy), the bot it runs on (None off a bot)."""

    event_id: str
    attempt: int
    job_id: str
    activity: str
    input: dict[str, Any]
    bot: str | None = None
    timeout_s: float | None = None


# Set while an activity function runs (also in the thread of a sync one); outside one,
# ``current_task.get()`` raises LookupError.
current_task: ContextVar[TaskInfo] = ContextVar("current_task")

OUTPUT_TOO_LARGE = "output too large"
OUTPUT_TOO_DEEP = "output nested too deep"
CANCELLED = "activity cancelled: its job was cancelled"


def failure(task: ActivityTask, error: str, worker: str) -> ActivityResult:
    return ActivityResult(event_id=task.event_id, attempt=task.attempt, ok=False, error=error, worker=worker,
                          token=task.token)


async def _call(fn: Activity, task: ActivityTask) -> Any:
    current_task.set(TaskInfo(event_id=task.event_id, attempt=task.attempt, job_id=task.job_id,
                              activity=task.activity, input=task.input, bot=task.bot, timeout_s=task.timeout_s))
    if inspect.iscoroutinefunction(fn):
        return await fn(task.input)
    # The thread runs in a copy of this context, so it sees current_task too.
    return await anyio.to_thread.run_sync(fn, task.input, abandon_on_cancel=True)


async def run_activity(fn: Activity, task: ActivityTask, worker: str, scope: CancelScope) -> ActivityResult:
    """Run ``fn`` on the task's input inside ``scope`` (cancelling it reports the job's cancellation).

    Cancellation from outside (a shutdown past its grace) propagates to the caller.
    """
    try:
        with scope:
            if task.timeout_s is None:
                return ActivityResult(event_id=task.event_id, attempt=task.attempt, ok=True,
                                      output=await _call(fn, task), worker=worker, token=task.token)
            with anyio.move_on_after(task.timeout_s) as timer:
                output = await _call(fn, task)
            if not timer.cancelled_caught:
                return ActivityResult(event_id=task.event_id, attempt=task.attempt, ok=True, output=output,
                                      worker=worker, token=task.token)
            # Of the class timeout, as the reactor's own verdict when no result comes in time.
            return msgspec.structs.replace(failure(
                task, f"activity timed out after {task.timeout_s:g} s (attempt {task.attempt})", worker),
                error_type=TIMEOUT)
    except BusinessError as exc:
        return msgspec.structs.replace(failure(task, exc.message, worker), error_type=BUSINESS, error_code=exc.code)
    except Exception as exc:
        return failure(task, f"{type(exc).__name__}: {exc}", worker)
    return failure(task, CANCELLED, worker)


def encode_result(result: ActivityResult, task: ActivityTask, max_payload: int) -> bytes:
    """The result's wire form; an output the reactor would refuse (too large for one message,
    nested deeper than the engine carries, not JSON) becomes a failed attempt that says so,
    so that the job goes on by its retry policy instead of waiting for a result that never
    comes."""
    try:
        data = encode(result)
    except RecursionError:
        return encode(failure(task, f"{OUTPUT_TOO_DEEP} (limit {MAX_DATA_DEPTH} levels)", result.worker))
    except Exception as exc:  # TypeError, ValueError, OverflowError, ... from a value JSON cannot hold
        return encode(failure(task, bounded_text(f"output not serializable: {exc}"), result.worker))
    if len(data) > max_payload:
        return encode(failure(task, f"{OUTPUT_TOO_LARGE} ({len(data)} bytes, limit {max_payload})", result.worker))
    if nested_deeper_than(data, MAX_DATA_DEPTH):
        return encode(failure(task, f"{OUTPUT_TOO_DEEP} (limit {MAX_DATA_DEPTH} levels)", result.worker))
    return data
