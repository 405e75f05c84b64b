"""The limits endpoints: ``limit_set``, ``limit_delete``, ``limit_show`` and ``limit_list``.

A limit's settings live in Redis (``limit:<name>``), written by one script (limit_set.lua) so
that a change takes effect for the next admission; what holds slots and waits in line is kept
by the dispatch scripts themselves (reactor/lua/lib/limits.lua). A limit never set is
unlimited, and listed (``set`` False) while attempts naming it run or wait."""

from __future__ import annotations

from reactor.store import Store
from shared import names
from shared.errors import InvalidMessage
from shared.flow import check_concurrency, check_rate
from shared.messages import LimitDeleteReply, LimitInfo, LimitKey, LimitListReply, LimitRequest, LimitSetRequest
from shared.naming import check_name

__all__ = ["Limits"]

# Limits listed at most (each with its keys in use): a list is one reply message.
MAX_LISTED = 1000
MAX_KEYS_SHOWN = 1000


class Limits:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def set(self, req: LimitSetRequest) -> LimitInfo:
        subject = names.reactor_subject("limit_set")
        check_name("limit", req.name)
        if req.concurrency is not None:
            check_concurrency(subject, req.concurrency)
        if (req.rate is None) != (req.period_s is None):
            raise InvalidMessage(subject, "a rate needs both its number of starts and its period")
        if req.rate is not None:
            check_rate(subject, req.rate, req.period_s)
        if req.concurrency is None and req.rate is None:
            raise InvalidMessage(subject, "a limit needs a concurrency, a rate or both (ee limit delete lifts it)")
        await self.store.limit_set(req.name, req.concurrency, req.rate, req.period_s)
        return await self.info(req.name)

    async def delete(self, req: LimitRequest) -> LimitDeleteReply:
        check_name("limit", req.name)
        return LimitDeleteReply(name=req.name, deleted=await self.store.limit_delete(req.name))

    async def show(self, req: LimitRequest) -> LimitInfo:
        check_name("limit", req.name)
        return await self.info(req.name)

    async def list(self, req: LimitRequest) -> LimitListReply:
        if req.name:
            check_name("limit", req.name)
            return LimitListReply(limits=[await self.info(req.name)])
        return LimitListReply(limits=[await self.info(n) for n in (await self.store.limit_names())[:MAX_LISTED]])

    async def info(self, name: str) -> LimitInfo:
        settings, keys = await self.store.limit_info(name)
        return LimitInfo(
            name=name, set=bool(settings),
            concurrency=int(settings["concurrency"]) if "concurrency" in settings else None,
            rate=int(settings["rate"]) if "rate" in settings else None,
            period_s=float(settings["period_s"]) if "period_s" in settings else None,
            updated=settings.get("updated", ""),
            keys=[LimitKey(key=k, running=r, waiting=w) for k, r, w in keys[:MAX_KEYS_SHOWN]])
