"""The two streams a worker uses, created or updated at start so a worker can come up first.

The configurations come from :mod:`shared.streams`, the one definition every
service applies, so whichever service starts first the streams end up the same.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared import names
from shared.config import MAX_PAYLOAD_BYTES
from shared.streams import consumer_config, stream_configs

__all__ = [
    "MAX_ACK_PENDING",
    "MAX_DELIVER",
    "activities_stream_config",
    "ensure_streams",
    "responses_stream_config",
    "task_consumer_config",
]

# Deliveries of one task before JetStream gives up on it (a poison task must not loop
# forever; the reactor's timeout and retry policy takes over from there).
MAX_DELIVER = 10
# Unacked tasks per consumer, across all of its workers: caps the activities running at once.
MAX_ACK_PENDING = 1000


def _config(name: str, max_payload: int) -> StreamConfig:
    for config in stream_configs(max_payload):
        if config.name == name:
            return config
    raise LookupError(f"shared.streams defines no stream {name}")


def activities_stream_config(max_payload: int = MAX_PAYLOAD_BYTES) -> StreamConfig:
    """``EE_ACTIVITIES``: ``activity.execute.>``, work-queue retention, file storage."""
    return _config(names.STREAM_ACTIVITIES, max_payload)


def responses_stream_config(max_payload: int = MAX_PAYLOAD_BYTES) -> StreamConfig:
    """``EE_RESPONSES``: ``activity.response``, limits retention, file storage, kept 7 days."""
    return _config(names.STREAM_RESPONSES, max_payload)


async def ensure_streams(js: JetStreamContext, max_payload: int = MAX_PAYLOAD_BYTES) -> None:
    """Add the activity and response streams, or update them to this configuration (idempotent)."""
    for config in (activities_stream_config(max_payload), responses_stream_config(max_payload)):
        name = config.name or ""
        try:
            await js.stream_info(name)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:
                await js.stream_info(name)  # another service created it in between
            else:
                continue
        await js.update_stream(config)


def task_consumer_config(durable: str, filter_subject: str, *, ack_wait: float) -> ConsumerConfig:
    """The durable pull consumer that workers share, with every limit set on purpose."""
    return consumer_config(durable, filter_subject, ack_wait=ack_wait, max_deliver=MAX_DELIVER,
                           max_ack_pending=MAX_ACK_PENDING)
