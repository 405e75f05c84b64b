"""The reactor's Redis store: its only door to Redis.

Every durable change is one Lua script, called through one path: the typed call of
``reactor.contracts``, sent by the coalescing batcher (``reactor.batcher``). The reads the
reactor needs besides (due members of a clock, a few event fields, the gauges' sizes) are
methods here too, so no other module of the reactor holds a Redis connection or a script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis.asyncio as aioredis
import structlog
from anyio.abc import TaskStatus

from reactor import contracts, deadletters
from reactor.batcher import ScriptBatcher
from reactor.clock_store import ClockStore
from reactor.outcomes import (
    Created,
    Deployed,
    Existing,
    Exists,
    Extended,
    Fenced,
    Finished,
    Fired,
    Foreign,
    Held,
    InBackoff,
    InboxFull,
    NotFailed,
    NotParked,
    OverBudget,
    Purged,
    Recorded,
    Retried,
    Stale,
    Taken,
    Unknown,
    WakeData,
)
from reactor.outcomes import VersionTaken as VersionHeld
from reactor.scripts import DEFAULT_HISTORY_MAX, DEFAULT_RETENTION_S, Call, DirectRunner, Runner, ScriptBook
from shared import clock, names
from shared.bounds import SIGNAL_INBOX_BYTES, bounded_text
from shared.errors import (
    EventInBackoff,
    EventNotFound,
    EventNotParked,
    ForeignEvent,
    InvalidMessage,
    JobFinished,
    JobNotFailed,
    JobNotFound,
    SignalInboxOverBudget,
    StaleFence,
    VersionTaken,
    WorkflowNotDeployed,
)
from shared.errors import (
    InboxFull as InboxFullError,
)
from shared.human_tasks import MAX_TITLE, check_assignee, form_problem
from shared.layout import EVENT_KINDS, DeploymentRecord, EventRecord, Keys
from shared.messages import (
    ActivityWait,
    BotLockWait,
    Checkpoint,
    ChildWait,
    HistoryEntry,
    SignalWait,
    TaskWait,
    TimerWait,
    Wait,
    encode,
)
from shared.names import event_id_for, event_job
from shared.naming import check_name

__all__ = ["Deployment", "FinishDone", "GaugeSnapshot", "ParkDone", "ResultIn", "Store", "WakeData", "new_waits",
           "notes"]

log = structlog.get_logger("ee.reactor")
_json = msgspec.json.Encoder()
_deployment = msgspec.json.Decoder(DeploymentRecord)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class ParkDone:
    fence: int
    events: list[str]
    wakes: list[WakeData]
    # Activities whose first attempt the park already failed (their bot is not alive): no task.
    undispatched: set[str] = field(default_factory=set)
    # Activities in flight among the dropped waits and the cancelled children: told to cancel.
    dropped: list[str] = field(default_factory=list)
    # Children beyond the step's bound (reactor.scripts.CHILDREN_MAX): cancelled one by one.
    left: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FinishDone:
    fence: int
    dropped: list[str]  # activities still in flight, the job's and its cancelled children's
    wakes: list[WakeData]  # its parent's, and of jobs granted the bots it released
    left: list[str] = field(default_factory=list)  # children beyond the step's bound


@dataclass(frozen=True, slots=True)
class ResultIn:
    """One activity result to apply. ``token``: it carried its attempt's valid token."""

    event_id: str
    attempt: int
    ok: bool
    result: bytes
    error: str
    token: bool = False
    business: bool = False  # a business error: fired at once, never retried


@dataclass(frozen=True, slots=True)
class Deployment:
    """One deployed version of a workflow."""

    name: str
    version: int
    record: DeploymentRecord


@dataclass(frozen=True, slots=True)
class GaugeSnapshot:
    open_events: list[int]  # per kind of EVENT_KINDS
    total_jobs: int
    recorded_pending: int
    total_waking: int
    sampled: list[tuple[str | None, str | None, str | None]]  # status, wake_event, stranded
    fired_kinds: list[str]  # kinds of the sampled jobs' fired events


# The longest limit key a wait may carry (the executor sends at most 128: executor/limit_keys.py).
MAX_LIMIT_KEY = 256


