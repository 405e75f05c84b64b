"""A worker announces itself: who it is and what it serves, in the ``EE_WORKERS`` bucket.

Every worker (a bot or not) writes a :class:`~shared.messages.WorkerPresence` under its
instance id when it starts and again every third of the bucket's TTL, and deletes it when
it stops; the bucket ages out the entry of one that died. ``ee workers`` lists them, and
``ee events`` / ``ee status`` tell a parked activity no live worker serves.

Being seen is not needed to serve: an announcement that cannot be written (NATS away, a
user not allowed to publish ``$KV.EE_WORKERS.>``) is logged once and tried again, and the
worker goes on serving.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable

import anyio
import structlog
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from shared import clock
from shared.messages import WorkerPresence, encode
from shared.retry import retrying
from shared.streams import ensure_workers_bucket

__all__ = ["Presence"]

log = structlog.get_logger("ee.worker.presence")

WITHDRAW_PATIENCE_S = 2.0  # how long a stopping worker tries to delete its entry
RETRY_FIRST_S = 1.0  # after a failed announcement, the first retry; doubling up to RETRY_MAX_S
RETRY_MAX_S = 300.0


class Presence:
    """The announcements of one worker; ``describe`` gives what it serves at the moment."""

    def __init__(self, worker: str, instance: str, describe: Callable[[], dict[str, object]]) -> None:
        self.worker = worker
        self.instance = instance
        self._describe = describe
        self._started = clock.iso()
        self._kv: KeyValue | None = None
        self._withdrawn = False
        self._announcing: anyio.CancelScope | None = None  # made in the event loop

    def record(self) -> WorkerPresence:
        return WorkerPresence(worker=self.worker, instance=self.instance, host=socket.gethostname(),
                              pid=os.getpid(), started=self._started, seen=clock.iso(),
                              **self._describe())  # type: ignore[arg-type]

    async def announce(self, js: JetStreamContext) -> None:
        """Write the announcement now and then every third of the bucket's TTL, until cancelled."""
        if self._withdrawn:
            return
        with anyio.CancelScope() as self._announcing:
            await self._announce(js)

    async def _announce(self, js: JetStreamContext) -> None:
        failed: list[BaseException] = []

        async def put() -> float:
            try:
                if self._kv is None:
                    self._kv = await ensure_workers_bucket(js)
                ttl = (await self._kv.status()).ttl or 0.0
                await self._kv.put(self.instance, encode(self.record()))
                return ttl
            except Exception:
                self._kv = None  # the bucket may be gone (deleted): make sure of it next time
                raise

        def not_announced(exc: BaseException) -> None:
            if not failed:
                log.warning("worker not announced (ee workers will not list it); trying again",
                            worker=self.worker, error=repr(exc))
            failed.append(exc)

        while True:
            # Backing off: a user not allowed to write the bucket would otherwise fill the
            # server's and the worker's logs with one permissions violation per round.
            ttl = await retrying(put, when=lambda exc: isinstance(exc, Exception), patience=None,
                                 first_s=RETRY_FIRST_S, most_s=RETRY_MAX_S, waiting=not_announced)
            if failed:
                log.info("worker announced again", worker=self.worker)
                failed.clear()
            await anyio.sleep(max(ttl / 3, 0.1) if ttl else 10.0)

    async def withdraw(self) -> None:
        """Delete the announcement (stopping: the worker takes no new task). Idempotent, bounded."""
        if self._withdrawn:
            return
        self._withdrawn = True
        # Stopped first: a put still in flight was written to the connection before the
        # delete, and NATS keeps one connection's messages in order.
        if self._announcing is not None:
            self._announcing.cancel()
        kv = self._kv
        if kv is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(WITHDRAW_PATIENCE_S), \
                contextlib.suppress(Exception):
            await kv.delete(self.instance)
