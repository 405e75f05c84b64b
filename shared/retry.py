"""Retry with backoff, the one way the engine waits out a server that is away (tenacity).

A call that fails in a way waiting may mend (no responders, a time-out, a refused
connection) is tried again after a pause that doubles up to a ceiling, with some jitter so
that clients that failed together do not come back together, for as long as the caller's
patience lasts; then the last failure is raised.

The first try is made directly, outside tenacity, which costs about 0.2 ms a call: the hot
paths (every park, finish and result publish) pay nothing for it until something fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_before_delay,
    stop_never,
    wait_exponential,
    wait_random,
)

__all__ = ["retrying"]

T = TypeVar("T")


async def retrying(call: Callable[[], Awaitable[T]], *, when: Callable[[BaseException], bool],
                   patience: float | None, first_s: float, most_s: float,
                   waiting: Callable[[BaseException], None] | None = None) -> T:
    """``call()``, tried again while it fails with an error ``when`` accepts: after ``first_s``,
    then twice as long each time up to ``most_s`` (plus up to ``first_s`` of jitter), until
    the next pause would end past ``patience`` seconds from now (None: forever); then that
    failure is raised. ``waiting(error)`` is told before each pause (to log it)."""
    started = anyio.current_time()
    try:
        return await call()
    except Exception as exc:
        if not when(exc):
            raise
        if patience is not None and first_s > patience:
            raise
        if waiting is not None:
            waiting(exc)
    await anyio.sleep(first_s)

    def before_sleep(state: RetryCallState) -> None:
        if waiting is not None and state.outcome is not None and (error := state.outcome.exception()):
            waiting(error)

    left = None if patience is None else max(patience - (anyio.current_time() - started), 0.0)
    retryer = AsyncRetrying(
        sleep=anyio.sleep, reraise=True, retry=retry_if_exception(when), before_sleep=before_sleep,
        stop=stop_never if left is None else stop_before_delay(left),
        wait=wait_exponential(multiplier=2 * first_s, max=most_s) + wait_random(0, first_s))
    async for attempt in retryer:
        with attempt:
            return await call()
    raise AssertionError("tenacity ended without a result or an error")  # reraise=True: never
