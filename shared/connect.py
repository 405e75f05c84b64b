"""Connections to NATS and Redis with the engine's settings.

Both reconnect by themselves: NATS forever with backoff, Redis per command
with exponential backoff retries, so a restarted server is picked up again
without restarting the service. What waiting cannot mend fails at once with a
message naming the setting and no secret: refused credentials, an unreadable
or malformed creds / nkey seed / CA file, a missing module.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import anyio
import nats
import nats.errors
import structlog
from nats.aio.client import Client as NATS

if TYPE_CHECKING:
    import redis.asyncio as aioredis

from shared import denials
from shared.config import Settings, redact_url
from shared.errors import ConfigError, CredentialsRefused, EngineUnavailable
from shared.retry import retrying

__all__ = [
    "check_redis", "close_nats", "connect_nats", "connect_redis", "nats_auth_options", "nats_open", "watch_nats"]

log = structlog.get_logger("ee.connect")


_REFUSED = ("authorization violation: the server refused the user, password, token, nkey or creds file")


def _auth_problem(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "authorization" in text or "authentication" in text


def _fatal(exc: BaseException) -> str | None:
    """Why connecting failed for good (a message without secrets), or None for a network
    problem that waiting may mend."""
    if _auth_problem(exc):
        return _REFUSED
    if isinstance(exc, ImportError):
        return f"module {exc.name!r} is missing (nkey and creds-file login need pip install 'nats-py[nkeys]')"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS certificate not trusted ({exc.verify_message}): set EE_NATS_TLS_CA to the CA bundle "
                "that signed the server's certificate")
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return f"cannot read {exc.filename}: {exc.strerror}"
    if isinstance(exc, (OSError, TimeoutError, nats.errors.Error)):
        return None
    return f"{type(exc).__name__}: {exc}"


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(setting, path, f"cannot read: {exc.strerror or exc}") from None


def _check_seed(setting: str, path: str, seed: bytes) -> None:
    """Refuse a seed nkeys cannot decode (the message shows no part of it)."""
    try:
        import nkeys
    except ImportError:
        raise ConfigError(setting, path, "nkey and creds-file login need the nkeys package: "
                          "pip install 'nats-py[nkeys]'") from None
    try:
        nkeys.from_seed(bytearray(seed.strip())).wipe()
    except Exception:
        raise ConfigError(setting, path, "holds no valid nkey seed (a user seed starts with 'SU')") from None


def nats_auth_options(settings: Settings) -> dict[str, Any]:
    """``nats.connect`` options for the creds file, nkey seed, token and CA bundle of the
    settings, each file checked first: a missing or malformed one is a ConfigError."""
    options: dict[str, Any] = {}
    if settings.nats_creds:
        lines = _read("EE_NATS_CREDS", settings.nats_creds).splitlines()
        marks = [i for i, line in enumerate(lines) if b"BEGIN USER NKEY SEED" in line]
        if not any(b"BEGIN NATS USER JWT" in line for line in lines) or not marks or marks[0] + 1 >= len(lines):
            raise ConfigError("EE_NATS_CREDS", settings.nats_creds,
                              "not a NATS .creds file (a user JWT and an nkey seed)")
        _check_seed("EE_NATS_CREDS", settings.nats_creds, lines[marks[0] + 1])
        options["user_credentials"] = settings.nats_creds
    if settings.nats_nkey_seed_file:
        seed = _read("EE_NATS_NKEY_SEED_FILE", settings.nats_nkey_seed_file)
        _check_seed("EE_NATS_NKEY_SEED_FILE", settings.nats_nkey_seed_file, seed)
        options["nkeys_seed"] = settings.nats_nkey_seed_file
    if settings.nats_token:
        options["token"] = settings.nats_token
    if settings.nats_tls_ca:
        try:
            options["tls"] = ssl.create_default_context(cafile=settings.nats_tls_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("EE_NATS_TLS_CA", settings.nats_tls_ca,
                              f"cannot load the CA bundle: {exc.strerror or exc}") from None
    return options


async def connect_nats(settings: Settings, name: str, *, patient: bool = True) -> NATS:
    """A NATS client. A patient one (a service) waits for the server to come up and, once
    connected, reconnects forever; an impatient one (the CLI) gives up after a few seconds.
    Refused credentials and broken credential files fail at once, with a message that
    shows no secret; only network trouble is waited out."""
    where = f"NATS at {redact_url(settings.nats_url)}"
    seen: list[BaseException] = []

    async def record(exc: Exception) -> None:
        seen.append(exc)

    options: dict[str, Any] = {
        "servers": settings.nats_url.split(","),
        "name": name,
        # Bounded for the first connect (the library would otherwise loop forever, even on
        # refused credentials); made unbounded once connected.
        "max_reconnect_attempts": 2,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "allow_reconnect": True,
        "ping_interval": 5,
        "max_outstanding_pings": 3,
        "error_cb": record,
        "inbox_prefix": settings.nats_inbox_prefix,
        **nats_auth_options(settings),
    }

    async def attempt() -> NATS:
        seen.clear()
        try:
            return await nats.connect(**options)
        except Exception as exc:
            causes = [*seen, exc]
            problem = next((e for e in causes if _auth_problem(e)), None) or next(
                (e for e in causes if _fatal(e) is not None), exc)
            fatal = _fatal(problem)
            if fatal == _REFUSED:
                raise CredentialsRefused(where, fatal) from exc
            if fatal is not None:
                raise EngineUnavailable(where, fatal) from exc
            if not patient:
                raise EngineUnavailable(where, str(problem) or type(problem).__name__) from exc
            log.warning("waiting for NATS", url=redact_url(settings.nats_url), error=str(problem))
            raise

    nc = await retrying(attempt, when=lambda exc: not isinstance(exc, EngineUnavailable), patience=None,
                        first_s=0.5, most_s=5.0)
    if patient:
        nc.options["max_reconnect_attempts"] = -1
        lost = _closed[nc] = anyio.Event()

        async def closed() -> None:
            lost.set()

        nc._closed_cb = closed

        async def disconnected() -> None:
            if nc.is_closed:  # closed on purpose (shutdown): nothing to warn about
                return
            log.warning("nats disconnected", url=redact_url(settings.nats_url))

        async def reconnected() -> None:
            log.info("nats reconnected", url=redact_url(settings.nats_url))

        nc._disconnected_cb = disconnected
        nc._reconnected_cb = reconnected

    async def error(exc: Exception) -> None:
        # A permissions violation fails the requests waiting on it (shared.denials).
        denied = denials.report(nc, exc)
        if patient:
            log.warning("nats permissions violation" if denied else "nats error", error=str(exc))

    nc._error_cb = error
    return nc


# Set when a service's connection closes: nats-py closes it for good, without reconnecting,
# when the server answers with a protocol error (-ERR: a publish over max_payload, a line
# over max_control_line, ...). The service's own close at shutdown sets it too, after the
# watchdog was cancelled.
_closed: WeakKeyDictionary[NATS, anyio.Event] = WeakKeyDictionary()


async def close_nats(nc: NATS) -> None:
    """Close ``nc`` at a service's stop, whatever state its connection is in.

    During an outage the socket is already gone, and nats-py's close raises the transport's
    ConnectionResetError while flushing it: a stop must not turn that into a traceback, so it
    is one warning line instead (nothing unsent could be sent anyway)."""
    if nc.is_closed:
        return
    try:
        await nc.close()
    except (OSError, nats.errors.Error) as exc:
        log.warning("nats closed uncleanly at shutdown", error=str(exc) or type(exc).__name__)


async def watch_nats(nc: NATS) -> None:
    """Run in a service's task group: raise EngineUnavailable once ``nc`` is closed for good,
    so that the service exits non-zero and its supervisor restarts it, instead of staying
    up deaf. (A client not made by a patient ``connect_nats`` is not watched.)"""
    lost = _closed.get(nc)
    if lost is None:
        await anyio.sleep_forever()
        return
    await lost.wait()
    why = str(nc.last_error) if nc.last_error else "closed"
    log.error("nats connection closed for good; exiting so that a supervisor restarts the service", error=why)
    raise EngineUnavailable("NATS", f"the connection was closed for good ({why}); exiting so that a "
                            "supervisor restarts the service")


def nats_open(nc: NATS) -> Callable[[], Awaitable[bool]]:
    """A liveness check (``/healthz``): false once ``nc`` is closed for good. A connection
    that is reconnecting is still alive; only a closed one never comes back."""
    async def check() -> bool:
        return not nc.is_closed

    return check


async def check_redis(client: aioredis.Redis, settings: Settings, *, patience_s: float = 30.0) -> None:
    """Reach Redis, waiting for it a while; wrong credentials fail at once with a clear message.

    The first pings go through a client of their own without retries: the service's client
    retries connection errors, and redis-py counts refused credentials as one of them."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import AuthenticationError, AuthorizationError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    where = f"Redis at {redact_url(settings.redis_url)}"
    probe = aioredis.Redis.from_url(settings.redis_url, password=settings.redis_password or None,
                                    socket_connect_timeout=2, socket_timeout=5,
                                    retry=Retry(ExponentialBackoff(), 0))

    async def ping() -> None:
        try:
            await probe.ping()
        # redis-py reads NOAUTH and WRONGPASS replies as AuthenticationError (a ConnectionError).
        except (AuthenticationError, AuthorizationError) as exc:
            raise CredentialsRefused(where, f"authentication failed ({exc}): check the user and password") from exc

    def away(exc: BaseException) -> bool:
        return isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError)

    def waiting(exc: BaseException) -> None:
        log.warning("waiting for Redis", url=redact_url(settings.redis_url), error=str(exc))

    try:
        await retrying(ping, when=away, patience=patience_s, first_s=0.5, most_s=2.0, waiting=waiting)
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise EngineUnavailable(where, str(exc) or "no answer") from exc
    finally:
        await probe.aclose()
    await client.ping()


