"""One typed call per script: its named parameters in, its outcome type out.

Each function builds the :class:`~reactor.scripts.Call` of one script (``reactor/lua/<name>.lua``):
the keys it touches that the caller can name go in KEYS, its values are packed as one
msgpack table (``A`` in the script), and the reply is decoded into that script's union of
outcomes (``reactor.outcomes``). Times the scripts store are passed as the text to store
(``repr`` of Unix seconds, ISO ``at``), so a record reads as it always did. JSON goes as text
(msgpack str): the cmsgpack of Redis 6 reads no bin type.
"""

from __future__ import annotations

from typing import Any, get_args

import msgspec

from reactor.outcomes import (
    Claimed,
    Completed,
    Count,
    Created,
    Deployed,
    Done,
    Escalated,
    Existing,
    Exists,
    Extended,
    Finished,
    Fired,
    Foreign,
    Held,
    Ignored,
    InBackoff,
    InboxFull,
    Kept,
    LimitSet,
    NotFailed,
    Nothing,
    NotParked,
    NotTask,
    Ok,
    OverBudget,
    Overdue,
    Parked,
    Purged,
    Recorded,
    Redispatch,
    Refused,
    Retried,
    Retrying,
    Stale,
    Step,
    Taken,
    Unchanged,
    Unknown,
    Untouched,
    VersionTaken,
    Wakes,
)
from reactor.scripts import Call
from shared.layout import EventRecord, Keys, event_job
from shared.messages import FinalStatus

__all__ = [
    "FINAL_STATUSES",
    "ChildStart",
    "DeployOutcome",
    "EventOutcome",
    "FinishOutcome",
    "LeaseOutcome",
    "NewWait",
    "Note",
    "ParkOutcome",
    "ResultOutcome",
    "RetryOutcome",
    "SignalOutcome",
    "StartOutcome",
    "TaskCompleteOutcome",
    "TaskDueOutcome",
    "TaskStepOutcome",
    "TimerOutcome",
    "bot_grace",
    "bot_lapse",
    "cancel_before_start",
    "deploy",
    "event",
    "finish",
    "heartbeat",
    "intake",
    "lead_release",
    "lead_renew",
    "lead_take",
    "lease",
    "limit_delete",
    "limit_set",
    "park",
    "purge",
    "result",
    "retry",
    "signal",
    "start",
    "status_backfill",
    "strand",
    "task_claim",
    "task_complete",
    "task_due",
    "task_reassign",
    "timer",
]

_pack = msgspec.msgpack.Encoder()


class _Args(msgspec.Struct):
    pass


class Note(msgspec.Struct):
    """A history entry to write (the time and build are the call's)."""

    node: str
    event: str
    detail: str = ""


class ChildStart(msgspec.Struct):
    """The child job a child wait starts (its record as start.lua writes a job's; JSON as text)."""

    job_id: str
    digest: str
    name: str
    version: int
    checkpoint: str
    input: str


class NewWait(msgspec.Struct, omit_defaults=True):
    """One wait a park registers: its event id, kind, due time ('' for none), whether its task
    goes out (the dispatch set), the fields of its event hash, and for a child wait the child
    job to start."""

    id: str
    kind: str
    fields: EventRecord
    timer_at: str = ""
    dispatch: bool = False
    child: ChildStart | None = None


def _event_job_keys(keys: Keys, event_id: str) -> tuple[str, ...]:
    """The keys of an event's job that firing the event touches (the job from the event id)."""
    job_id = event_job(event_id)
    return keys.job(job_id), keys.job_fired(job_id), keys.job_history(job_id)


def _call(script: str, keys: tuple[str, ...], args: _Args, decoder: msgspec.msgpack.Decoder[Any]) -> Call[Any]:
    return Call(script, keys, _pack.encode(args), decoder.decode)


# -- start ------------------------------------------------------------------------------

StartOutcome = Created | Existing


class _Start(_Args):
    job_id: str
    digest: str
    workflow: str
    name: str
    version: int
    checkpoint: str
    input: str
    now: str
    at: str
    build: str
    lease_at: str
    priority: int = 5


_start = msgspec.msgpack.Decoder(StartOutcome)


