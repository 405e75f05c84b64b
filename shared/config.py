"""Service configuration: flags, then ``EE_*`` environment variables, then defaults.

Credentials travel inside the URLs (``nats://user:pass@host``,
``rediss://user:pass@host``) or in files named by ``EE_NATS_CREDS`` /
``EE_NATS_NKEY_SEED_FILE`` / ``EE_NATS_TOKEN_FILE`` / ``EE_REDIS_PASSWORD_FILE``;
they are never logged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shared.errors import ConfigError

__all__ = ["STACK_FILE", "Settings", "load_settings", "redact_url"]

STACK_FILE = Path(".ee") / "stack.json"
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
    shutdown_grace_s: float = 30.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    activity_ack_wait_s: float = 30.0
    strand_after: int = 6
    jobs_ack_wait_s: float = 10.0
    jobs_redelivery_max_s: float = 5.0
    gauge_interval_s: float = 5.0
    history_max: int = 10_000
    # Where this process's replies arrive (``<prefix>.<random>``). Give each NATS user its own
    # (``_INBOX_worker``) and let it subscribe to that alone: nobody reads another's replies.
    nats_inbox_prefix: str = "_INBOX"

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
        if self.shutdown_grace_s < 0:
            raise ConfigError("EE_SHUTDOWN_GRACE_S", self.shutdown_grace_s, "must be >= 0")
        if not self.jobs_redelivery_max_s > 0:
            raise ConfigError("EE_JOBS_REDELIVERY_MAX_S", self.jobs_redelivery_max_s, "must be positive")
        if self.gauge_interval_s <= 0:
            raise ConfigError("EE_GAUGE_INTERVAL_S", self.gauge_interval_s, "must be positive")
        if self.history_max < 10:
            raise ConfigError("EE_HISTORY_MAX", self.history_max, "must be at least 10 (entries per job)")
        if (not self.nats_inbox_prefix or self.nats_inbox_prefix.endswith(".")
                or any(c in self.nats_inbox_prefix for c in " \t\r\n*>") or ".." in self.nats_inbox_prefix):
            raise ConfigError("EE_NATS_INBOX_PREFIX", self.nats_inbox_prefix,
                              "must be non-empty subject tokens without wildcards or spaces")
        if not 0 <= self.ops_port <= 65535:
            raise ConfigError("EE_OPS_PORT", self.ops_port, "must be a TCP port or 0 (off)")

    def with_overrides(self, **values: object) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


def _stack_file_urls() -> dict[str, str]:
    """URLs recorded by ``ee up`` in the current folder, if any."""
    try:
        data = json.loads(STACK_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _number(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(env, raw, "must be a number") from exc


def load_settings(
    nats_url: str | None = None,
    redis_url: str | None = None,
    redis_prefix: str | None = None,
    *,
    default_ops_port: int = 0,
) -> Settings:
    """Settings from flags (arguments), then env, then the ``ee up`` stack file, then defaults."""
    stack = _stack_file_urls()
    defaults = Settings()
    token = os.environ.get("EE_NATS_TOKEN") or _read_file(os.environ.get("EE_NATS_TOKEN_FILE"))
    return Settings(
        nats_url=nats_url or os.environ.get("EE_NATS_URL") or stack.get("nats_url") or defaults.nats_url,
        redis_url=redis_url or os.environ.get("EE_REDIS_URL") or stack.get("redis_url") or defaults.redis_url,
        redis_prefix=redis_prefix or os.environ.get("EE_REDIS_PREFIX") or defaults.redis_prefix,
        nats_creds=os.environ.get("EE_NATS_CREDS") or None,
        nats_nkey_seed_file=os.environ.get("EE_NATS_NKEY_SEED_FILE") or None,
        nats_token=token,
        nats_tls_ca=os.environ.get("EE_NATS_TLS_CA") or None,
        redis_password=_read_file(os.environ.get("EE_REDIS_PASSWORD_FILE")),
        build=os.environ.get("EE_BUILD", ""),
        ops_port=int(_number("EE_OPS_PORT", default_ops_port)),
        wake_lease_s=_number("EE_WAKE_LEASE_S", defaults.wake_lease_s),
        shutdown_grace_s=_number("EE_SHUTDOWN_GRACE_S", defaults.shutdown_grace_s),
        max_payload_bytes=int(_number("EE_MAX_PAYLOAD_BYTES", defaults.max_payload_bytes)),
        activity_ack_wait_s=_number("EE_ACTIVITY_ACK_WAIT_S", defaults.activity_ack_wait_s),
        strand_after=int(_number("EE_STRAND_AFTER", defaults.strand_after)),
        jobs_ack_wait_s=_number("EE_JOBS_ACK_WAIT_S", defaults.jobs_ack_wait_s),
        jobs_redelivery_max_s=_number("EE_JOBS_REDELIVERY_MAX_S", defaults.jobs_redelivery_max_s),
        gauge_interval_s=_number("EE_GAUGE_INTERVAL_S", defaults.gauge_interval_s),
        history_max=int(_number("EE_HISTORY_MAX", defaults.history_max)),
        nats_inbox_prefix=os.environ.get("EE_NATS_INBOX_PREFIX") or defaults.nats_inbox_prefix,
    )