def new_waits(job_id: str, fence: int, waits: list[Wait], now: float) -> list[contracts.NewWait]:
    """The waits a park at ``fence`` registers, with their event ids and stored fields."""
    return [_new_wait(event_id_for(job_id, fence + 1, index), wait, now) for index, wait in enumerate(waits)]


def _new_wait(event_id: str, wait: Wait, now: float) -> contracts.NewWait:
    out = _kind_wait(event_id, wait, now)
    if wait.branch:
        return msgspec.structs.replace(out, fields=msgspec.structs.replace(out.fields, branch=wait.branch))
    return out


def _kind_wait(event_id: str, wait: Wait, now: float) -> contracts.NewWait:
    spec = encode(wait).decode()
    match wait:
        case ActivityWait():
            if wait.limit is not None:
                check_name("limit", wait.limit)
                if len(wait.limit_key) > MAX_LIMIT_KEY:
                    raise InvalidMessage(names.reactor_subject("park"),
                                         f"limit key over {MAX_LIMIT_KEY} characters")
            # signed: its tasks carry attempt tokens, so its results must too (result.lua).
            fields = EventRecord(node=wait.node, spec=spec, attempt=1, activity=wait.activity, phase="running",
                                 input=_json.encode(wait.input).decode(), signed="1",
                                 timeout_s="" if wait.timeout_s is None else str(wait.timeout_s),
                                 bot=wait.bot or "", limit=wait.limit or "",
                                 limit_key=wait.limit_key if wait.limit else "")
            if wait.max_attempts > 1:  # absent means one attempt: no retry fields to store
                fields = msgspec.structs.replace(
                    fields, max_attempts=wait.max_attempts, backoff_s=str(wait.backoff_s),
                    multiplier=str(wait.multiplier), max_backoff_s=str(wait.max_backoff_s))
            due = "" if wait.timeout_s is None else repr(now + wait.timeout_s)
            return contracts.NewWait(event_id, "activity", fields, due, True)
        case TimerWait():
            return contracts.NewWait(event_id, "timer", EventRecord(node=wait.node, spec=spec, attempt=1),
                                     repr(now + wait.seconds))
        case SignalWait():
            due = "" if wait.timeout_s is None else repr(now + wait.timeout_s)
            return contracts.NewWait(event_id, "signal", EventRecord(node=wait.node, spec=spec, attempt=1,
                                                                     signal=wait.signal), due)
        case BotLockWait():
            due = "" if wait.timeout_s is None else repr(now + wait.timeout_s)
            return contracts.NewWait(event_id, "bot_lock", EventRecord(node=wait.node, spec=spec, attempt=1,
                                                                       pool=wait.pool), due)
        case ChildWait():
            # No task and no timer: the child's end fires it (reactor/lua/lib/children.lua).
            check_name("job", wait.job_id)
            parent = event_job(event_id)
            if wait.job_id == parent:
                raise InvalidMessage(names.reactor_subject("park"), f"job {parent!r} cannot be its own child")
            child = contracts.ChildStart(wait.job_id, wait.digest, wait.name, wait.version,
                                         encode(Checkpoint(node=wait.start)).decode(),
                                         _json.encode(wait.input).decode())
            return contracts.NewWait(event_id, "child", EventRecord(node=wait.node, spec=spec, attempt=1,
                                                                    child=wait.job_id), child=child)
        case TaskWait():
            return _task_wait(event_id, wait, spec, now)


def _task_wait(event_id: str, wait: TaskWait, spec: str, now: float) -> contracts.NewWait:
    """A human task's event: its fields for the inbox; its due time is its timer (task_due.lua,
    or timer.lua's timeout result when it fails at due)."""
    for who in (wait.assignee, *([wait.escalate_to] if wait.escalate_to else [])):
        problem = check_assignee(who)
        if problem is not None:
            raise InvalidMessage(names.reactor_subject("park"), f"task {wait.node!r}: {problem}")
    problem = form_problem(wait.form)
    if problem is not None:
        raise InvalidMessage(names.reactor_subject("park"), f"task {wait.node!r}: form {problem}")
    due = "" if wait.due_s is None else repr(now + wait.due_s)
    fields = EventRecord(node=wait.node, spec=spec, attempt=1, title=bounded_text(wait.title, MAX_TITLE),
                         details=_json.encode(wait.details).decode(), assignee=wait.assignee,
                         form=_json.encode(wait.form).decode(), due=due, escalate_to=wait.escalate_to,
                         on_due=wait.on_due)
    return contracts.NewWait(event_id, "task", fields, due)