def start(keys: Keys, *, job_id: str, digest: str, workflow: bytes, name: str, version: int, checkpoint: bytes,
          input: bytes, now: str, at: str, build: str, lease_at: str, priority: int = 5) -> Call[StartOutcome]:
    """Create a job record, or read the one that exists (one job per id)."""
    return _call("start", (keys.job(job_id), keys.job_history(job_id), keys.workflow(digest), keys.jobs,
                           keys.wakes, keys.job_status("running")),
                 _Start(job_id, digest, workflow.decode(), name, version, checkpoint.decode(), input.decode(), now, at,
                        build, lease_at, priority), _start)


# -- park -------------------------------------------------------------------------------

ParkOutcome = Parked | Unknown | Finished | Stale | Foreign


class _Park(_Args):
    job_id: str
    fence: int
    checkpoint: str
    now: str
    at: str
    build: str
    lease_at: str
    consumed: list[str] = []
    waits: list[NewWait] = []
    history: list[Note] = []
    release: list[str] = []
    drop: list[str] = []


_park = msgspec.msgpack.Decoder(ParkOutcome)


def park(keys: Keys, *, job_id: str, fence: int, checkpoint: bytes, now: str, at: str, build: str, lease_at: str,
         consumed: list[str], waits: list[NewWait], history: list[Note], release: list[str],
         drop: list[str] | None = None) -> Call[ParkOutcome]:
    """Record a park: fence check, consume fired events, drop the waits given up (``drop``),
    register new waits (starting the child job of a child wait), store the checkpoint."""
    drop = drop or []
    children = [w.child.job_id for w in waits if w.child is not None]
    tasks = [keys.task_assignee(w.fields.assignee) for w in waits if w.kind == "task"]
    return _call("park", (keys.job(job_id), keys.job_events(job_id), keys.job_fired(job_id), keys.job_history(job_id),
                          keys.job_inbox(job_id), *(keys.event(e) for e in consumed), *(keys.event(e) for e in drop),
                          *(keys.event(w.id) for w in waits), *(keys.job(c) for c in children), *tasks,
                          *((keys.task_due,) if tasks else ()), keys.wakes, keys.timers, keys.dispatch,
                          keys.stranded, keys.job_status("parked"),
                          *dict.fromkeys(keys.event_index(w.kind) for w in waits)),
                 _Park(job_id, fence, checkpoint.decode(), now, at, build, lease_at, consumed, waits, history, release,
                       drop),
                 _park)


# -- finish -----------------------------------------------------------------------------

FinishOutcome = Done | Unknown | Finished | Stale


class _Finish(_Args):
    job_id: str
    status: str
    output: str
    error: str
    at: str
    build: str
    lease_at: str
    fence: int | None = None
    history: list[Note] = []
    checkpoint: str | None = None


_finish = msgspec.msgpack.Decoder(FinishOutcome)


def finish(keys: Keys, *, job_id: str, fence: int | None, status: str, output: bytes, error: str, at: str,
           build: str, lease_at: str, history: list[Note], checkpoint: bytes | None = None) -> Call[FinishOutcome]:
    """Finish a job: fence check (none with ``fence=None``: a cancel), drop its events, release its bots.
    ``checkpoint``: stored as the job's (a failed job's, which ``ee retry`` resumes); None keeps the last park's."""
    return _call("finish", (keys.job(job_id), keys.job_events(job_id), keys.job_fired(job_id),
                            keys.job_inbox(job_id),
                            keys.job_history(job_id), keys.wakes, keys.stranded, keys.timers, keys.dispatch,
                            keys.job_status(status)),
                 _Finish(job_id, status, output.decode(), error, at, build, lease_at, fence, history,
                         None if checkpoint is None else checkpoint.decode()), _finish)


class _CancelBeforeStart(_Args):
    job_id: str
    status: str
    error: str
    at: str
    now: str
    history: list[Note] = []


_cancel_before_start = msgspec.msgpack.Decoder(Recorded | Exists)


def cancel_before_start(keys: Keys, *, job_id: str, error: str, at: str, now: str,
                        history: list[Note]) -> Call[Recorded | Exists]:
    """Record a job that does not exist yet as cancelled, so that its start finds it finished."""
    return _call("cancel_before_start", (keys.job(job_id), keys.job_history(job_id), keys.jobs,
                                         keys.job_events(job_id), keys.job_inbox(job_id),
                                         keys.job_status("cancelled")),
                 _CancelBeforeStart(job_id, "cancelled", error, at, now, history), _cancel_before_start)


