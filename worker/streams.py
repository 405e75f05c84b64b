"""The streams a worker uses, checked at start (the reactor creates and updates them).

The task and result streams come from :mod:`shared.streams`, the one definition
every service applies, so whichever service starts first they end up the same.
``EE_CLAIMS`` holds the workers' claims: one message per activity attempt, written
by the worker that starts it (see :mod:`worker.sdk`).
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig

from shared import names
from shared.config import MAX_PAYLOAD_BYTES
from shared.streams import STREAM_WAIT_S, claims_stream_config, consumer_config, stream_configs
from shared.streams import ensure_streams as shared_ensure_streams

__all__ = [
    "MAX_ACK_PENDING",
    "MAX_DELIVER",
    "activities_stream_config",
    "claims_stream_config",
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
    """``EE_RESPONSES``: ``activity.response``, work-queue retention (a result leaves once applied), file storage."""
    return _config(names.STREAM_RESPONSES, max_payload)


async def ensure_streams(js: JetStreamContext, max_payload: int = MAX_PAYLOAD_BYTES, *, manage: bool = False,
                         wait_s: float = STREAM_WAIT_S) -> None:
    """Check the activity, response and claim streams (:func:`shared.streams.ensure_streams`).

    A worker does not manage streams: the reactor creates and updates them. One that matches
    is left alone, a missing one is created if the server lets this user, else waited for.
    """
    await shared_ensure_streams(js, max_payload, manage=manage, wait_s=wait_s,
                                only=(names.STREAM_ACTIVITIES, names.STREAM_RESPONSES, names.STREAM_CLAIMS))


def task_consumer_config(durable: str, filter_subject: str, *, ack_wait: float) -> ConsumerConfig:
    """The durable pull consumer that workers share, with every limit set on purpose."""
    return consumer_config(durable, filter_subject, ack_wait=ack_wait, max_deliver=MAX_DELIVER,
                           max_ack_pending=MAX_ACK_PENDING)
