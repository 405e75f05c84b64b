"""What a job waits on, in words, and waiting for a job with progress on a terminal.

``ee status`` lists a job's open waits (kind, what exactly, since when, attempt and
deadline), ``ee submit --wait`` shows the current one while it waits and names it when
it gives up. The words come from the wait's record (``ee:event:{id}``), read by
``ee.inspect``; a command without Redis (a NATS-only user) shows the status alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import anyio.to_thread
import redis

from ee.render import duration_text, time_text
from shared.errors import EngineError, JobWaitTimeout
from shared.messages import JobView

if TYPE_CHECKING:  # ee.client imports NATS's client: only the commands that connect need it
    from ee.client import EngineClient

__all__ = ["Look", "Progress", "current_wait", "describe_wait", "wait_for_job"]

Look = Callable[[str], str]  # a job id's current wait in words (blocking: it reads Redis)


def describe_wait(event: dict[str, Any]) -> str:
    """One wait in words: ``activity demo.sleep (attempt 2 of 3, running; timeout ...)``."""
    kind = event.get("kind")
    deadline = f"until {time_text(event['deadline'])}" if event.get("deadline") else ""
    details: list[str] = []
    if kind == "activity":
        what = f"activity {event.get('activity', '?')}"
        attempt, most = event.get("attempt"), event.get("max_attempts")
        if attempt:
            details.append(f"attempt {attempt}" + (f" of {most}" if most else ""))
        if event.get("phase") == "waiting_capacity":
            key = f" [{event['limit_key']}]" if event.get("limit_key") else ""
            place = f", place {event['place']} in line" if event.get("place") else ""
            details.append(f"waiting for a slot of limit {event.get('limit', '?')}{key}{place}")
        elif event.get("phase"):
            details.append("waiting out its retry backoff" if event["phase"] == "backoff" else event["phase"])
        if event.get("bot"):
            details.append(f"on bot {event['bot']}")
        if deadline:
            details.append(("next attempt " if event.get("phase") == "backoff" else "timeout ") + deadline)
        if event.get("unserved"):
            details.append(str(event["unserved"]))
    elif kind == "timer":
        what = f"sleep {deadline}".strip()
    elif kind == "signal":
        what = f"signal {event.get('signal', '?')!r}"
        if deadline:
            details.append(f"timeout {deadline}")
    elif kind == "bot_lock":
        what = f"a free bot of pool {event.get('pool', '?')!r}"
        if deadline:
            details.append(f"timeout {deadline}")
    elif kind == "child":
        what = f"child job {event.get('child', '?')}"
        if deadline:
            details.append(f"timeout {deadline}")
    elif kind == "task":
        what = f"human task {event.get('title', '?')!r} for {event.get('assignee', '?')}"
        if event.get("claimed_by"):
            details.append(f"claimed by {event['claimed_by']}")
        if event.get("due"):
            details.append(f"due {time_text(event['due'])}")
        if event.get("overdue"):
            details.append("overdue")
    else:
        what = str(kind or "a wait")
    if event.get("status") == "fired":
        details.append("over, the job resumes")
    return what + (f" ({'; '.join(details)})" if details else "")


def current_wait(job: dict[str, Any] | None, waits: list[dict[str, Any]]) -> str:
    """What the job waits on now, in one phrase ("" when nothing is known)."""
    if waits:
        first = waits[0]
        since = f", parked {duration_text(first['age_s'])} ago" if first.get("age_s") is not None else ""
        more = f" and {len(waits) - 1} more" if len(waits) > 1 else ""
        return f"{describe_wait(first)} at node {first.get('node', '?')!r}{since}{more}"
    if job and job.get("waiting_for"):
        reason = f": {job['waiting_reason']}" if job.get("waiting_reason") else ""
        return f"{job['waiting_for']}{reason}"
    return ""


class Progress:
    """One line on a terminal, rewritten in place; nothing at all off a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.on = self.stream.isatty()
        self._shown = False

    def show(self, text: str) -> None:
        if self.on:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


async def wait_for_job(client: EngineClient, job_id: str, give_up_after: float | None, look: Look | None,
                       progress: Progress) -> JobView:
    """Poll the job until it is completed, failed or cancelled; show its status and current wait
    on ``progress``; JobWaitTimeout naming the job and its current wait after ``give_up_after``
    seconds."""
    from ee.client import FINAL

    started = anyio.current_time()
    delay, looked = 0.02, -1.0
    shown = ""
    view = JobView(job_id=job_id, status="pending")
    with anyio.move_on_after(give_up_after) as scope:
        while True:
            view = await client.view(job_id)
            if view.status in FINAL:
                progress.clear()
                return view
            now = anyio.current_time()
            if progress.on and look is not None and now - looked >= 1.0:
                looked = now
                shown = await _wait_words(look, job_id)
            if progress.on:
                waited = duration_text(now - started)
                progress.show(f"job {job_id}: {view.status}{', waiting on ' + shown if shown else ''} ({waited})")
            await anyio.sleep(delay)
            delay = min(delay * 1.5, 0.25)
    assert scope.cancelled_caught
    progress.clear()
    words = await _wait_words(look, job_id)
    status = (await client.view(job_id)).status
    raise JobWaitTimeout(job_id, status, round(anyio.current_time() - started, 3), waiting_on=words)


async def _wait_words(look: Look | None, job_id: str) -> str:
    if look is None:
        return ""
    try:
        return await anyio.to_thread.run_sync(look, job_id)
    except (EngineError, redis.RedisError, OSError):  # a hint: Redis gone a moment costs the words
        return ""
