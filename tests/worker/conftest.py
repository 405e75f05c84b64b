"""A private nats-server for the worker tests; fresh streams for each test."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from ee.servers import ServerProcess, nats_server
from shared import names
from shared.config import Settings
from shared.messages import ActivityResult, ActivityTask, Codec, encode
from worker.streams import ensure_streams

_results = Codec(ActivityResult, names.ACTIVITY_RESPONSE)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def nats_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = nats_server(tmp_path_factory.mktemp("worker-nats")).start()
    yield server
    server.stop()


async def wait_for(check: Callable[[], Any], within: float = 5.0, what: str = "") -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, or fail after ``within`` s."""
    with anyio.fail_after(within):
        while True:
            value = check()
            if isinstance(value, Awaitable):
                value = await value
            if value:
                return value
            await anyio.sleep(0.02)
    raise AssertionError(what)  # pragma: no cover


@dataclass
class Bus:
    """A test's view of NATS: publish tasks, read results."""

    url: str
    nc: NATS
    js: JetStreamContext
    ledger: Path
    results_sub: Any = None

    def settings(self, **values: Any) -> Settings:
        base: dict[str, Any] = {"nats_url": self.url, "shutdown_grace_s": 5.0}
        base.update(values)
        return Settings(**base)

    async def task(self, activity: str, event_id: str, attempt: int = 1, subject: str | None = None,
                   **fields: Any) -> ActivityTask:
        task = ActivityTask(event_id=event_id, attempt=attempt, job_id=event_id.split("~")[0],
                            activity=activity, **fields)
        await self.js.publish(subject or names.activity_subject(activity), encode(task))
        return task

    async def result(self, within: float = 5.0) -> ActivityResult:
        msg = await self.results_sub.next_msg(timeout=within)
        return _results.decode(msg.data)

    async def results(self, count: int, within: float = 5.0) -> dict[tuple[str, int], ActivityResult]:
        found: dict[tuple[str, int], ActivityResult] = {}
        with anyio.fail_after(within):
            while len(found) < count:
                result = await self.result(within)
                found[(result.event_id, result.attempt)] = result
        return found

    def runs(self) -> list[dict[str, Any]]:
        """Lines of the demo ledger: one per activity run, written when it starts."""
        if not self.ledger.exists():
            return []
        return [json.loads(line) for line in self.ledger.read_text().splitlines() if line]


@pytest.fixture
async def bus(nats_proc: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Bus]:
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("EE_DEMO_LEDGER", str(ledger))
    nc = await nats.connect(nats_proc.url)
    js = nc.jetstream()
    for stream in (names.STREAM_ACTIVITIES, names.STREAM_RESPONSES, names.STREAM_CLAIMS):
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
    await ensure_streams(js)
    b = Bus(nats_proc.url, nc, js, ledger)
    b.results_sub = await js.subscribe(names.ACTIVITY_RESPONSE)
    yield b
    await nc.close()
