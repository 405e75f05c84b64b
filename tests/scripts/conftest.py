"""One private redis-server for the script tests, emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from ee.servers import ServerProcess, redis_server


@pytest.fixture(scope="session")
def script_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = redis_server(tmp_path_factory.mktemp("script-redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(script_redis: ServerProcess) -> str:
    client = redis.Redis.from_url(script_redis.url)
    client.flushall()
    client.close()
    return script_redis.url
