"""The demo activities served by ``ee worker --demo``.

With ``EE_DEMO_LEDGER`` set, every run appends ``{"event_id", "attempt", "activity",
"pid"}`` to that file as it starts, so tests can count runs per (event, attempt).
With ``EE_DEMO_SPANS`` set, ``demo.hold`` also appends ``{"event_id", "attempt", "pid",
"span": "start"|"end"}`` as it starts and ends, so that tests can tell how many ran at once
(appends of one line are atomic: the file's order is the order they happened in).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import anyio

from worker.errors import BusinessError
from worker.execution import current_task
from worker.sdk import Worker

__all__ = ["register"]


class DemoError(Exception):
    pass


# Read when the activities are registered, not per run: an os.environ lookup per
# activity showed up in the demo worker's profile.
_ledger_path: str | None = None
_spans_path: str | None = None


def _ledger(activity: str) -> None:
    path = _ledger_path
    if not path:
        return
    task = current_task.get()
    _append(path, {"event_id": task.event_id, "attempt": task.attempt, "activity": activity, "pid": os.getpid()})


def _span(span: str) -> None:
    if _spans_path:
        task = current_task.get()
        _append(_spans_path, {"event_id": task.event_id, "attempt": task.attempt, "pid": os.getpid(), "span": span})


def _append(path: str, row: dict[str, Any]) -> None:
    line = json.dumps(row)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


async def echo(data: dict[str, Any]) -> Any:
    _ledger("demo.echo")
    return data


async def add(data: dict[str, Any]) -> Any:
    _ledger("demo.add")
    try:
        return {"sum": data["a"] + data["b"]}
    except (KeyError, TypeError) as exc:
        raise DemoError(f"demo.add needs numbers a and b: {exc}") from exc


async def sleep(data: dict[str, Any]) -> Any:
    _ledger("demo.sleep")
    await anyio.sleep(float(data.get("seconds", 1)))
    return data


async def hold(data: dict[str, Any]) -> Any:
    """Sleeps like demo.sleep, its start and end recorded (``EE_DEMO_SPANS``): a stand-in for
    work on a fragile system, to count how many ran at once."""
    _ledger("demo.hold")
    _span("start")
    try:
        await anyio.sleep(float(data.get("seconds", 1)))
    finally:
        _span("end")
    return data


async def fail(data: dict[str, Any]) -> Any:
    _ledger("demo.fail")
    raise DemoError(str(data.get("message", "demo.fail always fails")))


async def flaky(data: dict[str, Any]) -> Any:
    _ledger("demo.flaky")
    attempt = current_task.get().attempt
    failures = int(data.get("failures", 1))
    if attempt <= failures:
        raise DemoError(f"demo.flaky failing attempt {attempt} of the first {failures}")
    return {"attempt": attempt, **data}


async def reject(data: dict[str, Any]) -> Any:
    """Refuses on business grounds: a BusinessError with the input's ``message`` and ``code``."""
    _ledger("demo.reject")
    code = data.get("code")
    message = str(data.get("message", "demo.reject always refuses"))
    raise BusinessError(message, code=None if code is None else str(code))


async def stamp(data: dict[str, Any]) -> Any:
    """Returns its input and the wall-clock time it finished (for measuring wake latency)."""
    _ledger("demo.stamp")
    return {**data, "stamped_at": time.time()}


def register(worker: Worker) -> None:
    global _ledger_path
    _ledger_path = os.environ.get("EE_DEMO_LEDGER") or None
    global _spans_path
    _spans_path = os.environ.get("EE_DEMO_SPANS") or None
    worker.register("demo.hold", hold)
    worker.register("demo.stamp", stamp)
    worker.register("demo.echo", echo)
    worker.register("demo.add", add)
    worker.register("demo.sleep", sleep)
    worker.register("demo.fail", fail)
    worker.register("demo.flaky", flaky)
    worker.register("demo.reject", reject)
