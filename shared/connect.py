"""Connections to NATS and Redis with the engine's settings.

Both reconnect by themselves: NATS forever with backoff, Redis per command
with exponential backoff retries, so a restarted server is picked up again
without restarting the service.
"""

from __future__ import annotations

import ssl
from typing import Any

import nats
import redis.asyncio as aioredis
import structlog
from nats.aio.client import Client as NATS
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.config import Settings, redact_url
from shared.errors import EngineUnavailable

__all__ = ["connect_nats", "connect_redis"]

log = structlog.get_logger("ee.connect")


async def connect_nats(settings: Settings, name: str, *, patient: bool = True) -> NATS:
    """A NATS client. A patient one (a service) waits for the server and reconnects forever;
    an impatient one (the CLI) fails after a few seconds with a clear error."""
    options: dict[str, Any] = {
        "servers": settings.nats_url.split(","),
        "name": name,
        "max_reconnect_attempts": -1 if patient else 1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "allow_reconnect": True,
        "ping_interval": 5,
        "max_outstanding_pings": 3,
    }
    if settings.nats_creds:
        options["user_credentials"] = settings.nats_creds
    if settings.nats_token:
        options["token"] = settings.nats_token
    if settings.nats_tls_ca:
        ctx = ssl.create_default_context(cafile=settings.nats_tls_ca)
        options["tls"] = ctx

    async def disconnected() -> None:
        log.warning("nats disconnected", url=redact_url(settings.nats_url))

    async def reconnected() -> None:
        log.info("nats reconnected", url=redact_url(settings.nats_url))

    async def error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    async def quiet(exc: Exception) -> None:
        return None

    if patient:
        options.update(disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error)
    else:
        options.update(error_cb=quiet)
    try:
        return await nats.connect(**options)
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        if "authorization" in reason.lower():
            reason = "authorization violation: check the user, password, token or creds file"
        raise EngineUnavailable(f"NATS at {redact_url(settings.nats_url)}", reason) from exc


def connect_redis(settings: Settings) -> aioredis.Redis:
    """A Redis client whose commands retry with backoff through a server restart."""
    kwargs: dict[str, Any] = {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=12),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, ConnectionResetError],
        "socket_connect_timeout": 2,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "max_connections": 64,
    }
    if settings.redis_password:
        kwargs["password"] = settings.redis_password
    client: aioredis.Redis = aioredis.Redis.from_url(settings.redis_url, **kwargs)
    return client
