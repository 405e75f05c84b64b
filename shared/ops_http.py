"""A small HTTP endpoint per service: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``.

``/healthz`` answers while the event loop runs and every liveness check passes (a
service whose NATS connection is closed for good is not alive: a supervisor should
restart it; 503 with the failing check named otherwise); ``/readyz`` runs every
readiness check (NATS and Redis reachability, say) at once, each with a one-second
limit, and answers 200 only when all pass, with a JSON body naming each:
``{"nats": true, "redis": false}``. A check that raises or overruns counts as false.
A service given ``role`` (the reactor: ``active``, ``standby``, ``starting``) names it in
the body too, and is ready only while it is ``active``: a standby reactor is alive
(``/healthz`` 200) but not ready (``/readyz`` 503 ``{"role": "standby", ...}``).
``/readyz?standby=ready`` counts a standby as ready (a Kubernetes rolling update of two
reactor replicas waits for its new pod to be ready, and a new pod is a standby).

Usage, inside a service's task group::

    port = await tg.start(serve_ops, settings.ops_port, {"nats": nats_ok, "redis": redis_ok},
                          {"nats": nats_open(nc)})
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

import anyio
import structlog
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CHECK_TIMEOUT_S", "Check", "Role", "serve_ops"]

log = structlog.get_logger("ee.ops")

Check = Callable[[], Awaitable[bool]]
Role = Callable[[], str]
CHECK_TIMEOUT_S = 1.0
_MAX_REQUEST = 8192
_READ_TIMEOUT_S = 5.0
_JSON = "application/json"


async def _run_checks(checks: Mapping[str, Check]) -> dict[str, bool]:
    results = dict.fromkeys(checks, False)

    async def run(name: str, check: Check) -> None:
        try:
            with anyio.fail_after(CHECK_TIMEOUT_S):
                results[name] = bool(await check())
        except Exception:
            results[name] = False

    async with anyio.create_task_group() as tg:
        for name, check in checks.items():
            tg.start_soon(run, name, check)
    return results


def _response(status: str, body: bytes, content_type: str, *, head: bool = False) -> bytes:
    header = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n")
    return header.encode() + (b"" if head else body)


async def _read_request_line(stream: SocketStream) -> str | None:
    request = b""
    try:
        with anyio.fail_after(_READ_TIMEOUT_S):
            while b"\r\n\r\n" not in request and len(request) < _MAX_REQUEST:
                request += await stream.receive(4096)
    except (anyio.EndOfStream, anyio.BrokenResourceError, TimeoutError):
        if b"\r\n" not in request:
            return None
    return request.split(b"\r\n", 1)[0].decode("latin-1")


async def _reply(line: str, checks: Mapping[str, Check], alive: Mapping[str, Check] | None = None,
                 role: Role | None = None) -> bytes:
    parts = line.split(" ")
    method = parts[0]
    path, _, query = (parts[1] if len(parts) > 1 else "/").partition("?")
    if method not in ("GET", "HEAD"):
        return _response("405 Method Not Allowed", b'{"error":"method not allowed"}', _JSON)
    head = method == "HEAD"
    if path == "/metrics":
        return _response("200 OK", generate_latest(), CONTENT_TYPE_LATEST, head=head)
    if path == "/healthz":
        if not alive:
            return _response("200 OK", b'{"status":"ok"}', _JSON, head=head)
        results = await _run_checks(alive)
        if all(results.values()):
            return _response("200 OK", b'{"status":"ok"}', _JSON, head=head)
        failing = {"status": "failing", **results}
        return _response("503 Service Unavailable", json.dumps(failing).encode(), _JSON, head=head)
    if path == "/readyz":
        results = await _run_checks(checks)
        ready = all(results.values())
        body: dict[str, object] = dict(results)
        if role is not None:
            body = {"role": role(), **results}
            ready = ready and (body["role"] == "active"
                               or (body["role"] == "standby" and "standby=ready" in query.split("&")))
        status = "200 OK" if ready else "503 Service Unavailable"
        return _response(status, json.dumps(body).encode(), _JSON, head=head)
    return _response("404 Not Found", b'{"error":"not found"}', _JSON, head=head)


async def _handle(stream: SocketStream, checks: Mapping[str, Check],
                  alive: Mapping[str, Check] | None = None, role: Role | None = None) -> None:
    async with stream:
        line = await _read_request_line(stream)
        if line is None:
            return
        reply = await _reply(line, checks, alive, role)
        try:
            await stream.send(reply)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return


async def serve_ops(port: int, checks: Mapping[str, Check], alive: Mapping[str, Check] | None = None, *,
                    role: Role | None = None,
                    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
    """Serve on ``0.0.0.0:port`` until cancelled; ``task_status`` gets the bound port (0 picks a free one).
    ``checks`` (and ``role``, if given) decide ``/readyz``, ``alive`` (if any) ``/healthz``."""
    listener = await anyio.create_tcp_listener(local_host="0.0.0.0", local_port=port)
    async with listener:
        bound: int = listener.extra(SocketAttribute.local_port)
        log.info("ops endpoint listening", port=bound, paths=["/metrics", "/healthz", "/readyz"])
        task_status.started(bound)

        async def handle(stream: SocketStream) -> None:
            try:
                await _handle(stream, checks, alive, role)
            except Exception:  # one bad request must not take the service down
                log.exception("ops request failed")

        await listener.serve(handle)
