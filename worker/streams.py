"""The streams a worker uses, created or updated at start so a worker can come up first.

The task and result streams come from :mod:`shared.streams`, the one definition
every service applies, so whichever service starts first they end up the same.
``EE_CLAIMS`` is the workers' own: one message per activity attempt, written by
the worker that starts it (see :mod:`worker.sdk`).
"""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared import names
from shared.config import MAX_PAYLOAD_BYTES
from shared.streams import STREAM_MAX_BYTES, consumer_config, stream_configs

__all__ = [
    "MAX_ACK_PENDING",
    "MAX_DELIVER",
    "activities_stream_config",
    "claims_stream_config",
    "ensure_streams",
    "responses_stream_config",
    "task_consumer_config",
]

log = structlog.get_logger("ee.worker.streams")

# Deliveries of one task before JetStream gives up on it (a poison task must not loop
# forever; the reactor's timeout and retry policy takes over from there).
MAX_DELIVER = 10
# Unacked tasks per consumer, across all of its workers: caps the activities running at once.
MAX_ACK_PENDING = 1000
# How long an attempt's claim is kept: far beyond any redelivery of its task.
CLAIM_MAX_AGE_S = 7 * 24 * 3600.0


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


def claims_stream_config() -> StreamConfig:
    """``EE_CLAIMS``: ``activity.claim.<digest of event and attempt>``, one message per subject, file storage.

    A claim is published with ``Nats-Expected-Last-Subject-Sequence: 0``, so JetStream stores
    the first one for an attempt and refuses every later one. Kept 7 days and bounded like the
    other streams; when full the oldest claims go (unlike tasks and results, an old claim only
    matters if its attempt is delivered again that late).
    """
    return StreamConfig(name=names.STREAM_CLAIMS, subjects=[f"{names.ACTIVITY_CLAIM_PREFIX}>"],
                        retention=RetentionPolicy.LIMITS, storage=StorageType.FILE, max_age=CLAIM_MAX_AGE_S,
                        max_bytes=STREAM_MAX_BYTES, max_msgs_per_subject=1, max_msg_size=1024,
                        discard=DiscardPolicy.OLD, duplicate_window=120.0)


async def ensure_streams(js: JetStreamContext, max_payload: int = MAX_PAYLOAD_BYTES) -> None:
    """Add the activity, response and claim streams, or update them to this configuration (idempotent).

    A stream made with another retention (by an older version) is kept as it is, with a
    warning: JetStream cannot change retention in place (as :func:`shared.streams.ensure_streams`).
    """
    for config in (activities_stream_config(max_payload), responses_stream_config(max_payload),
                   claims_stream_config()):
        name = config.name or ""
        try:
            found = await js.stream_info(name)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:
                await js.stream_info(name)  # another service created it in between
            continue
        if found.config.retention != config.retention:
            log.warning("stream has another retention than this version sets; recreate it once drained",
                        stream=name, found=str(found.config.retention), wanted=str(config.retention))
            continue
        await js.update_stream(config)


def task_consumer_config(durable: str, filter_subject: str, *, ack_wait: float) -> ConsumerConfig:
    """The durable pull consumer that workers share, with every limit set on purpose."""
    return consumer_config(durable, filter_subject, ack_wait=ack_wait, max_deliver=MAX_DELIVER,
                           max_ack_pending=MAX_ACK_PENDING)
