"""The worker's own settings: where NATS is, how to log in, how much to run at once.

A bot needs none of the engine's Redis or lease settings, so this is all it is asked
for. :meth:`WorkerSettings.load` reads them like every ``ee`` command reads its own:
arguments, then the environment (the same ``EE_NATS_*`` variables as the engine, see
docs/security.md), then the stack file of ``ee up``, then the defaults below.

- ``nats_url``: ``EE_NATS_URL``, else the stack file's, else ``nats://127.0.0.1:4222``;
- ``nats_creds``, ``nats_nkey_seed_file``, ``nats_token``, ``nats_tls_ca``: ``EE_NATS_CREDS``,
  ``EE_NATS_NKEY_SEED_FILE``, ``EE_NATS_TOKEN`` / ``EE_NATS_TOKEN_FILE``, ``EE_NATS_TLS_CA``;
- ``concurrency``: ``EE_WORKER_CONCURRENCY``, 64 activities at once;
- ``activity_ack_wait_s``: ``EE_ACTIVITY_ACK_WAIT_S``, 30 (a task neither acked nor kept
  alive for that long is delivered again; the worker keeps running ones alive, every quarter of it);
- ``shutdown_grace_s``: ``EE_SHUTDOWN_GRACE_S``, 30 (on stop, running activities get that long);
- ``bot_lease_s``: ``EE_BOT_LEASE_S``, 15, at most 3,600 (a bot silent that long is lost to its pool);
- ``max_payload_bytes``: ``EE_MAX_PAYLOAD_BYTES``, 1 MiB (a larger result is reported as an error);
- ``ops_port``: ``EE_OPS_PORT``, 0 (no ``/healthz`` and ``/metrics``);
- ``nats_inbox_prefix``: ``EE_NATS_INBOX_PREFIX``, ``_INBOX`` (where replies arrive: give each
  NATS user its own, ``_INBOX_worker``, as deploy/nats/auth.conf does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace

from shared.bounds import MAX_BOT_LEASE_S
from shared.config import MAX_PAYLOAD_BYTES, Settings, load_settings
from shared.errors import ConfigError

__all__ = ["WorkerSettings"]


@dataclass(frozen=True)
class WorkerSettings:
    nats_url: str = Settings.nats_url
    nats_creds: str | None = None
    nats_nkey_seed_file: str | None = None
    nats_token: str | None = field(default=None, repr=False)
    nats_tls_ca: str | None = None
    concurrency: int = 64
    activity_ack_wait_s: float = 30.0
    shutdown_grace_s: float = 30.0
    bot_lease_s: float = 15.0
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    ops_port: int = 0
    nats_inbox_prefix: str = Settings.nats_inbox_prefix

    def __post_init__(self) -> None:
        for setting, value, ok, rule in (
            ("EE_WORKER_CONCURRENCY", self.concurrency, self.concurrency >= 1, "must be at least 1"),
            ("EE_ACTIVITY_ACK_WAIT_S", self.activity_ack_wait_s, self.activity_ack_wait_s > 0, "must be positive"),
            ("EE_SHUTDOWN_GRACE_S", self.shutdown_grace_s, self.shutdown_grace_s >= 0, "must be >= 0"),
            ("EE_BOT_LEASE_S", self.bot_lease_s, 0 < self.bot_lease_s <= MAX_BOT_LEASE_S,
             f"must be positive and at most {MAX_BOT_LEASE_S:g}"),
            ("EE_MAX_PAYLOAD_BYTES", self.max_payload_bytes, self.max_payload_bytes > 0, "must be positive"),
        ):
            if not ok:
                raise ConfigError(setting, value, rule)
        self.connection()  # the URL's scheme and the credential options, checked as the engine checks them

    @classmethod
    def load(cls, nats_url: str | None = None, *, engine: Settings | None = None,
             **overrides: object) -> WorkerSettings:
        """Arguments (``nats_url`` and any field by name), then env, then the stack file.

        ``engine``: settings already loaded the engine's way (``ee worker`` passes its own);
        the worker's own variables are still read from the environment."""
        engine = engine or load_settings(nats_url)
        return cls.from_settings(engine, **_own_env()).with_overrides(nats_url=nats_url, **overrides)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> WorkerSettings:
        """The worker's part of the engine's settings (what ``ee worker`` and the tests pass)."""
        names = {f.name for f in fields(cls)} & {f.name for f in fields(Settings)}
        return cls(**{name: getattr(settings, name) for name in names}).with_overrides(**overrides)

    def with_overrides(self, **values: object) -> WorkerSettings:
        """A copy with the values that are not None; an unknown name is a TypeError."""
        unknown = set(values) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown worker settings {sorted(unknown)}; known: {[f.name for f in fields(self)]}")
        return replace(self, **{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]

    def connection(self) -> Settings:
        """The settings ``shared.connect.connect_nats`` takes (no Redis is ever reached with them)."""
        return Settings(nats_url=self.nats_url, nats_creds=self.nats_creds,
                        nats_nkey_seed_file=self.nats_nkey_seed_file, nats_token=self.nats_token,
                        nats_tls_ca=self.nats_tls_ca, max_payload_bytes=self.max_payload_bytes,
                        activity_ack_wait_s=self.activity_ack_wait_s, shutdown_grace_s=self.shutdown_grace_s,
                        ops_port=self.ops_port, nats_inbox_prefix=self.nats_inbox_prefix)


# The worker's settings that the engine's Settings do not carry, read from the environment
# here: (field, variable, type, what the value must be).
_OWN_ENV: tuple[tuple[str, str, type[int] | type[float], str], ...] = (
    ("concurrency", "EE_WORKER_CONCURRENCY", int, "a whole number"),
    ("bot_lease_s", "EE_BOT_LEASE_S", float, "a number"),
)


def _own_env() -> dict[str, object]:
    """The values of ``_OWN_ENV`` that are set (an empty variable counts as unset)."""
    found: dict[str, object] = {}
    for name, variable, kind, what in _OWN_ENV:
        raw = os.environ.get(variable, "")
        if raw:
            try:
                found[name] = kind(raw)
            except ValueError:
                raise ConfigError(variable, raw, f"must be {what}") from None
    return found
