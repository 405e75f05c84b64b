"""Schedules: a workflow started on a cron clock in a time zone (``ee schedule``, docs/operations.md).

A schedule is a hash (``ee:schedule:<name>``, :class:`~shared.layout.ScheduleRecord`) and its
next fire time in ``ee:schedules``. The active reactor's loop (standbys run no loop) takes each
schedule whose time came and fires it in one script (``schedule_fire.lua``) that checks the fire
time is still the schedule's next one, moves ``next`` on and records the job, pending and due at
once, under an id derived from the schedule and the fire time (``sched-<name>-<UTC time>``):
the delayed-start clock (reactor.clock) then starts it. So a fire time is fired once, whatever
dies when, and a second reactor or a restart finds it done. Overlap: ``skip`` (a fire while the
schedule's last job runs is counted as skipped), ``buffer_one`` (one such fire waits, and starts
when that job ends), ``allow_all``. Catch-up: a fire time older than the catch-up window (when no
reactor ran at the time) is counted as missed, not fired; those inside it fire, one by one, each
by the overlap policy.

Cron expressions are read by cronsim (``shared.cron``) in the schedule's zone.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from nats.aio.client import Client as NATS

from reactor.clock import deferred_job
from reactor.clock_store import ClockStore
from reactor.endpoints import Endpoint
from reactor.periodic import every
from reactor.store import Store
from shared import clock, metrics, names
from shared.bounds import bounded_text
from shared.clock_errors import ScheduleExists, ScheduleNotFound
from shared.cron import check_cron, fire_times
from shared.errors import EngineError, InvalidMessage, InvalidName, InvalidWorkflow
from shared.failpoints import failpoint
from shared.messages import (
    DeployedReply,
    DeployedRequest,
    ScheduleAddRequest,
    ScheduleList,
    ScheduleListRequest,
    ScheduleOpRequest,
    ScheduleView,
)
from shared.naming import check_name, is_valid_name
from shared.reactor_client import ReactorClient
from shared.workflow import decode_workflow, encode_workflow

__all__ = ["GRACE_S", "Schedules", "schedule_clock", "schedule_job_id"]

log = structlog.get_logger("ee.reactor.schedules")
_json = msgspec.json.Encoder()

# A fire time this late is never "missed", whatever the catch-up window: the loop's tick and
# a reactor's start take a few seconds.
GRACE_S = 5.0
_MAX_STEPS = 1000  # steps of one schedule in one pass
_MAX_COUNTED = 100_000  # missed fire times counted one by one; beyond, the count is a floor
_FINAL = ("completed", "failed", "cancelled")
# Test only: shifts this reactor's schedule clock (and nothing else) by this many seconds, so
# that a test can put a fire time of an every-minute cron a few seconds ahead
# (tests/flow/test_schedule_faults.py). Never set it in a deployment.
_OFFSET_ENV = "EE_TEST_SCHEDULE_CLOCK_OFFSET_S"


def schedule_clock() -> float:
    """Now, as schedules see it."""
    return clock.now() + float(os.environ.get(_OFFSET_ENV, "0") or 0)


def _stamp(at: float, ms: bool = False) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y%m%dT%H%M%S") + (f"{moment.microsecond // 1000:03d}" if ms else "") + "Z"


def schedule_job_id(name: str, fire_at: float, manual: bool = False) -> str:
    """The job of schedule ``name`` at fire time ``fire_at``: the same id every time."""
    head = f"sched-{name}"
    tail = f"-manual-{_stamp(fire_at, ms=True)}" if manual else f"-{_stamp(fire_at)}"
    if not is_valid_name("job", head + tail):  # a name with '..': its digest instead
        head = "sched-" + hashlib.blake2b(name.encode(), digest_size=8).hexdigest()
    return head + tail


def _subject(op: str) -> str:
    return names.reactor_subject(op)


def _checked(kind: Any, value: str, op: str) -> str:
    try:
        return check_name(kind, value)
    except InvalidName as exc:
        raise InvalidMessage(_subject(op), str(exc)) from exc


class Schedules:
    def __init__(self, store: Store, nc: NATS, max_payload: int | None = None) -> None:
        self.store = store
        self.clock: ClockStore = store.clock()
        self.reactor = ReactorClient(nc, max_payload=max_payload)

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("schedule_add", ScheduleAddRequest, self.add),
                Endpoint("schedule_op", ScheduleOpRequest, self.op),
                Endpoint("schedule_list", ScheduleListRequest, self.list)]

    # -- endpoints ------------------------------------------------------------------------

    async def add(self, req: ScheduleAddRequest) -> ScheduleView:
        name = _checked("schedule", req.name, "schedule_add")
        try:
            check_cron(req.cron, req.tz)
        except ValueError as exc:
            raise InvalidMessage(_subject("schedule_add"), str(exc)) from None
        fields = {"name": name, "cron": req.cron, "tz": req.tz, "input": _json.encode(req.input).decode(),
                  "overlap": req.overlap, "catchup_s": repr(float(req.catchup_s)), "updated": clock.iso()}
        if req.workflow is not None:
            try:
                fields["workflow"] = encode_workflow(decode_workflow(req.workflow)).decode()
            except InvalidWorkflow as exc:
                raise InvalidMessage(_subject("schedule_add"), bounded_text(str(exc))) from exc
        elif req.workflow_name:
            fields["workflow_name"] = _checked("workflow", req.workflow_name, "schedule_add")
            fields["workflow_version"] = str(req.workflow_version)
        else:
            raise InvalidMessage(_subject("schedule_add"), "a schedule needs a workflow: its name or the workflow")
        existing = await self.clock.schedule(name)
        fields["created"] = existing.get("created", "") if existing else clock.iso()
        first = next(fire_times(req.cron, req.tz, schedule_clock()))
        if not await self.clock.put_schedule(name, fields, first, req.replace):
            raise ScheduleExists(name)
        log.info("schedule stored", schedule=name, cron=req.cron, tz=req.tz, next=clock.iso(first))
        return await self._view(name)

    async def op(self, req: ScheduleOpRequest) -> ScheduleView:
        name = _checked("schedule", req.name, "schedule_op")
        rec = await self.clock.schedule(name)
        if rec is None:
            raise ScheduleNotFound(name)
        if req.op == "show":
            return self._render(rec)
        if req.op == "trigger":
            now = schedule_clock()
            job_id = schedule_job_id(name, now, manual=True)
            d = await self._job(rec, now, job_id)
            step = await self.clock.schedule_step(name, "trigger", "", None, fire_at=clock.iso(now), job_id=job_id,
                                                  d=d)
            if step is None:
                raise ScheduleNotFound(name)
            metrics.SCHEDULE_FIRES.labels(result="fired").inc()
            log.info("schedule triggered", schedule=name, job_id=job_id)
            view = await self._view(name)
            return msgspec.structs.replace(view, job_id=job_id)
        next_at = next(fire_times(rec["cron"], rec["tz"], schedule_clock())) if req.op == "resume" else None
        try:
            await self.clock.schedule_op(name, req.op, next_at)
        except InvalidMessage:
            raise ScheduleNotFound(name) from None
        log.info(f"schedule {req.op}d" if req.op != "pause" else "schedule paused", schedule=name)
        if req.op == "delete":
            return msgspec.structs.replace(self._render(rec), paused=True, next_fires=[])
        return await self._view(name)

    async def list(self, req: ScheduleListRequest) -> ScheduleList:
        views = []
        for name in sorted(await self.clock.schedule_names()):
            rec = await self.clock.schedule(name)
            if rec is not None:
                views.append(self._render(rec))
        return ScheduleList(schedules=views)

    async def _view(self, name: str) -> ScheduleView:
        rec = await self.clock.schedule(name)
        if rec is None:
            raise ScheduleNotFound(name)
        return self._render(rec)

    @staticmethod
    def _render(rec: dict[str, Any]) -> ScheduleView:
        paused = str(rec.get("paused", 0)) == "1"
        fires: list[str] = []
        nxt = rec.get("next")
        if not paused and isinstance(nxt, float):
            more = itertools.islice(fire_times(rec["cron"], rec["tz"], nxt), 4)
            fires = [clock.iso(t) for t in (nxt, *more)]
        buffered = rec.get("buffered")
        return ScheduleView(
            name=rec.get("name", ""), cron=rec.get("cron", ""), tz=rec.get("tz", ""), workflow=_workflow_text(rec),
            overlap=rec.get("overlap", ""), catchup_s=float(rec.get("catchup_s") or 0), paused=paused,
            next_fires=fires, fired=int(rec.get("fired", 0)), skipped=int(rec.get("skipped", 0)),
            missed=int(rec.get("missed", 0)),
            buffered=clock.iso(buffered) if isinstance(buffered, float) else "",
            last_fire=rec.get("last_fire", ""), last_job=rec.get("last_job", ""),
            last_skipped=rec.get("last_skipped", ""), last_missed=rec.get("last_missed", ""),
            created=rec.get("created", ""))

    # -- firing ---------------------------------------------------------------------------------

    async def _job(self, rec: dict[str, Any], fire_at: float, job_id: str) -> Any:
        """The pending record of the job of this fire: its workflow (the stored one, or the
        deployed one by name), the schedule's input, due now."""
        if isinstance(rec.get("workflow"), dict):
            workflow = _json.encode(rec["workflow"])
        else:
            version = rec.get("workflow_version", 0)
            found = await self.reactor.call("deployed", DeployedRequest(
                name=rec.get("workflow_name", ""), version=version if isinstance(version, int) else 0),
                DeployedReply, patience=3)
            workflow = found.workflow
        job_input = rec.get("input")
        now = clock.now()
        return deferred_job(workflow, job_input if isinstance(job_input, dict) else {}, now, now,
                            build="", detail=f"schedule {rec.get('name', '')} fire {clock.iso(fire_at)}",
                            deadline=None, on_deadline=None, schedule=rec.get("name", ""),
                            fire_time=clock.iso(fire_at))

    async def advance(self, name: str, now: float) -> None:
        """Every due step of one schedule: missed fire times counted, due ones fired."""
        for _ in range(_MAX_STEPS):
            rec = await self.clock.schedule(name)
            if rec is None or str(rec.get("paused", 0)) == "1" or not isinstance(rec.get("next"), float):
                return
            due: float = rec["next"]
            if due > now:
                return
            cron, tz = rec["cron"], rec["tz"]
            window_start = now - max(float(rec.get("catchup_s") or 0), GRACE_S)
            if due < window_start:
                n, after = _missed(cron, tz, due, window_start)
                step = await self.clock.schedule_step(name, "missed", repr(due), after, fire_at=clock.iso(due), n=n)
                if step is not None:
                    metrics.SCHEDULE_FIRES.labels(result="missed").inc(n)
                    log.warning("schedule fire times missed (outside the catch-up window)", schedule=name,
                                missed=n, first=clock.iso(due))
                continue
            job_id = schedule_job_id(name, due)
            d = await self._job(rec, due, job_id)
            step = await self.clock.schedule_step(name, "fire", repr(due), next(fire_times(cron, tz, due)),
                                                  fire_at=clock.iso(due), job_id=job_id, d=d)
            if step is not None:
                await failpoint("schedule-fired")
                metrics.SCHEDULE_FIRES.labels(result=step.result).inc()
                log.info(f"schedule {step.result}", schedule=name, fire_time=clock.iso(due),
                         **({"job_id": step.job_id} if step.job_id else {}))

    async def release_buffered(self, name: str) -> None:
        """Start the buffered fire of a schedule whose last job has ended."""
        rec = await self.clock.schedule(name)
        buffered = None if rec is None else rec.get("buffered")
        if rec is None or not isinstance(buffered, float):
            await self.clock.schedule_step(name, "buffered", "", None)  # only leaves the set
            return
        last = rec.get("last_job", "")
        if last and await self.clock.job_status(last) not in (None, *_FINAL):
            return
        job_id = schedule_job_id(name, buffered)
        d = await self._job(rec, buffered, job_id)
        step = await self.clock.schedule_step(name, "buffered", repr(buffered), None, fire_at=clock.iso(buffered),
                                              job_id=job_id, d=d)
        if step is not None:
            metrics.SCHEDULE_FIRES.labels(result="fired").inc()
            log.info("schedule buffered fire started", schedule=name, fire_time=clock.iso(buffered), job_id=job_id)

    async def loop(self, interval: float = 0.25) -> None:
        """The schedules' clock (the active reactor's only)."""

        async def one_pass() -> None:
            now = schedule_clock()
            for name in await self.store.due(self.store.keys.schedules, now):
                try:
                    await self.advance(name, now)
                except EngineError as exc:  # its workflow cannot be had now: tried again next pass
                    log.warning("schedule not fired", schedule=name, error=bounded_text(str(exc)))
            for name in await self.clock.buffered_names():
                try:
                    await self.release_buffered(name)
                except EngineError as exc:
                    log.warning("buffered fire not started", schedule=name, error=bounded_text(str(exc)))

        await every(interval, one_pass, log=log, failed="schedule pass failed", backoff_s=1.0)


def _missed(cron: str, tz: str, due: float, window_start: float) -> tuple[int, float]:
    """How many fire times from ``due`` on fall before ``window_start`` (``due`` counted), and
    the first one after them."""
    n = 1
    for t in fire_times(cron, tz, due):
        if t >= window_start:
            return n, t
        n += 1
        if n >= _MAX_COUNTED:
            break
    return n, next(fire_times(cron, tz, window_start - 0.001))


def _workflow_text(rec: dict[str, Any]) -> str:
    inline = rec.get("workflow")
    if isinstance(inline, dict):
        return f"{inline.get('name', '?')} v{inline.get('version', 1)} (stored with the schedule)"
    version = rec.get("workflow_version", 0)
    return f"{rec.get('workflow_name', '')}{f'@{version}' if version else ''}"