def notes(history: list[HistoryEntry]) -> list[contracts.Note]:
    return [contracts.Note(h.node, h.event, h.detail) for h in history]


# Results of the waits a timer ends without an activity result of their own: each of the error
# class ``timeout`` (what a workflow's ``catch`` matches on). An activity's timeout is written by
# timer.lua, of the same class.
TIMEOUT_RESULTS = {
    "signal": _json.encode({"ok": False, "error": "signal wait timed out", "error_type": "timeout"}),
    "bot_lock": _json.encode({"ok": False, "error": "timed out waiting for a bot", "error_type": "timeout"}),
    # A child wait has no timeout of its own; one an operator gave it (ee event extend) ends it so.
    "child": _json.encode({"ok": False, "error": "timed out waiting for the child job", "error_type": "timeout"}),
    # A human task with a catch on timeout and nobody to escalate to (on_due fail).
    "task": _json.encode({"ok": False, "error": "human task not completed by its due time", "error_type": "timeout"}),
}


class Store:
    """``direct``: each call in a round trip of its own, for a store whose batcher is not run
    (tests, tools); the reactor runs the batcher (:meth:`run`)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, wake_lease_s: float, strand_after: int = 6,
                 history_max: int = DEFAULT_HISTORY_MAX, *, direct: bool = False,
                 retention_s: float = DEFAULT_RETENTION_S) -> None:
        self._redis = redis
        self.keys = keys
        self.retention_s = retention_s
        self._book = ScriptBook(keys.prefix, history_max, retention_s)
        self._batcher = None if direct else ScriptBatcher(self._book, redis)
        # The lease's calls go in a round trip of their own: never queued behind a busy batch.
        self._direct = DirectRunner(self._book, redis)
        self._run: Runner = self._batcher or self._direct
        self.wake_lease_s = wake_lease_s
        self.strand_after = strand_after
        self.inbox_max = 100
        self.inbox_max_bytes = SIGNAL_INBOX_BYTES
        self.inbox_ttl_s = 7 * 24 * 3600

    async def load(self) -> None:
        await self._book.load(self._redis)

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Send the queued script calls (the batcher's flusher)."""
        assert self._batcher is not None, "a direct store has no batcher to run"
        await self._batcher.run(task_status=task_status)

    def close(self) -> None:
        """For a store whose batcher never ran: close its call queue."""
        if self._batcher is not None:
            self._batcher.close()

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    def lease_at(self, now: float) -> str:
        return repr(now + self.wake_lease_s)

    async def _one(self, call: Call[Any]) -> Any:
        return await self._run.one(call)

    # -- the reactor lease (reactor.leader) ---------------------------------------------

    async def lead_take(self, instance: str, lease_s: float) -> Taken | Held:
        """Take the reactor lease if it is free; once taken, every script call is fenced by it."""
        out: Taken | Held = await self._direct.one(
            contracts.lead_take(self.keys, instance=instance, ttl_ms=_ms(lease_s)))
        if isinstance(out, Taken):
            self._book.lease = out.lease
        return out

    async def lead_renew(self, lease_s: float) -> None:
        """Extend the lease; raises LeaseLost when it is not this reactor's any more."""
        await self._direct.one(contracts.lead_renew(self.keys, ttl_ms=_ms(lease_s)))

    async def lead_release(self) -> None:
        """Delete the lease if it is still this reactor's (raises LeaseLost if not)."""
        await self._direct.one(contracts.lead_release(self.keys))

    @property
    def lease(self) -> str:
        return self._book.lease

    @property
    def fenced(self) -> Fenced | None:
        """The refusal of a call the fence refused, if one was."""
        return self._book.lost

    # -- jobs ---------------------------------------------------------------

    async def start_job(self, job_id: str, digest: str, workflow: bytes, name: str, version: int,
                        checkpoint: Checkpoint, input_json: bytes, build: str,
                        priority: int = 5) -> Created | Existing:
        now = clock.now()
        out: Created | Existing = await self._one(contracts.start(
            self.keys, job_id=job_id, digest=digest, workflow=workflow, name=name, version=version,
            checkpoint=encode(checkpoint), input=input_json, now=repr(now), at=clock.iso(now), build=build,
            lease_at=self.lease_at(now), priority=priority))
        return out

    async def park(self, job_id: str, fence: int, checkpoint: Checkpoint, waits: list[Wait], consumed: list[str],
                   history: list[HistoryEntry], build: str, release_bots: list[str],
                   drop: list[str] | None = None) -> ParkDone:
        now = clock.now()
        registered = new_waits(job_id, fence, waits, now)
        out = await self._one(contracts.park(
            self.keys, job_id=job_id, fence=fence, checkpoint=encode(checkpoint), now=repr(now), at=clock.iso(now),
            build=build, lease_at=self.lease_at(now), consumed=consumed, waits=registered, history=notes(history),
            release=release_bots, drop=drop or []))
        _refused(job_id, fence, out)
        return ParkDone(out.fence, [w.id for w in registered], out.wakes, set(out.undispatched), out.dropped,
                        out.left)

    async def finish(self, job_id: str, fence: int | None, status: str, output: bytes, error: str,
                     history: list[HistoryEntry], build: str, checkpoint: Checkpoint | None = None) -> FinishDone:
        """Finish a job (``fence`` None: a cancel, unfenced): its new fence, the in-flight
        activities dropped, the wakes it gives (its parent's, jobs granted its bots), and the
        children left to cancel beyond the step's bound. ``checkpoint``: stored as the job's
        (where ``ee retry`` resumes a failed job); None keeps its last park's."""
        now = clock.now()
        out = await self._one(contracts.finish(
            self.keys, job_id=job_id, fence=fence, status=status, output=output, error=error, at=clock.iso(now),
            build=build, lease_at=self.lease_at(now), history=notes(history),
            checkpoint=None if checkpoint is None else encode(checkpoint)))
        _refused(job_id, fence or 0, out)
        return FinishDone(out.fence, out.dropped, out.wakes, out.left)

    async def cancel_before_start(self, job_id: str, reason: str) -> bool:
        """Record a job that does not exist yet as cancelled, so that when it is submitted its
        start finds it finished and it never runs. False when the job exists by now: cancel it
        the ordinary way then."""
        now = clock.now()
        out = await self._one(contracts.cancel_before_start(
            self.keys, job_id=job_id, error=reason, at=clock.iso(now), now=repr(now),
            history=[contracts.Note("", "cancelled", f"{reason} (before the job started)")]))
        return not isinstance(out, Exists)

    async def intake(self, job_id: str, verdict: str, reason: str, build: str, name: str,
                     version: int) -> tuple[bool, str]:
        """Record a job no executor could start (see intake.lua): (recorded, its status)."""
        now = clock.now()
        out = await self._one(contracts.intake(
            self.keys, job_id=job_id, verdict=verdict, reason=reason, now=repr(now), at=clock.iso(now), build=build,
            name=name, version=version))
        return isinstance(out, Recorded), out.status

    async def strand(self, job_id: str, reason: str, build: str) -> None:
        out = await self._one(contracts.strand(self.keys, job_id=job_id, reason=reason, at=clock.iso(), build=build))
        _refused(job_id, 0, out)

    async def workflow(self, digest: str) -> bytes | None:
        value: Any = await self._redis.get(self.keys.workflow(digest))
        return None if value is None else bytes(value)

    async def job_fields(self, job_id: str, *fields: str) -> list[str | None] | None:
        """These fields of a job's record (None for one it lacks); None when the job is unknown."""
        values: list[Any] = await self._redis.hmget(self.keys.job(job_id), ["fence", *fields])
        if values[0] is None:
            return None
        return [None if v is None else _s(v) for v in values[1:]]

    async def retry(self, job_id: str, fence: int, checkpoint: bytes, node: str, by: str) -> Retried:
        """Run a failed job again from ``checkpoint`` (``b""``: the one stored), resuming at ``node``."""
        now = clock.now()
        out = await self._one(contracts.retry(self.keys, job_id=job_id, fence=fence, checkpoint=checkpoint,
                                              node=node, by=by, at=clock.iso(now), lease_at=self.lease_at(now)))
        if isinstance(out, NotFailed):
            raise JobNotFailed(job_id, out.status)
        _refused(job_id, fence, out)
        retried: Retried = out
        return retried

    # -- deployed workflows ----------------------------------------------------------

    async def deploy(self, name: str, version: int, digest: str, workflow: bytes, by: str) -> bool:
        """Store a workflow version; False when this very content was there already. Raises
        VersionTaken when the version holds other content."""
        now = clock.now()
        record = _json.encode(DeploymentRecord(digest=digest, at=clock.iso(now), by=by))
        out = await self._one(contracts.deploy(self.keys, name=name, version=version, digest=digest,
                                               workflow=workflow, record=record, now=repr(now)))
        if isinstance(out, VersionHeld):
            raise VersionTaken(name, version, out.digest)
        return isinstance(out, Deployed)

    async def deployments(self, name: str) -> list[Deployment]:
        """Every deployed version of workflow ``name``, oldest version first."""
        raw: dict[Any, Any] = await self._redis.hgetall(self.keys.deployed_workflow(name))
        found = []
        for field_, value in raw.items():
            version = _s(field_)
            if not version.isdigit():
                continue  # not a version (written by hand): not one to run
            try:
                found.append(Deployment(name, int(version), _deployment.decode(value)))
            except msgspec.DecodeError:
                log.warning("unreadable deployment record", workflow=name, version=version)
        return sorted(found, key=lambda d: d.version)

    async def deployed_names(self, limit: int) -> list[str]:
        """Names of deployed workflows, the most recently deployed first."""
        names_: list[Any] = await self._redis.zrevrange(self.keys.deployed, 0, limit - 1)
        return [_s(n) for n in names_]

    async def deployed(self, name: str, version: int) -> tuple[Deployment, bytes]:
        """The deployed version ``version`` of ``name`` (0: its latest) and its workflow JSON;
        WorkflowNotDeployed when there is none."""
        versions = await self.deployments(name)
        chosen = (versions[-1] if versions else None) if version == 0 else next(
            (d for d in versions if d.version == version), None)
        if chosen is None:
            raise WorkflowNotDeployed(name, version)
        data = await self.workflow(chosen.record.digest)
        if data is None:
            raise WorkflowNotDeployed(name, version)
        return chosen, data

    async def job_outcome(self, job_id: str) -> tuple[str, bytes | None, str] | None:
        """(status, output JSON, error) of a job, None when unknown."""
        fields: list[Any] = await self._redis.hmget(self.keys.job(job_id), ["status", "output", "error"])
        if fields[0] is None:
            return None
        return _s(fields[0]), fields[1] or None, _s(fields[2] or b"")

    # -- signals and operator actions -------------------------------------------

    async def signal(self, job_id: str, name: str, result: bytes) -> WakeData | None:
        now = clock.now()
        out = await self._one(contracts.signal(
            self.keys, job_id=job_id, name=name, result=result, now=repr(now), at=clock.iso(now),
            lease_at=self.lease_at(now), inbox_max=self.inbox_max, inbox_ttl_s=self.inbox_ttl_s,
            inbox_max_bytes=self.inbox_max_bytes))
        _refused(job_id, 0, out)
        if isinstance(out, InboxFull):
            raise InboxFullError(job_id, name, self.inbox_max)
        if isinstance(out, OverBudget):
            raise SignalInboxOverBudget(job_id, name, out.held, len(name) + len(result), self.inbox_max_bytes)
        return out.wake if isinstance(out, Fired) else None

    async def operator_event(self, event_id: str, op: str, result: bytes, timeout_s: float | None,
                             by: str = "") -> WakeData | None:
        """Resolve or fail a parked wait (its wake), or extend its timeout (None); ``by``: who."""
        now = clock.now()
        out = await self._one(contracts.event(
            self.keys, event_id=event_id, op=op, result=result, now=repr(now), at=clock.iso(now),
            lease_at=self.lease_at(now), timeout_s=str(timeout_s or 0), by=by))
        match out:
            case Unknown():
                raise EventNotFound(event_id)
            case NotParked():
                raise EventNotParked(event_id, out.status)
            case InBackoff():
                raise EventInBackoff(event_id, out.attempt, out.retry_at - now)
            case Extended():
                return None
        wake: WakeData = out.wake
        return wake

    # -- results, timers, leases ---------------------------------------------

    async def results(self, results: list[ResultIn]) -> list[contracts.ResultOutcome | Exception]:
        """Apply activity results, queued together (one round trip when nothing else waits)."""
        now = clock.now()
        at, lease_at = clock.iso(now), self.lease_at(now)
        return await self._run.many([
            contracts.result(self.keys, event_id=r.event_id, attempt=r.attempt, ok=r.ok, result=r.result,
                             error=r.error, now=repr(now), at=at, lease_at=lease_at, token=r.token,
                             business=r.business)
            for r in results])

    async def due(self, key: str, upto: float | None, limit: int = 500) -> list[str]:
        """Members of a clock zset (``keys.timers``, ``keys.wakes``, ...) due by ``upto`` (None: all)."""
        members = await self._redis.zrangebyscore(key, "-inf", "+inf" if upto is None else repr(upto),
                                                  start=0, num=limit)
        return [_s(m) for m in members]

    async def fire_timers(self, events: list[str], now: float) -> list[Any]:
        """Run the timer script on each due event (with the timeout result of its kind)."""
        pipe = self._redis.pipeline(transaction=False)
        for event_id in events:
            pipe.hmget(self.keys.event(event_id), ["kind", "on_due"])
        kinds = await pipe.execute()
        at, lease_at = clock.iso(now), self.lease_at(now)
        calls: list[Call[Any]] = [
            # A human task that escalates or only goes overdue at its due time: task_due.lua.
            contracts.task_due(self.keys, event_id=e, now=repr(now), at=at) if _s(k or b"") == "task"
            and _s(d or b"") in ("escalate", "overdue") else
            contracts.timer(self.keys, event_id=e, now=repr(now), at=at, lease_at=lease_at,
                            timeout_result=TIMEOUT_RESULTS.get(_s(k) if k else "", b"null"))
            for e, (k, d) in zip(events, kinds, strict=True)]
        return await self._run.many(calls)

    async def task_step(self, call: Call[Any]) -> Any:
        """One human task step (reactor.tasks builds it with contracts.task_*): its outcome."""
        return await self._one(call)

    async def offer_again(self, job_ids: list[str], now: float, lapsed: bool) -> list[WakeData]:
        """The wakes of these jobs under a fresh lease: their lease lapsed, or an executor
        asked (redrive). A job with nothing to wake, or whose step failed, gives none (a failed
        one is offered by its lease later)."""
        at = clock.iso(now)
        outs = await self._run.many([
            contracts.lease(self.keys, job_id=j, now=repr(now), at=at, lease_s=self.wake_lease_s, lapsed=lapsed,
                            strand_after=self.strand_after)
            for j in job_ids])
        for out in outs:
            if isinstance(out, Exception):
                log.warning("offering a wake again failed", error=bounded_text(repr(out)))
        return [out.wake for out in outs if isinstance(out, Fired)]

    async def waking(self, after: str, limit: int = 500) -> list[tuple[str, float]]:
        """Jobs under a wake lease, by lease end, from ``after`` (a score bound: '-inf', '(12.5')."""
        members: list[Any] = await self._redis.zrangebyscore(self.keys.wakes, after, "+inf", start=0, num=limit,
                                                             withscores=True)
        return [(_s(m), float(score)) for m, score in members]

    async def dispatched(self, sent: list[tuple[str, int]]) -> None:
        """These tasks (event id, attempt) are acknowledged by JetStream, or not to be sent: their
        events out of the dispatch set, each while it still waits on that attempt (dispatched.lua)."""
        if sent:
            await self._one(contracts.dispatched(self.keys, sent=sent))

    async def event_fields(self, event_id: str, *fields: str) -> list[str | None]:
        values: list[Any] = await self._redis.hmget(self.keys.event(event_id), list(fields))
        return [None if v is None else _s(v) for v in values]

    # -- bots ---------------------------------------------------------------------

    async def heartbeat(self, bot: str, pool: str, worker: str, lease_s: float, stopping: bool,
                        holding: list[tuple[str, int]]) -> list[WakeData]:
        now = clock.now()
        out = await self._one(contracts.heartbeat(
            self.keys, bot=bot, pool=pool, worker=worker, lease_until=repr(now + lease_s), stopping=stopping,
            now=repr(now), at=clock.iso(now), lease_at=self.lease_at(now), lease_s=repr(lease_s),
            held=holding))
        wakes: list[WakeData] = out.wakes
        return wakes

    async def bot_lapse(self, bot: str) -> list[WakeData]:
        now = clock.now()
        out = await self._one(contracts.bot_lapse(self.keys, bot=bot, now=repr(now), at=clock.iso(now),
                                                  lease_at=self.lease_at(now)))
        wakes: list[WakeData] = out.wakes
        return wakes

    async def extend_bot_leases(self, now: float, default_lease_s: float) -> int:
        """Give every bot's lease at least one lease period from ``now``, in one step; how many moved."""
        out = await self._one(contracts.bot_grace(self.keys, now=repr(now), default_lease_s=default_lease_s))
        n: int = out.n
        return n

    async def migrate_bot_indexes(self) -> int:
        """Move each known bot's event index from ``bot:<id>:events`` (before the ``bot-events:``
        family) to its key of today; returns how many were moved. Idempotent, one round trip
        per bot that has an old index, and nothing for a bot whose old key is another bot's
        hash (a bot named ``<id>:events``, before names were checked)."""
        bots = [_s(b) for b in await self._redis.smembers(self.keys.bots)]
        pipe = self._redis.pipeline(transaction=False)
        for bot in bots:
            pipe.type(self.keys.legacy_bot_events(bot))
        types = await pipe.execute() if bots else []
        moved = 0
        for bot, kind in zip(bots, types, strict=True):
            if _s(kind) != "zset":
                continue
            old, new = self.keys.legacy_bot_events(bot), self.keys.bot_events(bot)
            pipe = self._redis.pipeline(transaction=True)
            pipe.zunionstore(new, [new, old], aggregate="MIN")
            pipe.delete(old)
            await pipe.execute()
            moved += 1
        return moved

    # -- the rest ---------------------------------------------------------------------

    # -- retention ----------------------------------------------------------------

    async def purge(self, status: str, older_than_s: float, limit: int) -> Purged:
        """One batch (at most ``limit`` jobs, one script) of finished jobs of ``status`` that
        took it more than ``older_than_s`` seconds ago, removed with every trace (purge.lua)."""
        out: Purged = await self._one(contracts.purge(self.keys, status=status, older_than_s=older_than_s,
                                                      limit=limit))
        return out

    async def count_finished(self, status: str, older_than_s: float) -> int:
        """How many jobs ``purge`` would remove now (their status index, by Redis's clock)."""
        secs, micros = await self._redis.time()
        upto = secs + micros / 1e6 - older_than_s
        return int(await self._redis.zcount(self.keys.job_status(status), "-inf", repr(upto)))

    async def status_backfill_step(self, count: int) -> tuple[int, int]:
        """One step of the status-index fill: (jobs read, jobs added)."""
        out = await self._one(contracts.status_backfill(self.keys, count=count))
        return out.read, out.added

    async def attempt_secret(self, fresh: str) -> str:
        """The attempt-token secret shared by every reactor of this prefix: ``fresh`` if this
        reactor is the first (SET NX), else the one stored."""
        # No MULTI needed (nor granted by the ACL of docs/security.md): whoever's SET NX won, GET reads it.
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self.keys.attempt_secret, fresh, nx=True)
        pipe.get(self.keys.attempt_secret)
        _, stored = await pipe.execute()
        return _s(stored)

    async def deadletter(self, subject: str, reason: str, data: bytes) -> None:
        """Record a refused message (capped list), and log it: subject and reason, never the data."""
        log.warning("dead letter", subject=bounded_text(subject, 200), reason=bounded_text(reason, 512),
                    size=len(data))
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(self.keys.deadletter, deadletters.record(clock.iso(), subject, reason, data))
        pipe.ltrim(self.keys.deadletter, 0, deadletters.KEEP - 1)  # at most deadletters.BUDGET_BYTES
        await pipe.execute()

    # -- limits (reactor.limits) ------------------------------------------------------

    async def limit_set(self, name: str, concurrency: int | None, rate: int | None,
                        period_s: float | None) -> bool:
        """Write a limit's settings, live; whether it had settings before."""
        out = await self._one(contracts.limit_set(self.keys, name=name, concurrency=concurrency, rate=rate,
                                                  period_s=period_s, at=clock.iso()))
        return bool(out.existed)

    async def limit_delete(self, name: str) -> bool:
        """Delete a limit's settings (unlimited from now); whether it had any."""
        out = await self._one(contracts.limit_delete(self.keys, name=name, at=clock.iso()))
        return bool(out.existed)

    async def limit_names(self) -> list[str]:
        """Every limit set or in use (by attempts running or waiting), sorted."""
        return sorted(_s(n) for n in await self._redis.smembers(self.keys.limits))

    async def limit_info(self, name: str) -> tuple[dict[str, str], list[tuple[str, int, int]]]:
        """A limit's settings (empty: never set) and per key in use: (key, running, waiting)."""
        settings = {_s(k): _s(v) for k, v in (await self._redis.hgetall(self.keys.limit(name))).items()}
        keys = sorted(_s(k) for k in await self._redis.smembers(self.keys.limit_keys(name)))
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.scard(self.keys.limit_running(name, key))
            pipe.zcard(self.keys.limit_waiting(name, key))
        counts = await pipe.execute() if keys else []
        return settings, [(key, int(counts[2 * i]), int(counts[2 * i + 1])) for i, key in enumerate(keys)]

    async def gauge_snapshot(self, sample: int) -> GaugeSnapshot:
        """The sizes the gauges are made of, and the first ``sample`` jobs of the wake set."""
        keys = self.keys
        pipe = self._redis.pipeline(transaction=True)  # one consistent snapshot of the sizes
        for kind in EVENT_KINDS:
            pipe.zcard(keys.event_index(kind))
        pipe.zcard(keys.jobs)
        pipe.zcard(keys.job_status("pending"))
        pipe.zcard(keys.wakes)
        pipe.zrange(keys.wakes, 0, sample - 1)
        *open_events, total_jobs, recorded_pending, total_waking, sampled = await pipe.execute()
        pipe = self._redis.pipeline(transaction=False)
        for job_id in sampled:
            pipe.hmget(keys.job(_s(job_id)), ["status", "wake_event", "stranded"])
        jobs = [tuple(None if v is None else _s(v) for v in row) for row in await pipe.execute()]
        fired = [w for status, w, _ in jobs if status == "parked" and w]
        pipe = self._redis.pipeline(transaction=False)
        for event_id in fired:
            pipe.hmget(keys.event(event_id), ["kind", "status"])
        fired_kinds = [_s(k) for k, st in (await pipe.execute() if fired else []) if k and st == b"fired"]
        return GaugeSnapshot([int(n) for n in open_events], int(total_jobs), int(recorded_pending),
                             int(total_waking), [(a, b, c) for a, b, c in jobs], fired_kinds)

    async def persistence_warnings(self) -> list[str]:
        """What an operator should change in Redis's persistence settings (logged at start)."""
        try:
            config = await self._redis.config_get("appendonly")
        except Exception:
            return ["cannot read Redis persistence settings (CONFIG refused); make sure AOF is on"]
        out = []
        nodes = await self._redis.config_get("stream-node-max-bytes")
        if int(nodes.get("stream-node-max-bytes", "0") or 0) > 1024:
            out.append("Redis stream-node-max-bytes is above 1024: each job's history stream takes about "
                       "4.7 KB; run Redis with --stream-node-max-bytes 512 (about 1.1 KB)")
        if config.get("appendonly") != "yes":
            out.append("REDIS PERSISTENCE IS OFF (appendonly no): parked jobs are lost if Redis "
                       "restarts. Run Redis with --appendonly yes.")
        return out


    # -- the clock: delayed starts, deadlines, schedules -------------------------------

    def clock(self) -> ClockStore:
        """The clock's calls and reads (reactor.clock_store), over this store's connection and batcher."""
        return ClockStore(self._redis, self.keys, self._run, self.lease_at)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _refused(job_id: str, fence: int, out: Any) -> None:
    """Raise the error of a refusal every job step may answer."""
    match out:
        case Unknown():
            raise JobNotFound(job_id)
        case Finished():
            raise JobFinished(job_id, out.status)
        case Stale():
            raise StaleFence(job_id, fence, out.fence)
        case Foreign():
            raise ForeignEvent(job_id, out.event)