# -- intake, strand -----------------------------------------------------------------------

class _Intake(_Args):
    job_id: str
    verdict: str
    reason: str
    now: str
    at: str
    build: str
    name: str
    version: int


_intake = msgspec.msgpack.Decoder(Recorded | Untouched)


def intake(keys: Keys, *, job_id: str, verdict: str, reason: str, now: str, at: str, build: str, name: str,
           version: int) -> Call[Recorded | Untouched]:
    """Record a job an executor could not start: ``waiting`` (pending) or ``refused`` (failed)."""
    return _call("intake", (keys.job(job_id), keys.job_history(job_id), keys.jobs, keys.job_status("pending")),
                 _Intake(job_id, verdict, reason, now, at, build, name, version), _intake)


class _Strand(_Args):
    job_id: str
    reason: str
    at: str
    build: str


_strand = msgspec.msgpack.Decoder(Ok | Unknown)


def strand(keys: Keys, *, job_id: str, reason: str, at: str, build: str) -> Call[Ok | Unknown]:
    """Mark a job stranded: an executor cannot run it (it stays offered to the others)."""
    return _call("strand", (keys.job(job_id), keys.job_history(job_id), keys.stranded),
                 _Strand(job_id, reason, at, build), _strand)


class _Dispatched(_Args):
    sent: list[tuple[str, int]]


def dispatched(keys: Keys, *, sent: list[tuple[str, int]]) -> Call[Count]:
    """Events whose task (``(event id, attempt)``) JetStream acknowledged: out of the dispatch
    set, each while it still waits on that attempt."""
    return _call("dispatched", (keys.dispatch, *(keys.event(e) for e, _ in sent)), _Dispatched(sent), _count)


# -- signals and operator actions ------------------------------------------------------------

SignalOutcome = Fired | Kept | Unknown | Finished | InboxFull | OverBudget


class _Signal(_Args):
    job_id: str
    name: str
    result: str
    now: str
    at: str
    lease_at: str
    inbox_max: int
    inbox_ttl_s: int
    inbox_max_bytes: int


_signal = msgspec.msgpack.Decoder(SignalOutcome)


def signal(keys: Keys, *, job_id: str, name: str, result: bytes, now: str, at: str, lease_at: str, inbox_max: int,
           inbox_ttl_s: int, inbox_max_bytes: int) -> Call[SignalOutcome]:
    """Fire the job's wait for this signal, or keep the signal in the job's bounded inbox."""
    return _call("signal", (keys.job(job_id), keys.job_inbox(job_id), keys.job_history(job_id), keys.wakes,
                            keys.job_events(job_id), keys.job_fired(job_id)),
                 _Signal(job_id, name, result.decode(), now, at, lease_at, inbox_max, inbox_ttl_s, inbox_max_bytes),
                 _signal)


EventOutcome = Fired | Extended | Unknown | NotParked | InBackoff


class _Event(_Args):
    event_id: str
    op: str
    result: str
    now: str
    at: str
    lease_at: str
    timeout_s: str = ""
    by: str = ""


_event = msgspec.msgpack.Decoder(EventOutcome)


def event(keys: Keys, *, event_id: str, op: str, result: bytes, now: str, at: str, lease_at: str,
          timeout_s: str, by: str = "") -> Call[EventOutcome]:
    """An operator's action on one parked wait: ``resolve``, ``fail`` or ``extend``; ``by``: who."""
    return _call("event", (keys.event(event_id), keys.timers, keys.wakes, keys.dispatch,
                           *_event_job_keys(keys, event_id)),
                 _Event(event_id, op, result.decode(), now, at, lease_at, timeout_s, by), _event)


# -- results, timers, leases -------------------------------------------------------------------

ResultOutcome = Fired | Retrying | Ignored | Refused


class _Result(_Args):
    event_id: str
    attempt: int
    ok: bool
    result: str
    error: str
    now: str
    at: str
    lease_at: str
    token: bool = False
    business: bool = False


_result = msgspec.msgpack.Decoder(ResultOutcome)


