"""Coalesce concurrent script calls into pipelined round trips.

Under load many parks and results arrive at once; sending each as its own
``EVALSHA`` costs a round trip each. Callers queue a call and await its reply;
one flusher sends whatever has queued as one pipeline. When idle a call goes
out at once, so batching adds no latency.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
from anyio.abc import TaskStatus

from reactor.scripts import ScriptBook

__all__ = ["ScriptBatcher"]

_Call = tuple[str, tuple[Any, ...], "asyncio.Future[Any]"]


class ScriptBatcher:
    def __init__(self, scripts: ScriptBook, redis: Any, max_batch: int = 256) -> None:
        self._scripts = scripts
        self._redis = redis
        self._max = max_batch
        self._send, self._receive = anyio.create_memory_object_stream[_Call](max_buffer_size=10_000)

    async def call(self, name: str, *args: Any) -> Any:
        """The script's reply, or the exception Redis answered with."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            # Without waiting: anyio's send() yields to the loop first, a loop turn per call.
            self._send.send_nowait((name, args, future))
        except anyio.WouldBlock:
            await self._send.send((name, args, future))
        return await future

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._receive:
            async for first in self._receive:
                batch = [first]
                while len(batch) < self._max:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except anyio.WouldBlock:
                        break
                try:
                    replies = await self._scripts.call_many(self._redis, [(n, a) for n, a, _ in batch])
                except Exception as exc:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), reply in zip(batch, replies, strict=True):
                    if not future.done():
                        future.set_result(reply)
