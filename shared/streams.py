"""JetStream streams and the consumers every service sets on purpose.

Each service creates or updates the streams it uses at start, so any of them
can come up first.
"""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from shared import names

__all__ = ["STREAM_MAX_BYTES", "WORKERS_TTL_S", "consumer_config", "ensure_streams", "ensure_workers_bucket",
           "stream_configs", "workers_bucket_config"]

log = structlog.get_logger("ee.streams")

# Each stream is bounded. A message leaves its stream once the service it is meant for has
# acted on it (work-queue retention: acked after the Redis step it leads to); a stream that
# is full refuses new messages rather than dropping old ones, so a publisher retries (workers
# hold their results, the reactor's sweep re-dispatches, `ee submit` reports the refusal) and
# nothing accepted is ever thrown away.
STREAM_MAX_BYTES = 1 << 30

# How long a worker's announcement lives in EE_WORKERS without being written again; workers
# write theirs every third of the bucket's TTL, so one that died is gone within this.
WORKERS_TTL_S = 30.0


def stream_configs(max_payload: int) -> list[StreamConfig]:
    def bounded(name: str, subjects: list[str]) -> StreamConfig:
        return StreamConfig(name=name, subjects=subjects, retention=RetentionPolicy.WORK_QUEUE,
                            storage=StorageType.FILE, max_bytes=STREAM_MAX_BYTES, discard=DiscardPolicy.NEW,
                            max_msg_size=max_payload, duplicate_window=120.0)

    return [
        bounded(names.STREAM_JOBS, [names.JOBS_EXECUTE, names.JOBS_CANCEL]),
        bounded(names.STREAM_ACTIVITIES, [f"{names.ACTIVITY_EXECUTE_PREFIX}>"]),
        bounded(names.STREAM_RESPONSES, [names.ACTIVITY_RESPONSE]),
    ]


async def ensure_streams(js: JetStreamContext, max_payload: int) -> None:
    for config in stream_configs(max_payload):
        try:
            found = await js.stream_info(config.name or "")
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:
                # Another service created it in between.
                await js.stream_info(config.name or "")
            continue
        if found.config.retention != config.retention:
            # JetStream cannot change a stream's retention in place; the stream still works
            # (made by an older version), it just keeps messages longer than needed.
            log.warning("stream has another retention than this version sets; recreate it once drained",
                        stream=config.name, found=getattr(found.config.retention, "value", found.config.retention),
                        wanted=getattr(config.retention, "value", config.retention))
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


def workers_bucket_config(ttl_s: float = WORKERS_TTL_S) -> KeyValueConfig:
    """``EE_WORKERS``: one key per running worker (its instance id), the last announcement only,
    each aged out after ``ttl_s``; bounded (a presence is a few hundred bytes)."""
    return KeyValueConfig(bucket=names.WORKERS_BUCKET, description="Execution Engine workers and what they serve",
                          history=1, ttl=ttl_s, max_bytes=64 << 20, max_value_size=256 << 10,
                          storage=StorageType.FILE)


async def ensure_workers_bucket(js: JetStreamContext) -> KeyValue:
    """The workers bucket, created if missing (its TTL then is ``WORKERS_TTL_S``); one that
    exists is used as it is, whatever its TTL."""
    try:
        return await js.key_value(names.WORKERS_BUCKET)
    except BucketNotFoundError:
        try:
            return await js.create_key_value(workers_bucket_config())
        except BadRequestError:
            return await js.key_value(names.WORKERS_BUCKET)  # another worker created it in between
