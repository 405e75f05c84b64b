"""One active reactor: a lease in Redis, and the standby that waits for it.

The lease is one key (``ee:reactor:leader``) holding ``<epoch>:<instance id>`` with a TTL of
``EE_REACTOR_LEASE_S``; the epoch comes from a counter raised by every lease taken
(``lead_take.lua``: SET NX PX). A reactor that finds the lease held is a standby: it logs
one line, answers ``/readyz`` "standby" and touches nothing else until the lease is free
(it asks every third of the TTL, at most every second: a released lease is taken at once).
The active one renews the lease every third of its TTL.

Every script call names the lease its reactor holds (``reactor.scripts.ScriptBook``), and the
scripts refuse it once another reactor took the lease (``lib/fence.lua``): a reactor paused
past its TTL, or cut off from Redis, while a standby took over changes nothing. It stops as
soon as it knows: a fenced call or a refused renewal raises ``LeaseLost``, the reactor exits
non-zero with that one line, and its supervisor starts it again, as a standby. A lease that
ran out while nobody took it (a lone reactor paused, Redis restarted) is simply renewed: no
other reactor can have acted meanwhile, since acting needs the lease and taking it raises the
epoch.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from typing import NoReturn

import anyio
import structlog

from reactor.outcomes import Held, Taken
from reactor.store import Store
from shared import clock
from shared.bounds import bounded_text
from shared.errors import LeaseLost

__all__ = ["Leadership", "instance_id"]

log = structlog.get_logger("ee.reactor")

_TICK_S = 0.1  # how soon a fenced script call is noticed
_STANDBY_POLL_S = 1.0  # at most: a released lease is taken this soon


def instance_id() -> str:
    """This process among reactors: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Leadership:
    def __init__(self, store: Store, lease_s: float, instance: str | None = None) -> None:
        self.store = store
        self.lease_s = lease_s
        self.instance = instance or instance_id()
        self.role = "starting"
        self.epoch = 0
        self._ends = 0.0  # monotonic: when the lease runs out at the latest, by this reactor's clock
        self._poll_s = min(lease_s / 3, _STANDBY_POLL_S)

    async def acquire(self) -> int:
        """Wait as a standby until this reactor holds the lease; its fencing epoch."""
        announced = ""
        while True:
            sent = time.monotonic()
            try:
                out: Taken | Held = await self.store.lead_take(self.instance, self.lease_s)
            except Exception as exc:  # Redis away: a standby waits for it like for the lease
                log.warning("cannot read the reactor lease; trying again", error=bounded_text(repr(exc)))
                await anyio.sleep(self._poll_s)
                continue
            if isinstance(out, Taken):
                self._ends = sent + self.lease_s
                self.epoch, self.role = out.epoch, "active"
                return out.epoch
            self.role = "standby"
            if out.holder != announced:
                active = out.holder.partition(":")[2] or out.holder
                until = clock.iso(clock.now() + max(out.ttl_ms, 0) / 1000)
                log.info(f"standby: reactor {active} is active, lease until {until}", active=active,
                         lease=out.holder, instance=self.instance)
                announced = out.holder
            await anyio.sleep(self._poll_s)

    async def hold(self) -> NoReturn:
        """Renew the lease every third of its TTL until another reactor takes it; then raise
        LeaseLost. A lease that ran out unrenewed (this process paused, Redis away) is stored
        again by the next renewal if nobody took it meanwhile (``lib/fence.lua``)."""
        every = self.lease_s / 3
        due = time.monotonic() + every
        lapsed = False
        while True:
            await anyio.sleep(_TICK_S)
            fenced = self.store.fenced
            if fenced is not None:
                raise LeaseLost(self.store.lease, fenced.holder)
            now = time.monotonic()
            if now >= self._ends and not lapsed:
                log.warning("reactor lease ran out unrenewed; this reactor stops if another took it")
                lapsed = True
            if now < due:
                continue
            try:
                with anyio.fail_after(self.lease_s):
                    await self.store.lead_renew(self.lease_s)
            except LeaseLost:
                raise
            except Exception as exc:  # Redis away: retried every third of the TTL
                log.warning("reactor lease not renewed; trying again", error=bounded_text(repr(exc)))
                due = time.monotonic() + every
                continue
            if lapsed:
                log.info("reactor lease renewed after it ran out: nobody took it meanwhile")
                lapsed = False
            self._ends, due = now + self.lease_s, now + every

    async def release(self) -> None:
        """Give the lease up at once (a stopping reactor), if this reactor still holds it."""
        if self.role != "active":
            return
        with anyio.move_on_after(2):
            try:
                await self.store.lead_release()
            except Exception as exc:  # lost already, or Redis away: the TTL ends it
                log.info("reactor lease not released", error=bounded_text(repr(exc)))
                return
            log.info("reactor lease released", epoch=self.epoch)