@functools.cache
def _packed_connections() -> tuple[type[Any], type[Any]]:
    """Connection classes that pack commands with hiredis (C) instead of redis-py's
    pure-Python packer: on the reactor's hot path packing was about a quarter of its time.

    Built on first use, so that importing this module (the worker SDK does, for NATS)
    does not import Redis."""
    import hiredis
    import redis.asyncio as aioredis

    class HiredisPacking:
        def pack_command(self, *args: Any) -> list[bytes]:
            if isinstance(args[0], str) and " " in args[0]:
                args = (*args[0].split(), *args[1:])
            return [hiredis.pack_command(args)]

    class PackedConnection(HiredisPacking, aioredis.Connection):
        pass

    class PackedSSLConnection(HiredisPacking, aioredis.SSLConnection):
        pass

    return PackedConnection, PackedSSLConnection


def connect_redis(settings: Settings) -> aioredis.Redis:
    """A Redis client whose commands retry with backoff through a server restart."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    kwargs: dict[str, Any] = {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=12),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, ConnectionResetError],
        "socket_connect_timeout": 2,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }
    if settings.redis_password:
        kwargs["password"] = settings.redis_password
    # A blocking pool makes a burst wait for a free connection instead of failing.
    scheme = settings.redis_url.split(":", 1)[0]
    if scheme in ("redis", "rediss"):
        plain, tls = _packed_connections()
        kwargs["connection_class"] = tls if scheme == "rediss" else plain
    pool = aioredis.BlockingConnectionPool.from_url(settings.redis_url, max_connections=32, timeout=30, **kwargs)
    return aioredis.Redis(connection_pool=pool, **{k: v for k, v in kwargs.items() if k in ("retry",
                                                                                           "retry_on_error")})
