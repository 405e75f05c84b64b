"""JetStream streams and the consumers every service sets on purpose.

Each service creates or updates the streams it uses at start, so any of them
can come up first.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from shared import names

__all__ = ["consumer_config", "ensure_streams", "stream_configs"]

DAY = 24 * 3600.0


def stream_configs(max_payload: int) -> list[StreamConfig]:
    return [
        StreamConfig(name=names.STREAM_JOBS, subjects=[names.JOBS_EXECUTE, names.JOBS_CANCEL],
                     retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=7 * DAY,
                     max_msg_size=max_payload, duplicate_window=120.0),
        StreamConfig(name=names.STREAM_ACTIVITIES, subjects=[f"{names.ACTIVITY_EXECUTE_PREFIX}>"],
                     retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                     max_msg_size=max_payload, duplicate_window=120.0),
        StreamConfig(name=names.STREAM_RESPONSES, subjects=[names.ACTIVITY_RESPONSE],
                     retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=7 * DAY,
                     max_msg_size=max_payload, duplicate_window=120.0),
    ]


async def ensure_streams(js: JetStreamContext, max_payload: int) -> None:
    for config in stream_configs(max_payload):
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:
                # Another service created it in between.
                await js.stream_info(config.name or "")
            continue
        await js.update_stream(config)


def consumer_config(durable: str, filter_subject: str, *, ack_wait: float, max_deliver: int,
                    max_ack_pending: int) -> ConsumerConfig:
    """A durable pull consumer with every limit set on purpose."""
    return ConsumerConfig(
        durable_name=durable, filter_subject=filter_subject, ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL, ack_wait=ack_wait, max_deliver=max_deliver,
        max_ack_pending=max_ack_pending, max_waiting=512,
    )
