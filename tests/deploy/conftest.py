"""Fixtures of the deploy checks, independent of the rest of the suite's conftest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ee.servers import ServerProcess, nats_server, redis_server


@pytest.fixture(scope="module")
def private_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A nats-server (JetStream) and a redis-server (AOF) of this module's own, on free ports."""
    root: Path = tmp_path_factory.mktemp("deploy-servers")
    nats = nats_server(root / "nats").start()
    try:
        redis = redis_server(root / "redis").start()
    except BaseException:
        nats.stop()
        raise
    yield nats, redis
    nats.stop()
    redis.stop()