def result(keys: Keys, *, event_id: str, attempt: int, ok: bool, result: bytes, error: str, now: str, at: str,
           lease_at: str, token: bool, business: bool = False) -> Call[ResultOutcome]:
    """Apply one activity result. ``token``: it carried its attempt's valid token (checked by the caller).
    ``business``: a business error (never retried: it fires at once, attempts left or not)."""
    return _call("result", (keys.event(event_id), keys.timers, keys.dispatch, keys.wakes,
                            *_event_job_keys(keys, event_id)),
                 _Result(event_id, attempt, ok, result.decode(), error, now, at, lease_at, token, business), _result)


TimerOutcome = Fired | Retrying | Redispatch | Nothing


class _Timer(_Args):
    event_id: str
    now: str
    at: str
    lease_at: str
    timeout_result: str


_timer = msgspec.msgpack.Decoder(TimerOutcome)


def timer(keys: Keys, *, event_id: str, now: str, at: str, lease_at: str, timeout_result: bytes) -> Call[TimerOutcome]:
    """A due timer: claim it (one winner), then act by the event's kind and phase."""
    return _call("timer", (keys.event(event_id), keys.timers, keys.dispatch, keys.wakes,
                           *_event_job_keys(keys, event_id)),
                 _Timer(event_id, now, at, lease_at, timeout_result.decode()), _timer)


LeaseOutcome = Fired | Nothing


class _Lease(_Args):
    job_id: str
    now: str
    at: str
    lease_s: float
    lapsed: bool
    strand_after: int


_lease = msgspec.msgpack.Decoder(LeaseOutcome)


def lease(keys: Keys, *, job_id: str, now: str, at: str, lease_s: float, lapsed: bool,
          strand_after: int) -> Call[LeaseOutcome]:
    """Offer a job again: its wake lease lapsed (``lapsed``), or an executor asked (redrive)."""
    return _call("lease", (keys.job(job_id), keys.job_fired(job_id), keys.wakes, keys.stranded,
                           keys.job_history(job_id)),
                 _Lease(job_id, now, at, lease_s, lapsed, strand_after), _lease)


# -- bots ------------------------------------------------------------------------------------

class _Heartbeat(_Args):
    bot: str
    pool: str
    worker: str
    lease_until: str
    stopping: bool
    now: str
    at: str
    lease_at: str
    lease_s: str
    held: list[tuple[str, int]] = []


_wakes = msgspec.msgpack.Decoder(Wakes)


def heartbeat(keys: Keys, *, bot: str, pool: str, worker: str, lease_until: str, stopping: bool, now: str, at: str,
              lease_at: str, lease_s: str, held: list[tuple[str, int]]) -> Call[Wakes]:
    """A bot's heartbeat: keep it in its pool (granting it to a waiting job), or take it out;
    ``held``: the (event, attempt) pairs it holds, which resume an attempt lapsed with it."""
    return _call("heartbeat", (keys.bot(bot), keys.bots, keys.bot_leases, keys.pool_bots(pool), keys.pool_free(pool),
                               keys.pool_waiting(pool), keys.pool_queue(pool)),
                 _Heartbeat(bot, pool, worker, lease_until, stopping, now, at, lease_at, lease_s, held), _wakes)


class _BotLapse(_Args):
    bot: str
    now: str
    at: str
    lease_at: str


def bot_lapse(keys: Keys, *, bot: str, now: str, at: str, lease_at: str) -> Call[Wakes]:
    """A bot whose heartbeat lease ran out: out of its pool, its holder's attempts on it failed."""
    return _call("bot_lapse", (keys.bot(bot), keys.bot_leases), _BotLapse(bot, now, at, lease_at), _wakes)


class _BotGrace(_Args):
    now: str
    default_lease_s: float


_count = msgspec.msgpack.Decoder(Count)


def bot_grace(keys: Keys, *, now: str, default_lease_s: float) -> Call[Count]:
    """Give every bot's lease at least one lease period from ``now`` (heartbeats may have been missed)."""
    return _call("bot_grace", (keys.bot_leases,), _BotGrace(now, default_lease_s), _count)


# -- the status-index fill ---------------------------------------------------------------------

class _StatusBackfill(_Args):
    count: int


_step = msgspec.msgpack.Decoder(Step)


def status_backfill(keys: Keys, *, count: int) -> Call[Step]:
    """One step of the one-time fill of the status indexes with jobs recorded before them."""
    return _call("status_backfill", (keys.job_status_backfill, keys.jobs), _StatusBackfill(count), _step)


# -- retention ---------------------------------------------------------------------------------

