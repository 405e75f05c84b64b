"""JetStream streams and the consumers every service sets on purpose.

The reactor (or an administrator, ahead) creates and updates the streams: under
the shipped NATS permissions (deploy/nats/auth.conf) nobody else may. Every other
service reads each stream's information at start and leaves a stream alone that
matches; one that is missing it tries to create once (an unsecured server lets
it, so any service can come up first there), then waits for it, and fails with
one line naming the stream if it never comes.
"""

from __future__ import annotations

from collections.abc import Collection

import anyio
import nats.errors
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
from shared.errors import EngineUnavailable

__all__ = ["STREAM_MAX_BYTES", "STREAM_WAIT_S", "WORKERS_TTL_S", "claims_stream_config", "consumer_config",
           "ensure_streams", "ensure_workers_bucket", "stream_configs", "workers_bucket_config"]

log = structlog.get_logger("ee.streams")

# Each stream is bounded. A message leaves its stream once the service it is meant for has
# acted on it (work-queue retention: acked after the Redis step it leads to); a stream that
# is full refuses new messages rather than dropping old ones, so a publisher retries (workers
# hold their results, the reactor's sweep re-dispatches, `ee submit` reports the refusal) and
# nothing accepted is ever thrown away.
STREAM_MAX_BYTES = 1 << 30
# How long a service that may not create a stream waits for the reactor to create it.
STREAM_WAIT_S = 60.0
# How long its one attempt to create a missing stream may take: a request the server's
# permissions refuse gets no answer at all, only an asynchronous error.
_CREATE_ATTEMPT_S = 2.0
# How long a worker's announcement lives in EE_WORKERS without being written again; workers
# write theirs every third of the bucket's TTL, so one that died is gone within this.
WORKERS_TTL_S = 30.0
# How long an attempt's claim is kept: far beyond any redelivery of its task.
CLAIM_MAX_AGE_S = 7 * 24 * 3600.0
# The fields the engine sets; the server fills in the rest, which a comparison must ignore.
_COMPARED = ("subjects", "retention", "storage", "max_bytes", "discard", "max_msg_size", "duplicate_window",
             "max_age", "max_msgs_per_subject")


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


def stream_configs(max_payload: int) -> list[StreamConfig]:
    """Every stream of the engine: jobs, activity tasks, results and claims."""
    def bounded(name: str, subjects: list[str]) -> StreamConfig:
        return StreamConfig(name=name, subjects=subjects, retention=RetentionPolicy.WORK_QUEUE,
                            storage=StorageType.FILE, max_bytes=STREAM_MAX_BYTES, discard=DiscardPolicy.NEW,
                            max_msg_size=max_payload, duplicate_window=120.0)

    return [
        bounded(names.STREAM_JOBS, [names.JOBS_EXECUTE, names.JOBS_CANCEL]),
        bounded(names.STREAM_ACTIVITIES, [f"{names.ACTIVITY_EXECUTE_PREFIX}>"]),
        bounded(names.STREAM_RESPONSES, [names.ACTIVITY_RESPONSE]),
        claims_stream_config(),
    ]


def _differences(found: StreamConfig, wanted: StreamConfig) -> list[str]:
    return [field for field in _COMPARED
            if getattr(wanted, field) is not None and getattr(found, field) != getattr(wanted, field)]


async def _info(js: JetStreamContext, name: str) -> StreamConfig | None:
    try:
        return (await js.stream_info(name)).config
    except NotFoundError:
        return None


async def _create(js: JetStreamContext, config: StreamConfig, manage: bool) -> bool:
    """Add the stream; False if that was refused or unanswered (a user without the right)."""
    try:
        if manage:
            await js.add_stream(config)
            return True
        with anyio.move_on_after(_CREATE_ATTEMPT_S):
            await js.add_stream(config)
            return True
    except nats.errors.Error:
        pass  # another service created it in between, or this user may not: look again below
    return False


async def ensure_streams(js: JetStreamContext, max_payload: int, *, manage: bool = True,
                         only: Collection[str] | None = None, wait_s: float = STREAM_WAIT_S) -> None:
    """Make sure the streams (those named in ``only``, else all) exist as this version defines them.

    With ``manage`` (the reactor) a missing stream is created and one that differs is updated.
    Without it a stream that matches is left alone (not even updated: the user may lack the
    right), one that differs is used as it is with a warning, and a missing one is created if
    the server lets this user, else waited for up to ``wait_s`` seconds; then EngineUnavailable
    names it. A stream made with another retention (an older version) is kept either way:
    JetStream cannot change retention in place; it still works, keeping messages longer.
    """
    for config in stream_configs(max_payload):
        name = config.name or ""
        if only is not None and name not in only:
            continue
        found = await _info(js, name)
        if found is None:
            if await _create(js, config, manage):
                continue
            found = await _info(js, name) or await _wait_for(js, name, wait_s)
        differences = _differences(found, config)
        if not differences:
            continue
        if found.retention != config.retention:
            log.warning("stream has another retention than this version sets; recreate it once drained",
                        stream=name, found=getattr(found.retention, "value", found.retention),
                        wanted=getattr(config.retention, "value", config.retention))
        elif manage:
            await js.update_stream(config)
        else:
            log.warning("stream differs from this version's configuration; the reactor updates it at its "
                        "start", stream=name, fields=differences)


async def _wait_for(js: JetStreamContext, name: str, wait_s: float) -> StreamConfig:
    log.warning("waiting for a stream this user may not create (the reactor creates it)", stream=name,
                wait_s=wait_s)
    with anyio.move_on_after(wait_s):
        while True:
            found = await _info(js, name)
            if found is not None:
                return found
            await anyio.sleep(0.5)
    raise EngineUnavailable(f"JetStream stream {name}",
                            f"missing after {wait_s:g}s and this NATS user may not create it: start the reactor "
                            "(it creates the streams) or create them ahead (shared/streams.py)")


def consumer_config(durable: str, filter_subject: str, *, ack_wait: float, max_deliver: int,
                    max_ack_pending: int) -> ConsumerConfig:
    """A durable pull consumer with every limit set on purpose.

    Named as well as durable: nats-py then creates it on ``$JS.API.CONSUMER.CREATE.<stream>.
    <name>.<filter>``, a subject that carries the filter, so that NATS permissions can let a
    user create consumers on some subjects of a stream only (deploy/nats/auth.conf)."""
    return ConsumerConfig(
        name=durable, durable_name=durable, filter_subject=filter_subject, ack_policy=AckPolicy.EXPLICIT,
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
