"""Cancels in: cancellations published to ``jobs.cancel`` (stream ``EE_JOBS``, a durable pull
consumer: kept while no reactor runs), each applied as ``ee.reactor.cancel`` would."""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext

from reactor.deadletters import refuse
from reactor.operator_actions import OperatorActions
from reactor.store import Store
from shared import metrics, names
from shared.bounds import bounded_text
from shared.consume import pull, pull_consumer
from shared.errors import EngineError, InvalidMessage, JobNotFound
from shared.messages import CancelRequest, Codec
from shared.poison import given_up
from shared.streams import consumer_config

__all__ = ["cancel_loop"]

log = structlog.get_logger("ee.reactor")
_cancels = Codec(CancelRequest, names.JOBS_CANCEL)


async def cancel_loop(js: JetStreamContext, store: Store, ops: OperatorActions, max_payload: int) -> None:
    """Cancellations published to ``jobs.cancel`` (durable: kept while the reactor is down).

    A cancel may overtake its job (both are on the ``EE_JOBS`` stream, read by different
    services): for a job not created yet it records the job as cancelled, and the job's
    start then finds it so and nothing runs.
    """
    # A cancel takes milliseconds: a short ack wait brings back the ones a reactor that died
    # held. Applying one twice is harmless (the job is cancelled already: "cancel refused").
    config = consumer_config(names.CONSUMER_REACTOR_CANCEL, names.JOBS_CANCEL, ack_wait=5.0, max_deliver=-1,
                             max_ack_pending=4096)
    sub = await pull_consumer(js, names.STREAM_JOBS, config)
    while True:
        for msg in await pull(sub, 64, 1.0, "cancels"):
            try:
                request = _cancels.decode(msg.data, max_payload)
                while True:
                    try:
                        await ops.cancel(request)
                        break
                    except JobNotFound:
                        # Cancelled before it started: record it cancelled, so that it never runs.
                        # (The request/reply cancel still answers "unknown job" instead.)
                        if await store.cancel_before_start(request.job_id, request.reason):
                            metrics.JOBS_FINISHED.labels(status="cancelled").inc()
                            log.info("cancel recorded before the job started", job_id=request.job_id)
                            break
                        # The job was created in between: cancel it the ordinary way.
            except InvalidMessage as exc:
                await refuse(store, names.JOBS_CANCEL, exc, msg)
                continue
            except EngineError as exc:
                log.info("cancel refused", error=bounded_text(str(exc)))
            except Exception as exc:
                if given_up(msg, exc):
                    await refuse(store, names.JOBS_CANCEL, exc, msg)
                    continue
                log.warning("cancel failed; will be redelivered", error=bounded_text(repr(exc)))
                await msg.nak(delay=1.0)
                continue
            await msg.ack()
