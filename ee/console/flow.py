"""The console's flow-control page: limits (running and waiting per key) and schedules (next
fire times, pause and resume), read and changed through the reactor's endpoints as ``ee limit
list`` and ``ee schedule list|pause|resume`` do (both live in the reactor, not in a Redis read
of their own)."""

from __future__ import annotations

from typing import Any

from ee.client import EngineClient
from shared.config import Settings
from shared.messages import (
    LimitListReply,
    LimitRequest,
    ScheduleList,
    ScheduleListRequest,
    ScheduleOpRequest,
    ScheduleView,
)

__all__ = ["flow_view", "schedule_action"]


async def flow_view(settings: Settings) -> dict[str, Any]:
    async with EngineClient(settings) as client:
        limits = await client.reactor.call("limit_list", LimitRequest(), LimitListReply, patience=10)
        schedules = await client.reactor.call("schedule_list", ScheduleListRequest(), ScheduleList, patience=10)
    return {"limits": limits.limits, "schedules": schedules.schedules}


async def schedule_action(settings: Settings, name: str, op: str) -> str:
    """Pause or resume schedule ``name``: the reactor's ``schedule_op``, as ``ee schedule`` sends it."""
    async with EngineClient(settings) as client:
        view = await client.reactor.call("schedule_op", ScheduleOpRequest(name=name, op=op),  # type: ignore[arg-type]
                                         ScheduleView, patience=10)
    return f"schedule {view.name} {'paused' if view.paused else 'resumed'}"