FINAL_STATUSES: tuple[str, ...] = get_args(FinalStatus)


class _Purge(_Args):
    status: str
    older_than_s: float
    limit: int


_purged = msgspec.msgpack.Decoder(Purged)


def purge(keys: Keys, *, status: str, older_than_s: float, limit: int) -> Call[Purged]:
    """Remove up to ``limit`` jobs of the final ``status`` that took it ``older_than_s`` ago."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"not a final status: {status!r}")
    return _call("purge", (keys.job_status(status), keys.jobs, keys.stranded),
                 _Purge(status, float(older_than_s), int(limit)), _purged)


# -- deployed workflows, retries ---------------------------------------------------------------

DeployOutcome = Deployed | Unchanged | VersionTaken


class _Deploy(_Args):
    name: str
    version: str
    digest: str
    workflow: str
    record: str
    now: str


_deploy = msgspec.msgpack.Decoder(DeployOutcome)


def deploy(keys: Keys, *, name: str, version: int, digest: str, workflow: bytes, record: bytes,
           now: str) -> Call[DeployOutcome]:
    """Store a workflow version under its name, once: the same content again changes nothing."""
    return _call("deploy", (keys.deployed_workflow(name), keys.deployed, keys.workflow(digest)),
                 _Deploy(name, str(version), digest, workflow.decode(), record.decode(), now), _deploy)


RetryOutcome = Retried | Unknown | NotFailed | Stale


class _Retry(_Args):
    job_id: str
    fence: int
    checkpoint: str
    node: str
    by: str
    at: str
    lease_at: str


_retry = msgspec.msgpack.Decoder(RetryOutcome)


def retry(keys: Keys, *, job_id: str, fence: int, checkpoint: bytes, node: str, by: str, at: str,
          lease_at: str) -> Call[RetryOutcome]:
    """Run a failed job again from its checkpoint (``b""``: the one stored), fenced."""
    return _call("retry", (keys.job(job_id), keys.job_history(job_id), keys.job_inbox(job_id),
                           keys.job_events(job_id), keys.wakes, keys.stranded, keys.deadlines,
                           keys.job_status("failed"), keys.job_status("running"), keys.job_fired(job_id)),
                 _Retry(job_id, fence, checkpoint.decode(), node, by, at, lease_at), _retry)


# -- limits (reactor.limits) --------------------------------------------------------------------

class _LimitSet(_Args):
    op: str
    name: str
    concurrency: int
    rate: int
    period_s: float
    at: str


_limit_set = msgspec.msgpack.Decoder(LimitSet)


def limit_set(keys: Keys, *, name: str, concurrency: int | None, rate: int | None, period_s: float | None,
              at: str) -> Call[LimitSet]:
    """Write a limit's settings (None: that cap lifted), live: the heads of its lines are nudged."""
    return _call("limit_set", (keys.limit(name), keys.limits, keys.limit_keys(name), keys.timers),
                 _LimitSet("set", name, concurrency or 0, rate or 0, period_s or 0.0, at), _limit_set)


def limit_delete(keys: Keys, *, name: str, at: str) -> Call[LimitSet]:
    """Delete a limit's settings: unlimited from the next admission on."""
    return _call("limit_set", (keys.limit(name), keys.limits, keys.limit_keys(name), keys.timers),
                 _LimitSet("delete", name, 0, 0, 0.0, at), _limit_set)


# -- the reactor lease (reactor.leader) --------------------------------------------------------

class _LeadTake(_Args):
    instance: str
    ttl_ms: int


_lead_take = msgspec.msgpack.Decoder(Taken | Held)


def lead_take(keys: Keys, *, instance: str, ttl_ms: int) -> Call[Taken | Held]:
    """Take the reactor lease if nobody holds it, under a new epoch. Not fenced: the caller
    holds no lease yet."""
    return Call("lead_take", (keys.reactor_leader, keys.reactor_epoch), _pack.encode(_LeadTake(instance, ttl_ms)),
                _lead_take.decode, fenced=False)


class _LeadRenew(_Args):
    ttl_ms: int


_ok = msgspec.msgpack.Decoder(Ok)


def lead_renew(keys: Keys, *, ttl_ms: int) -> Call[Ok]:
    """Extend the lease the caller holds (the fence check refuses one it lost)."""
    return _call("lead_renew", (keys.reactor_leader,), _LeadRenew(ttl_ms), _ok)


