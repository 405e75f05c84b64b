"""Durable JetStream consumers that deliver as messages arrive, taken in batches.

A pull ``fetch(batch=N)`` that finds nothing waiting holds its request open until
N messages came or it expired: under light load that adds up to its whole
timeout to a message's latency. A push consumer hands each message over as it is
stored; the reader waits for the first and takes whatever else has arrived
without waiting, so batches grow with load and latency stays low when idle.
``max_ack_pending`` bounds how many are in hand.
"""

from __future__ import annotations

from typing import Any

import anyio
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

__all__ = ["Batches", "durable_push"]


class Batches:
    def __init__(self, buffer: int) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[Msg](max_buffer_size=buffer)
        self.subscription: Any = None

    async def deliver(self, msg: Msg) -> None:
        self._send.send_nowait(msg)

    async def next(self, max_n: int) -> list[Msg]:
        """Wait for one message, then take up to ``max_n`` without waiting."""
        batch = [await self._receive.receive()]
        while len(batch) < max_n:
            try:
                batch.append(self._receive.receive_nowait())
            except anyio.WouldBlock:
                break
        return batch


async def durable_push(js: JetStreamContext, subject: str, durable: str, *, ack_wait: float, max_deliver: int,
                       max_ack_pending: int, queue: str | None = None) -> Batches:
    """A durable push consumer (with ``queue``, shared by every process of that group)."""
    batches = Batches(max_ack_pending * 2)
    config = ConsumerConfig(
        durable_name=durable, filter_subject=subject, ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL, ack_wait=ack_wait, max_deliver=max_deliver,
        max_ack_pending=max_ack_pending, deliver_group=queue,
    )
    batches.subscription = await js.subscribe(
        subject, queue=queue, durable=durable, config=config, manual_ack=True, cb=batches.deliver,
        pending_msgs_limit=max_ack_pending * 2, pending_bytes_limit=-1)
    return batches
