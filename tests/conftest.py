"""Real nats-server and redis-server for the whole session, fresh state for each test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from ee.servers import ServerProcess, nats_server, redis_server
from shared import names
from tests.support.cli import InProcessEe
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    root = tmp_path_factory.mktemp("servers")
    n = nats_server(root / "nats").start()
    r = redis_server(root / "redis").start()
    yield n, r
    n.stop()
    r.stop()


def reset(n: ServerProcess, r: ServerProcess) -> None:
    """Drop every engine stream and key so each test starts from nothing."""
    async def go() -> None:
        nc = await nats.connect(n.url)
        js = nc.jetstream()
        for stream in (names.STREAM_JOBS, names.STREAM_ACTIVITIES, names.STREAM_RESPONSES, names.STREAM_CLAIMS):
            with contextlib.suppress(Exception):
                await js.delete_stream(stream)
        with contextlib.suppress(Exception):
            await js.delete_key_value(names.WORKERS_BUCKET)  # earlier tests' workers
        await nc.close()

    asyncio.run(go())
    import redis

    redis.Redis.from_url(r.url).flushall()


@pytest.fixture
def stack(servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> Iterator[Stack]:
    """Shared servers, reset; no services started (tests start what they need)."""
    n, r = servers
    reset(n, r)
    s = Stack(n, r, tmp_path)
    yield s
    s.stop_all()


@pytest.fixture
def engine(stack: Stack) -> Stack:
    """Reactor, executor and demo worker running."""
    return stack.up()


@pytest.fixture(scope="module")
def module_engine(servers: tuple[ServerProcess, ServerProcess],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Reactor, executor and demo worker shared by every test of one module, each serving
    ``/healthz`` (``Service.ops_port``): for suites of many short probes of one running engine.
    The servers are reset once, before the module."""
    n, r = servers
    reset(n, r)
    s = Stack(n, r, tmp_path_factory.mktemp("module-engine"), ops=True)
    try:
        yield s.up()
    finally:
        s.stop_all()


@pytest.fixture
def ee_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcessEe:
    """``ee`` commands run in this process (``tests.support.cli``): ``ee_main(*args, env=..., cwd=...)``."""
    return InProcessEe(monkeypatch, capsys)


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[Stack]:
    """Servers of this test alone, free to be killed and restarted."""
    n = nats_server(tmp_path / "nats").start()
    r = redis_server(tmp_path / "redis").start()
    s = Stack(n, r, tmp_path)
    yield s
    s.stop_all()
    n.stop()
    r.stop()


# The long modules (kills, restarts and lapsing leases; whole `ee up` stacks) run first: with two
# test processes (make test, a module to one process at a time) the short ones then fill in at
# the end and both finish together, rather than one idling while the other runs the soak test.
_FIRST = ("faults", "deploy")
_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        folder = item.path.relative_to(_TESTS).parts[0] if item.path.is_relative_to(_TESTS) else ""
        return _FIRST.index(folder) if folder in _FIRST else len(_FIRST)

    items.sort(key=rank)  # stable: collection order within each rank


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what tests recorded as ``record_property("summary", ...)`` (the soak test's counts
    and duration), also under ``-q``."""
    lines = [str(value) for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", "") == "call"
             for name, value in getattr(report, "user_properties", ()) if name == "summary"]
    if lines:
        terminalreporter.write_sep("-", "engine summary")
        for line in lines:
            terminalreporter.write_line(line)
