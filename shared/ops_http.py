"""A small HTTP endpoint per service: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``.

``/healthz`` answers while the event loop runs (liveness); ``/readyz`` runs each
readiness check (NATS and Redis reachability) with a one-second limit and
answers 200 only when all pass, with a JSON body naming each.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

import anyio
import structlog
from anyio.abc import SocketStream, TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["serve_ops"]

log = structlog.get_logger("ee.ops")

Check = Callable[[], Awaitable[bool]]
MAX_REQUEST = 8192


async def _run_checks(checks: Mapping[str, Check]) -> dict[str, bool]:
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            with anyio.fail_after(1.0):
                results[name] = bool(await check())
        except Exception:
            results[name] = False
    return results


def _response(status: str, body: bytes, content_type: str) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


async def _handle(stream: SocketStream, checks: Mapping[str, Check]) -> None:
    async with stream:
        try:
            with anyio.fail_after(5):
                request = b""
                while b"\r\n\r\n" not in request and len(request) < MAX_REQUEST:
                    request += await stream.receive(4096)
        except (anyio.EndOfStream, anyio.BrokenResourceError, TimeoutError):
            return
        line = request.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        path = parts[1].split("?", 1)[0] if len(parts) > 1 else "/"
        if path == "/metrics":
            reply = _response("200 OK", generate_latest(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            reply = _response("200 OK", b'{"status":"ok"}', "application/json")
        elif path == "/readyz":
            results = await _run_checks(checks)
            status = "200 OK" if all(results.values()) else "503 Service Unavailable"
            reply = _response(status, json.dumps(results).encode(), "application/json")
        else:
            reply = _response("404 Not Found", b'{"error":"not found"}', "application/json")
        try:
            await stream.send(reply)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return


async def serve_ops(port: int, checks: Mapping[str, Check], *,
                    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; ``task_status`` gets the bound port (0 picks a free one)."""
    listener = await anyio.create_tcp_listener(local_host="0.0.0.0", local_port=port, reuse_port=False)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    log.info("ops endpoint listening", port=bound, paths=["/metrics", "/healthz", "/readyz"])
    task_status.started(bound)

    async def handle(stream: SocketStream) -> None:
        await _handle(stream, checks)

    await listener.serve(handle)