class _LeadRelease(_Args):
    pass


def lead_release(keys: Keys) -> Call[Ok]:
    """Give the lease up (a stopping reactor), if the caller still holds it."""
    return _call("lead_release", (keys.reactor_leader,), _LeadRelease(), _ok)


# -- the clock: delayed starts, deadlines, schedules (reactor.clock, reactor.schedules) ---------

from reactor.clock_outcomes import (  # noqa: E402 - this section's own outcomes
    Deferred,
    DeferredExisting,
    Flagged,
    ScheduleExists,
    ScheduleStep,
    ScheduleStored,
)

__all__ += ["DeferredJob", "deadline", "deadline_arm", "defer", "defer_start", "schedule_fire", "schedule_op",
            "schedule_put"]


class DeferredJob(msgspec.Struct):
    """Everything a pending job's start needs (``defer_job`` in lib/clock.lua)."""

    digest: str
    workflow: str
    name: str
    version: int
    checkpoint: str
    input: str
    not_before: str
    now: str
    at: str
    build: str = ""
    detail: str = ""
    deadline: str = ""
    on_deadline: str = "flag"
    schedule: str = ""
    fire_time: str = ""
    priority: int = 5


def _deferred_keys(keys: Keys, job_id: str, d: DeferredJob) -> tuple[str, ...]:
    return (keys.job(job_id), keys.job_history(job_id), keys.workflow(d.digest), keys.jobs,
            keys.job_status("pending"), keys.deferred, keys.deadlines)


class _Defer(_Args):
    job_id: str
    d: DeferredJob


_defer = msgspec.msgpack.Decoder(Deferred | DeferredExisting)


def defer(keys: Keys, *, job_id: str, d: DeferredJob) -> Call[Deferred | DeferredExisting]:
    """Record a job pending until its start time (one job per id)."""
    return _call("defer", _deferred_keys(keys, job_id, d), _Defer(job_id, d), _defer)


class _DeferStart(_Args):
    job_id: str
    now: str
    at: str
    lease_at: str


_defer_start = msgspec.msgpack.Decoder(Fired | Nothing)


def defer_start(keys: Keys, *, job_id: str, now: str, at: str, lease_at: str) -> Call[Fired | Nothing]:
    """Start a pending job whose start time came (its wake), or take it off the clock."""
    return _call("defer_start", (keys.job(job_id), keys.job_history(job_id), keys.deferred, keys.wakes,
                                 keys.job_fired(job_id), keys.job_status("pending"), keys.job_status("running")),
                 _DeferStart(job_id, now, at, lease_at), _defer_start)


class _DeadlineArm(_Args):
    job_id: str
    deadline: str
    on_deadline: str


_deadline_arm = msgspec.msgpack.Decoder(Ok | Unknown | Finished)


def deadline_arm(keys: Keys, *, job_id: str, deadline: str, on_deadline: str) -> Call[Ok | Unknown | Finished]:
    """Give a job its deadline, unless it has one."""
    return _call("deadline_arm", (keys.job(job_id), keys.deadlines),
                 _DeadlineArm(job_id, deadline, on_deadline), _deadline_arm)


class _Deadline(_Args):
    job_id: str
    now: str
    at: str
    retry_s: float


_deadline = msgspec.msgpack.Decoder(Flagged | Nothing)


def deadline(keys: Keys, *, job_id: str, now: str, at: str, retry_s: float) -> Call[Flagged | Nothing]:
    """A due deadline: flag the job overdue."""
    return _call("deadline", (keys.job(job_id), keys.job_history(job_id), keys.deadlines, keys.overdue),
                 _Deadline(job_id, now, at, retry_s), _deadline)


class _SchedulePut(_Args):
    name: str
    fields: list[str]
    next: str
    replace: bool


_schedule_put = msgspec.msgpack.Decoder(ScheduleStored | ScheduleExists | Ok)


def schedule_put(keys: Keys, *, name: str, fields: list[str], next: str,
                 replace: bool) -> Call[ScheduleStored | ScheduleExists | Ok]:
    """Add a schedule (``fields``: its hash, flat), or replace it."""
    return _call("schedule_put", (keys.schedule(name), keys.schedules, keys.schedules_buffered),
                 _SchedulePut(name, fields, next, replace), _schedule_put)


