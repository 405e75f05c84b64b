"""Service configuration: flags, then ``EE_*`` environment variables, then defaults.

Credentials travel inside the URLs (``nats://user:pass@host``,
``rediss://user:pass@host``) or in files named by ``EE_NATS_CREDS`` /
``EE_NATS_NKEY_SEED_FILE`` / ``EE_NATS_TOKEN_FILE`` / ``EE_REDIS_PASSWORD_FILE``;
they are never logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from shared.durations import parse_duration
from shared.errors import ConfigError, StackNotFound
from shared.stackfile import STACK_FILE, StackRecord, find_stack, pid_alive

__all__ = ["STACK_FILE", "Settings", "UrlName", "load_settings", "redact_url"]

UrlName = Literal["nats", "redis"]
MAX_PAYLOAD_BYTES = 1 << 20


def redact_url(url: str) -> str:
    """The URL with any password or token replaced, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}" if user else f"***@{host}",
                       parts.path, parts.query, parts.fragment))


def _read_file(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError("file", path, f"cannot read: {exc.strerror}") from exc


@dataclass(frozen=True)
class Settings:
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "ee:"
    nats_creds: str | None = None
    nats_nkey_seed_file: str | None = None
    nats_token: str | None = field(default=None, repr=False)
    nats_tls_ca: str | None = None
    redis_password: str | None = field(default=None, repr=False)
    build: str = ""
    ops_port: int = 0
    wake_lease_s: float = 10.0
    # The active reactor's lease in Redis (reactor.leader): renewed every third of it; a
    # standby takes over at most this long after the active one died.
    reactor_lease_s: float = 5.0
    shutdown_grace_s: float = 30.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    activity_ack_wait_s: float = 30.0
    strand_after: int = 6
    jobs_ack_wait_s: float = 10.0
    jobs_redelivery_max_s: float = 5.0
    gauge_interval_s: float = 5.0
    history_max: int = 10_000
    # How long a finished job (its hash, history and inbox) is kept: a TTL set by the step that
    # finishes it, and the reactor's sweep of the job indexes (reactor.retention.retention_loop).
    # 0 keeps finished jobs forever.
    retention_s: float = 7 * 86400.0
    # Where this process's replies arrive (``<prefix>.<random>``). Give each NATS user its own
    # (``_INBOX_worker``) and let it subscribe to that alone: nobody reads another's replies.
    nats_inbox_prefix: str = "_INBOX"
    # Where the URLs came from when the stack file gave them (its path), for messages.
    stack_file: str = ""
    # URLs that neither flags, env nor a live stack file gave, for a caller that asked for no
    # defaults: ``require`` refuses them with ``unresolved_reason`` (so a command that needs
    # only NATS is not refused for a missing Redis URL).
    unresolved: tuple[str, ...] = ()
    unresolved_reason: str = field(default="", repr=False)

    def require(self, *which: UrlName) -> Settings:
        """These settings, if they hold a real URL for each of ``which``; else StackNotFound."""
        if any(w in self.unresolved for w in which):
            raise StackNotFound(self.unresolved_reason)
        return self

    def __post_init__(self) -> None:
        for name, url, schemes in (
            ("EE_NATS_URL", self.nats_url, ("nats", "tls", "ws", "wss")),
            ("EE_REDIS_URL", self.redis_url, ("redis", "rediss", "unix")),
        ):
            for one in url.split(","):
                scheme = urlsplit(one.strip()).scheme
                if scheme not in schemes:
                    raise ConfigError(name, redact_url(one), f"scheme must be one of {schemes}")
        if self.nats_creds and self.nats_nkey_seed_file:
            raise ConfigError("EE_NATS_NKEY_SEED_FILE", self.nats_nkey_seed_file,
                              "give either EE_NATS_CREDS (JWT + nkey seed) or an nkey seed file, not both")
        if not self.redis_prefix or any(c in self.redis_prefix for c in " {}"):
            raise ConfigError("EE_REDIS_PREFIX", self.redis_prefix, "must be non-empty, no spaces or braces")
        if self.wake_lease_s <= 0:
            raise ConfigError("EE_WAKE_LEASE_S", self.wake_lease_s, "must be positive")
        if not self.reactor_lease_s >= 0.5:
            raise ConfigError("EE_REACTOR_LEASE_S", self.reactor_lease_s, "must be at least 0.5 (seconds)")
        if self.shutdown_grace_s < 0:
            raise ConfigError("EE_SHUTDOWN_GRACE_S", self.shutdown_grace_s, "must be >= 0")
        if not self.jobs_redelivery_max_s > 0:
            raise ConfigError("EE_JOBS_REDELIVERY_MAX_S", self.jobs_redelivery_max_s, "must be positive")
        if self.gauge_interval_s <= 0:
            raise ConfigError("EE_GAUGE_INTERVAL_S", self.gauge_interval_s, "must be positive")
        if self.history_max < 10:
            raise ConfigError("EE_HISTORY_MAX", self.history_max, "must be at least 10 (entries per job)")
        if self.retention_s < 0 or (0 < self.retention_s < 1):
            raise ConfigError("EE_RETENTION", self.retention_s, "must be 0 (keep forever) or at least 1s")
        if (not self.nats_inbox_prefix or self.nats_inbox_prefix.endswith(".")
                or any(c in self.nats_inbox_prefix for c in " \t\r\n*>") or ".." in self.nats_inbox_prefix):
            raise ConfigError("EE_NATS_INBOX_PREFIX", self.nats_inbox_prefix,
                              "must be non-empty subject tokens without wildcards or spaces")
        if not 0 <= self.ops_port <= 65535:
            raise ConfigError("EE_OPS_PORT", self.ops_port, "must be a TCP port or 0 (off)")

    def with_overrides(self, **values: object) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


_DEFAULT_URLS_HINT = ("or give --nats-url and --redis-url (env EE_NATS_URL, EE_REDIS_URL), or --default-urls "
                      "(env EE_DEFAULT_URLS=1) for nats://127.0.0.1:4222 and redis://127.0.0.1:6379/0")


def _no_stack_reason(stack: StackRecord | None) -> str:
    if stack is None:
        return (f"no stack found: no {STACK_FILE} in {Path.cwd()} or any folder above it; start one with "
                f"`ee up`, {_DEFAULT_URLS_HINT}")
    left = [f"{name} pid {pid}" for name, pid in stack.pids.items() if pid_alive(pid)]
    leftovers = f" (still running: {', '.join(left)})" if left else ""
    return (f"the stack of {stack.path} is not running: its `ee up` (pid {stack.pid}) is gone{leftovers}; "
            f"start it again with `ee up` in {stack.path.parent.parent}, {_DEFAULT_URLS_HINT}")


def _truthy(env: str) -> bool:
    return os.environ.get(env, "").strip().lower() in ("1", "true", "yes", "on")


def _number(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(env, raw, "must be a number") from exc


def _duration(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise ConfigError(env, raw, str(exc)) from exc


def load_settings(
    nats_url: str | None = None,
    redis_url: str | None = None,
    redis_prefix: str | None = None,
    *,
    default_ops_port: int = 0,
    default_urls: bool = True,
) -> Settings:
    """Settings from flags (arguments), then env, then the ``ee up`` stack file found in the
    current folder or one above it (while its ``ee up`` runs), then defaults.

    ``default_urls=False`` (the ``ee`` commands and the public client): a URL found nowhere is
    not replaced by the default, which would be whatever runs on this machine's standard
    ports, unless ``EE_DEFAULT_URLS`` asks for it; ``Settings.require`` refuses it on use."""
    flags_env = {"nats": nats_url or os.environ.get("EE_NATS_URL"),
                 "redis": redis_url or os.environ.get("EE_REDIS_URL")}
    found = None if all(flags_env.values()) else find_stack()
    stack = found if found is not None and found.alive else None
    default_urls = default_urls or _truthy("EE_DEFAULT_URLS")
    defaults = Settings()
    urls = {"nats": defaults.nats_url, "redis": defaults.redis_url}
    unresolved: list[str] = []
    from_stack = False
    for which, given in flags_env.items():
        if given:
            urls[which] = given
        elif stack is not None and (recorded := stack.url(which)):
            urls[which], from_stack = recorded, True
        elif not default_urls:
            unresolved.append(which)
    token = os.environ.get("EE_NATS_TOKEN") or _read_file(os.environ.get("EE_NATS_TOKEN_FILE"))
    return Settings(
        nats_url=urls["nats"],
        redis_url=urls["redis"],
        redis_prefix=redis_prefix or os.environ.get("EE_REDIS_PREFIX") or defaults.redis_prefix,
        nats_creds=os.environ.get("EE_NATS_CREDS") or None,
        nats_nkey_seed_file=os.environ.get("EE_NATS_NKEY_SEED_FILE") or None,
        nats_token=token,
        nats_tls_ca=os.environ.get("EE_NATS_TLS_CA") or None,
        redis_password=_read_file(os.environ.get("EE_REDIS_PASSWORD_FILE")),
        build=os.environ.get("EE_BUILD", ""),
        ops_port=int(_number("EE_OPS_PORT", default_ops_port)),
        wake_lease_s=_number("EE_WAKE_LEASE_S", defaults.wake_lease_s),
        reactor_lease_s=_number("EE_REACTOR_LEASE_S", defaults.reactor_lease_s),
        shutdown_grace_s=_number("EE_SHUTDOWN_GRACE_S", defaults.shutdown_grace_s),
        max_payload_bytes=int(_number("EE_MAX_PAYLOAD_BYTES", defaults.max_payload_bytes)),
        activity_ack_wait_s=_number("EE_ACTIVITY_ACK_WAIT_S", defaults.activity_ack_wait_s),
        strand_after=int(_number("EE_STRAND_AFTER", defaults.strand_after)),
        jobs_ack_wait_s=_number("EE_JOBS_ACK_WAIT_S", defaults.jobs_ack_wait_s),
        jobs_redelivery_max_s=_number("EE_JOBS_REDELIVERY_MAX_S", defaults.jobs_redelivery_max_s),
        gauge_interval_s=_number("EE_GAUGE_INTERVAL_S", defaults.gauge_interval_s),
        history_max=int(_number("EE_HISTORY_MAX", defaults.history_max)),
        retention_s=_duration("EE_RETENTION", defaults.retention_s),
        nats_inbox_prefix=os.environ.get("EE_NATS_INBOX_PREFIX") or defaults.nats_inbox_prefix,
        stack_file=str(stack.path) if from_stack and stack is not None else "",
        unresolved=tuple(unresolved),
        unresolved_reason=_no_stack_reason(found) if unresolved else "",
    )
