"""The ``ee-reactor`` NATS micro service: one endpoint per operation.

``nats.micro`` runs one handler at a time per endpoint, so each handler only
hands the request to a task of the service's :class:`~shared.tasks.TaskSet`
and returns; the reply is sent when the work is done. Errors become micro error headers here, at the boundary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from shared import metrics, names
from shared.errors import EngineError, InvalidMessage, StaleFence
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


async def _answer(endpoint: Endpoint, request: Request, max_payload: int) -> None:
    try:
        if len(request.data) > max_payload:
            raise InvalidMessage(endpoint.codec.subject, f"payload of {len(request.data)} bytes "
                                 f"exceeds the limit of {max_payload}")
        reply = await endpoint.handler(endpoint.codec.decode(request.data))
        await request.respond(reply if isinstance(reply, bytes) else encode(reply))
    except EngineError as exc:
        if isinstance(exc, StaleFence):
            metrics.FENCE_REJECTIONS.inc()
        if isinstance(exc, InvalidMessage):
            metrics.DEADLETTERS.labels(subject=endpoint.codec.subject).inc()
        await request.respond_error(exc.code, str(exc))
    except Exception as exc:
        log.exception("endpoint failed", op=endpoint.op)
        await request.respond_error("500", f"{endpoint.op} failed: {type(exc).__name__}: {exc}")


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