class _ScheduleOp(_Args):
    name: str
    op: str
    next: str
    at: str


_schedule_op = msgspec.msgpack.Decoder(Ok | Unknown)


def schedule_op(keys: Keys, *, name: str, op: str, next: str, at: str) -> Call[Ok | Unknown]:
    """Pause, resume or delete a schedule."""
    return _call("schedule_op", (keys.schedule(name), keys.schedules, keys.schedules_buffered),
                 _ScheduleOp(name, op, next, at), _schedule_op)


class _ScheduleFire(_Args):
    name: str
    op: str
    due: str
    next: str
    at: str
    fire_at: str = ""
    n: int = 0
    job_id: str = ""
    d: DeferredJob | None = None


_schedule_fire = msgspec.msgpack.Decoder(ScheduleStep | Nothing | Unknown)


def schedule_fire(keys: Keys, *, name: str, op: str, due: str, next: str, at: str, fire_at: str = "", n: int = 0,
                  job_id: str = "", d: DeferredJob | None = None) -> Call[ScheduleStep | Nothing | Unknown]:
    """One step of a schedule: fire, count missed fire times, release a buffered fire, trigger."""
    job_keys = () if d is None else _deferred_keys(keys, job_id, d)
    return _call("schedule_fire", (keys.schedule(name), keys.schedules, keys.schedules_buffered, *job_keys),
                 _ScheduleFire(name, op, due, next, at, fire_at, n, job_id, d), _schedule_fire)


# -- human tasks (reactor.tasks) ---------------------------------------------------------------

TaskStepOutcome = Ok | Claimed | Completed | Unknown | NotTask | NotParked
TaskCompleteOutcome = Fired | Ok | Claimed | Completed | Unknown | NotTask | NotParked
TaskDueOutcome = Escalated | Overdue | Nothing


class _TaskClaim(_Args):
    task_id: str
    by: str
    at: str


class _TaskReassign(_Args):
    task_id: str
    to: str
    by: str
    now: str
    at: str


class _TaskComplete(_Args):
    task_id: str
    by: str
    data: str
    result: str
    at: str
    lease_at: str


class _TaskDue(_Args):
    event_id: str
    now: str
    at: str


_task_step = msgspec.msgpack.Decoder(TaskStepOutcome)
_task_complete = msgspec.msgpack.Decoder(TaskCompleteOutcome)
_task_due = msgspec.msgpack.Decoder(TaskDueOutcome)


def _task_keys(keys: Keys, task_id: str) -> tuple[str, ...]:
    job_id = event_job(task_id)
    return (keys.event(task_id), keys.task_done(task_id), keys.job_history(job_id))


def task_claim(keys: Keys, *, task_id: str, by: str, at: str) -> Call[TaskStepOutcome]:
    """Claim an open human task for ``by``."""
    return _call("task_claim", _task_keys(keys, task_id), _TaskClaim(task_id, by, at), _task_step)


def task_reassign(keys: Keys, *, task_id: str, to: str, by: str, now: str, at: str) -> Call[TaskStepOutcome]:
    """Give an open human task to ``to`` (its assignee's inbox index moves; a claim is released);
    the old assignee's index is read from the event (a documented cross-slot key)."""
    return _call("task_reassign", (*_task_keys(keys, task_id), keys.task_assignee(to)),
                 _TaskReassign(task_id, to, by, now, at), _task_step)


def task_complete(keys: Keys, *, task_id: str, by: str, data: bytes, result: bytes, at: str,
                  lease_at: str) -> Call[TaskCompleteOutcome]:
    """Complete an open human task: record who and when, fire its wait with ``result``."""
    job_id = event_job(task_id)
    return _call("task_complete", (*_task_keys(keys, task_id), keys.job(job_id), keys.job_fired(job_id),
                                   keys.task_due, keys.timers, keys.wakes, keys.dispatch),
                 _TaskComplete(task_id, by, data.decode(), result.decode(), at, lease_at), _task_complete)


def task_due(keys: Keys, *, event_id: str, now: str, at: str) -> Call[TaskDueOutcome]:
    """A human task's due time: escalate it, or mark it overdue (one winner for the timer)."""
    return _call("task_due", (keys.event(event_id), keys.timers, keys.task_due, keys.job_history(event_job(event_id))),
                 _TaskDue(event_id, now, at), _task_due)
