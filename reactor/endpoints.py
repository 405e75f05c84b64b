"""The ``ee-reactor`` NATS micro service: one endpoint per operation.

``nats.micro`` runs one handler at a time per endpoint, so each handler only
hands the request to a task of the service's :class:`~shared.tasks.TaskSet`
and returns; the reply is sent when the work is done. Errors become micro error
headers here, at the boundary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import structlog
from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from shared import metrics, names
from shared.bounds import bounded_text
from shared.error_replies import error_reply
from shared.errors import EngineError, InvalidMessage, LeaseLost, PayloadTooLarge, StaleFence
from shared.messages import Codec, encode
from shared.tasks import TaskSet

__all__ = ["Endpoint", "serve_endpoints"]

log = structlog.get_logger("ee.reactor.endpoints")

Handler = Callable[[Any], Awaitable[Any]]


class Endpoint:
    """An operation: its request codec and the coroutine that answers it."""

    def __init__(self, op: str, request_type: type[Any], handler: Handler) -> None:
        self.op = op
        self.codec: Codec[Any] = Codec(request_type, names.reactor_subject(op))
        self.handler = handler


# Read-only operations whose refusals are routine (the readiness probes ask for an unknown job).
_QUIET_OPS = frozenset({"inspect", "workflow", "deployed", "deployments"})


def _ids(decoded: Any, exc: EngineError) -> dict[str, Any]:
    """The job and event ids a refusal concerns, for its log line."""
    ids: dict[str, Any] = {}
    for name in ("job_id", "event_id"):
        value = getattr(exc, name, None) or getattr(decoded, name, None)
        if value:
            ids[name] = bounded_text(str(value), 120)
    return ids


def _log_refusal(op: str, decoded: Any, exc: EngineError) -> None:
    """Refusals are logged; successful requests are not (the hot path)."""
    ids = _ids(decoded, exc)
    if isinstance(exc, StaleFence):
        log.warning("stale fence refused", op=op, fence=exc.fence, current=exc.current, **ids)
    elif isinstance(exc, InvalidMessage):
        log.warning("malformed request refused", op=op, subject=exc.subject, reason=bounded_text(exc.reason),
                    **ids)
    elif op in _QUIET_OPS:
        log.debug("request refused", op=op, error=bounded_text(str(exc)), **ids)
    else:
        log.info("request refused", op=op, error=bounded_text(str(exc)), **ids)


async def _answer(endpoint: Endpoint, request: Request, max_payload: int) -> None:
    decoded: Any = None
    try:
        decoded = endpoint.codec.decode(request.data, max_payload)
        reply = await endpoint.handler(decoded)
        data = reply if isinstance(reply, bytes) else encode(reply)
        limit = min(max_payload, request._msg._client.max_payload)
        if len(data) > limit:
            raise PayloadTooLarge(f"reply of {endpoint.op}", len(data), limit)
        await _respond(endpoint, request, data)
    except (LeaseLost, anyio.BrokenResourceError, anyio.ClosedResourceError):
        # Fenced, or stopping (its store's call queue closed before this request got there):
        # no reply, and the requester's timeout sends the request again, to the reactor
        # that acts now or next.
        return
    except EngineError as exc:
        if isinstance(exc, StaleFence):
            metrics.FENCE_REJECTIONS.inc()
        if isinstance(exc, InvalidMessage):
            metrics.DEADLETTERS.labels(subject=endpoint.codec.subject).inc()
        _log_refusal(endpoint.op, decoded, exc)
        code, description, headers, body = error_reply(exc)
        await _respond_error(endpoint, request, code, description, headers, body)
    except Exception as exc:
        log.exception("endpoint failed", op=endpoint.op, **({"job_id": bounded_text(str(decoded.job_id), 80)}
                                                             if getattr(decoded, "job_id", None) else {}))
        await _respond_error(endpoint, request, "500", f"{endpoint.op} failed: {type(exc).__name__}: {exc}")


async def _respond(endpoint: Endpoint, request: Request, data: bytes) -> None:
    """Send the reply; one that cannot be sent (no reply subject, connection gone) is logged,
    and the requester's own timeout tells it."""
    if not request._msg.reply:
        log.info("request without a reply subject; answered nobody", op=endpoint.op)
        return
    try:
        await request.respond(data)
    except Exception as exc:
        log.warning("reply not sent", op=endpoint.op, error=repr(exc))


async def _respond_error(endpoint: Endpoint, request: Request, code: str, description: str,
                         headers: dict[str, str] | None = None, body: bytes = b"") -> None:
    """An error reply in micro's headers: its description on one line of at most
    ``MAX_ERROR_CHARS`` (bounded: a header echoing a megabyte id would exceed max_payload,
    and nats-server would close the connection); an engine error's class and attributes
    beside it (``shared.error_replies``)."""
    if not request._msg.reply:
        return
    try:
        await request.respond_error(code, bounded_text(description), body, headers)
    except Exception as exc:
        log.warning("error reply not sent", op=endpoint.op, error=repr(exc))


async def serve_endpoints(nc: NATS, tasks: TaskSet, endpoints: list[Endpoint], version: str,
                          max_payload: int) -> Service:
    service = await add_service(nc, name=names.REACTOR_SERVICE, version=version,
                                description="Execution Engine reactor: parked waits in Redis",
                                queue_group="ee-reactor")
    for endpoint in endpoints:

        async def handle(request: Request, endpoint: Endpoint = endpoint) -> None:
            tasks.spawn(_answer(endpoint, request, max_payload))

        await service.add_endpoint(name=endpoint.op, subject=names.reactor_subject(endpoint.op),
                                   handler=handle)
    return service
