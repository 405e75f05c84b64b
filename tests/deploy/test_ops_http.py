"""``shared.ops_http.serve_ops`` on a free port: liveness, readiness by checks, metrics, odd requests."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

import anyio
import pytest

from shared import metrics
from shared.ops_http import CHECK_TIMEOUT_S, serve_ops


async def ok() -> bool:
    return True


async def down() -> bool:
    return False


async def broken() -> bool:
    raise ConnectionError("refused")


async def stuck() -> bool:
    await anyio.sleep_forever()
    return True


async def request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(raw)
        data = b""
        try:
            while True:
                data += await stream.receive()
        except anyio.EndOfStream:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def run(checks: Mapping[str, Callable[[], Awaitable[bool]]],
        body: Callable[[int], Awaitable[None]], role: Callable[[], str] | None = None) -> None:
    async def main() -> None:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                port = await tg.start(partial(serve_ops, 0, checks, role=role))
                await body(port)
                tg.cancel_scope.cancel()
    anyio.run(main)


def test_healthz_and_metrics() -> None:
    metrics.JOBS_STARTED.inc(0)

    async def body(port: int) -> None:
        assert await request(port, get("/healthz")) == (200, {
            "Content-Type": "application/json", "Content-Length": "15", "Cache-Control": "no-store",
            "Connection": "close"}, b'{"status":"ok"}')
        status, headers, text = await request(port, get("/metrics"))
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert b"ee_jobs_started_total" in text and b"ee_park_seconds_bucket" in text

    run({"nats": broken}, body)  # liveness does not depend on the checks


@pytest.mark.parametrize(("checks", "status", "expected"), [
    ({"nats": ok, "redis": ok}, 200, {"nats": True, "redis": True}),
    ({"nats": ok, "redis": down}, 503, {"nats": True, "redis": False}),
    ({"nats": broken, "redis": ok}, 503, {"nats": False, "redis": True}),
    ({}, 200, {}),
], ids=["all-pass", "one-false", "one-raises", "no-checks"])
def test_readyz_names_each_check(checks: Mapping[str, Callable[[], Awaitable[bool]]], status: int,
                                 expected: dict[str, bool]) -> None:
    async def body(port: int) -> None:
        got, headers, text = await request(port, get("/readyz"))
        assert (got, json.loads(text)) == (status, expected)
        assert headers["Content-Type"] == "application/json"

    run(checks, body)


def test_readyz_gives_each_check_one_second_at_once() -> None:
    async def body(port: int) -> None:
        started = anyio.current_time()
        got, _, text = await request(port, get("/readyz"))
        elapsed = anyio.current_time() - started
        assert (got, json.loads(text)) == (503, {"nats": False, "redis": False, "reactor": True})
        assert CHECK_TIMEOUT_S <= elapsed < 2 * CHECK_TIMEOUT_S  # the stuck checks ran side by side

    run({"nats": stuck, "redis": stuck, "reactor": ok}, body)


def test_odd_requests_get_an_answer_and_the_server_keeps_serving() -> None:
    async def body(port: int) -> None:
        assert (await request(port, get("/nope")))[0] == 404
        assert (await request(port, get("/healthz?verbose=1")))[0] == 200
        assert (await request(port, get("/healthz", "POST")))[0] == 405
        status, headers, text = await request(port, get("/healthz", "HEAD"))
        assert (status, headers["Content-Length"], text) == (200, "15", b"")
        assert (await request(port, b"garbage\r\n\r\n"))[0] == 405
        async with await anyio.connect_tcp("127.0.0.1", port):
            pass  # connect and hang up without a request
        assert (await request(port, get("/healthz")))[0] == 200

    run({}, body)


@pytest.mark.parametrize(("role", "path", "status"), [
    ("active", "/readyz", 200),
    ("standby", "/readyz", 503),
    ("standby", "/readyz?standby=ready", 200),
    ("starting", "/readyz?standby=ready", 503),
], ids=["active", "standby", "standby-counted-ready", "starting"])
def test_readyz_names_the_role_and_a_standby_is_not_ready(role: str, path: str, status: int) -> None:
    async def body(port: int) -> None:
        got, _, text = await request(port, get(path))
        assert (got, json.loads(text)) == (status, {"role": role, "nats": True})
        assert (await request(port, get("/healthz")))[0] == 200  # alive all the same

    run({"nats": ok}, body, role=lambda: role)
