"""Coalesce concurrent script calls into pipelined round trips: the reactor's one path to its scripts.

Under load many parks and results arrive at once; sending each as its own
``EVALSHA`` costs a round trip each. Callers queue calls and await their replies;
one flusher sends whatever has queued as one pipeline. When idle a call goes
out at once, so batching adds no latency. A caller with many calls at hand (a
batch of results, the due timers) queues them together (``many``).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import anyio
import redis.asyncio as aioredis
from anyio.abc import TaskStatus

from reactor.scripts import Call, ScriptBook

__all__ = ["ScriptBatcher"]

Out = TypeVar("Out")
_Queued = tuple[Call[Any], "asyncio.Future[Any]"]


class ScriptBatcher:
    def __init__(self, scripts: ScriptBook, redis: aioredis.Redis, max_batch: int = 256) -> None:
        self._scripts = scripts
        self._redis = redis
        self._max = max_batch
        self._send, self._receive = anyio.create_memory_object_stream[_Queued](max_buffer_size=10_000)

    def _queue(self, call: Call[Any]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Without waiting: anyio's send() yields to the loop first, a loop turn per call.
        self._send.send_nowait((call, future))
        return future

    async def _reply(self, call: Call[Any]) -> Any:
        try:
            return await self._queue(call)
        except anyio.WouldBlock:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            await self._send.send((call, future))
            return await future

    async def one(self, call: Call[Out]) -> Out:
        return self._scripts.outcome(call, await self._reply(call))

    async def many(self, calls: list[Call[Out]]) -> list[Out | Exception]:
        futures: list[asyncio.Future[Any]] = []
        for call in calls:
            try:
                futures.append(self._queue(call))
            except anyio.WouldBlock:
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                await self._send.send((call, future))
                futures.append(future)
        replies = await asyncio.gather(*futures, return_exceptions=True)
        return self._scripts.outcomes(list(calls), list(replies))

    def close(self) -> None:
        """For a store that was never run: close its call queue."""
        self._send.close()
        self._receive.close()

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
                    replies = await self._scripts.call_many(self._redis, [c for c, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), reply in zip(batch, replies, strict=True):
                    if not future.done():
                        future.set_result(reply)
