"""Taking messages from JetStream: one pull of a batch, and durable consumers that deliver
as messages arrive, taken in batches.

:func:`pull` is the one pull of every pull loop (jobs, tasks, cancels): a pull that found
nothing and one that failed (NATS away, the consumer gone: logged, then a pause) both bring
no messages, and the loop goes on.

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
import structlog
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError, NotFoundError

__all__ = ["Batches", "durable_push", "pull", "pull_consumer"]

log = structlog.get_logger("ee.consume")


async def pull_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> JetStreamContext.PullSubscription:
    """Create the durable pull consumer ``config`` names (or update one made before, by an older
    version say), then bind a pull subscription to it."""
    await js.add_consumer(stream, config)
    return await js.pull_subscribe_bind(durable=config.durable_name, stream=stream)


async def pull(sub: JetStreamContext.PullSubscription, batch: int, wait_s: float, what: str, *,
               retry_s: float = 0.5) -> list[Msg]:
    """Up to ``batch`` messages, waiting up to ``wait_s`` on the server for the first; none when
    none came, or when the pull failed (logged with ``what``, then ``retry_s`` of pause)."""
    try:
        msgs: list[Msg] = await sub.fetch(batch=batch, timeout=wait_s)
        return msgs
    except (FetchTimeoutError, NatsTimeout, TimeoutError):
        return []
    except Exception as exc:
        log.warning("pull failed", what=what, error=repr(exc))
        await anyio.sleep(retry_s)
        return []


class Batches:
    def __init__(self, buffer: int) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[Msg](max_buffer_size=buffer)
        self.subscription: Any = None

    async def deliver(self, msg: Msg) -> None:
        self._send.send_nowait(msg)

    def close(self) -> None:
        self._send.close()
        self._receive.close()

    async def next(self, max_n: int) -> list[Msg]:
        """Wait for one message, then take up to ``max_n`` without waiting."""
        batch = [await self._receive.receive()]
        while len(batch) < max_n:
            try:
                batch.append(self._receive.receive_nowait())
            except anyio.WouldBlock:
                break
        return batch


async def durable_push(js: JetStreamContext, stream: str, subject: str, durable: str, *, ack_wait: float,
                       max_deliver: int, max_ack_pending: int) -> Batches:
    """The durable push consumer ``durable`` of ``stream``, taken over by this connection.

    This connection subscribes to a fresh inbox of its prefix (``EE_NATS_INBOX_PREFIX``, the
    only one its NATS user may subscribe to), then creates the consumer with that inbox as its
    deliver subject, or moves an existing one there (JetStream updates the deliver subject of a
    consumer nobody is bound to in place). A consumer still bound to another connection (a
    reactor that lost its lease while paused: SIGSTOP, a stalled VM, whose connection NATS
    keeps until its pings go unanswered for minutes) cannot be moved, so it is deleted and made
    again: on a work-queue stream the messages it had not had acknowledged stay in the stream
    and the new consumer (deliver policy all) delivers them again; applying a result twice is
    harmless. Only the holder of the reactor lease calls this. The consumer is named as well
    as durable, so that it is created on a subject that carries its filter (see
    ``shared.streams.consumer_config``)."""
    batches = Batches(max_ack_pending * 2)
    nc = js._nc
    inbox: str = nc.new_inbox()
    batches.subscription = await nc.subscribe(inbox, cb=batches.deliver, pending_msgs_limit=max_ack_pending * 2,
                                              pending_bytes_limit=-1)
    config = ConsumerConfig(
        name=durable, durable_name=durable, filter_subject=subject, ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL, ack_wait=ack_wait, max_deliver=max_deliver,
        max_ack_pending=max_ack_pending, deliver_subject=inbox,
    )
    try:
        found = await js.consumer_info(stream, durable)
    except NotFoundError:
        found = None
    if found is not None and found.push_bound:
        log.info("taking over a push consumer from the connection bound to it", stream=stream,
                 consumer=durable, was=found.config.deliver_subject)
        await js.delete_consumer(stream, durable)
    await js.add_consumer(stream, config)
    return batches
