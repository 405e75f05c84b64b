"""Results in: activity results from ``activity.response`` (a durable push consumer), applied
in batches through the ``result`` script; each message is acked only after its Redis step."""

from __future__ import annotations

import msgspec
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from reactor.deadletters import refuse
from reactor.dispatch import Dispatcher
from reactor.error_classes import is_business, result_record
from reactor.outcomes import Fired, Ignored, Refused
from reactor.store import ResultIn, Store
from shared import metrics, names
from shared.bounds import bounded_text
from shared.consume import durable_push
from shared.failpoints import failpoint
from shared.messages import ActivityResult, Codec
from shared.poison import given_up

__all__ = ["results_loop"]

log = structlog.get_logger("ee.reactor")
_json = msgspec.json.Encoder()
_results = Codec(ActivityResult, names.ACTIVITY_RESPONSE)


async def results_loop(js: JetStreamContext, store: Store, dispatcher: Dispatcher, max_payload: int) -> None:
    """Apply activity results; each message is acked only after its Redis step."""
    # Applying a result takes milliseconds: a short ack wait brings back a batch held by a
    # reactor that died. Applying one twice is harmless (the result script ignores it).
    results = await durable_push(js, names.STREAM_RESPONSES, names.ACTIVITY_RESPONSE,
                                 names.CONSUMER_REACTOR_RESPONSES, ack_wait=5.0,
                                 max_deliver=-1, max_ack_pending=4096)
    while True:
        msgs = await results.next(256)
        calls: list[tuple[Msg, ResultIn]] = []
        for msg in msgs:
            if msg.metadata.num_delivered > 1:
                metrics.REDELIVERIES.labels(stream=names.STREAM_RESPONSES).inc()
            try:
                res = _results.decode(msg.data, max_payload)
                payload = _json.encode(result_record(res))
                authentic = not res.token or dispatcher.tokens.valid(res.event_id, res.attempt, res.token)
            except Exception as exc:  # InvalidMessage, or anything else this message alone causes
                await refuse(store, names.ACTIVITY_RESPONSE, exc, msg)
                continue
            if not authentic:
                # Forged or for another attempt: refused here, with no Redis step at all.
                await _refuse_result(store, msg.data, res, "wrong attempt token")
                await msg.term()
                continue
            dispatcher.clock.arrived(res.event_id, res.attempt)
            calls.append((msg, ResultIn(res.event_id, res.attempt, res.ok, payload, res.error or "",
                                        token=bool(res.token), business=is_business(res))))
        if not calls:
            continue
        outcomes = await store.results([r for _, r in calls])
        await failpoint("results-committed")
        wakes = []
        for (msg, _), out in zip(calls, outcomes, strict=True):
            match out:
                case Exception():
                    if given_up(msg, out):
                        await refuse(store, names.ACTIVITY_RESPONSE, out, msg)
                    else:
                        log.warning("result not stored; it will be redelivered", error=bounded_text(str(out)))
                        await msg.nak(delay=1.0)
                    continue
                case Refused():
                    await _refuse_result(store, msg.data, _results.decode(msg.data), out.reason)
                case Ignored():
                    metrics.DUPLICATE_RESULTS.inc()
                case Fired():
                    wakes.append(out.wake)
        await dispatcher.wakes(wakes)
        for (msg, _), out in zip(calls, outcomes, strict=True):
            if not isinstance(out, Exception):
                await msg.ack()


async def _refuse_result(store: Store, data: bytes, res: ActivityResult, why: str) -> None:
    """A result that is not authentic: counted and dead-lettered (bounded reason); it fires nothing."""
    metrics.RESULTS_REFUSED.inc()
    metrics.DEADLETTERS.labels(subject=names.ACTIVITY_RESPONSE).inc()
    reason = f"result refused: {why} (event {res.event_id[:120]!r}, attempt {res.attempt})"
    await store.deadletter(names.ACTIVITY_RESPONSE, reason, data)
