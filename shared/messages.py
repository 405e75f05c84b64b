"""Every message on every subject, as msgspec Structs.

One encoder and one typed decoder per message family, built once. Schemas
evolve only by adding fields with defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

from shared.bounds import MAX_BOT_CAPACITY, MAX_BOT_LEASE_S, MAX_DATA_DEPTH, MAX_DEPTH, bounded_text, nested_deeper_than
from shared.errors import InvalidMessage

__all__ = [
    "OUTSIDE_DATA",
    "Ack",
    "ActivityResult",
    "ActivityTask",
    "ActivityWait",
    "BotHeartbeat",
    "BotLockWait",
    "BranchCursor",
    "CancelReply",
    "CancelRequest",
    "Checkpoint",
    "ChildWait",
    "Codec",
    "DeadLetter",
    "DeadlineRequest",
    "DeferReply",
    "DeferRequest",
    "DeployReply",
    "DeployRequest",
    "DeployedReply",
    "DeployedRequest",
    "DeployedVersion",
    "DeployedWorkflow",
    "DeploymentsReply",
    "DeploymentsRequest",
    "EventOp",
    "EventOpReply",
    "EventResult",
    "FinalStatus",
    "FinishReply",
    "FinishRequest",
    "FiredEvent",
    "Fork",
    "HistoryEntry",
    "IntakeReply",
    "IntakeRequest",
    "JobRequest",
    "JobView",
    "LimitDeleteReply",
    "LimitInfo",
    "LimitKey",
    "LimitListReply",
    "LimitRequest",
    "LimitSetRequest",
    "ParkReply",
    "ParkRequest",
    "PurgeReply",
    "PurgeRequest",
    "RedriveReply",
    "RedriveRequest",
    "RetryReply",
    "RetryRequest",
    "ScheduleAddRequest",
    "ScheduleList",
    "ScheduleListRequest",
    "ScheduleOpRequest",
    "ScheduleView",
    "SignalReply",
    "SignalRequest",
    "SignalWait",
    "StartReply",
    "StartRequest",
    "StrandRequest",
    "TaskOp",
    "TaskOpReply",
    "TaskWait",
    "TimerWait",
    "Wait",
    "Wake",
    "WorkerPresence",
    "WorkflowReply",
    "WorkflowRequest",
    "encode",
]

FinalStatus = Literal["completed", "failed", "cancelled"]


class JobRequest(msgspec.Struct, kw_only=True):
    """Published to ``jobs.execute``. ``workflow`` is the raw workflow object."""

    workflow: dict[str, Any]
    input: dict[str, Any] = {}
    job_id: str | None = None
    # Flow control (docs/operations.md): the earliest start and the deadline, each Unix seconds
    # or ISO-8601 text (``shared.instants``); None: start now, no deadline.
    not_before: float | str | None = None
    deadline: float | str | None = None
    priority: int = 5  # 1 (most urgent) .. 9: who goes first for a bot or a limit's slot


class Fork(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Progress of the ``parallel`` or ``map`` node a cursor is at, while its branches run.

    ``outputs``: the value of each branch that ended, by branch name (parallel) or item index
    (map, as text; a tolerated failure's slot holds ``{"error", "type"}``). Finished branches
    keep nothing else: a 10,000-item map stays small. Map: ``next`` is the index of the next
    item to start (those from ``next`` on are waiting), ``running`` the bodies in flight."""

    kind: str = "map"
    total: int = 0
    next: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    outputs: dict[str, Any] = {}


class BranchCursor(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One running branch of a fork (a branch of a parallel, one item's body of a map).

    ``parent``: the key of the enclosing cursor ("" for the top level); ``slot``: the branch
    name or the item index. ``vars``: what the branch assigned (it sees the enclosing
    variables as they were at the fork beneath them: those cannot change while it runs).
    ``bot``: the bot the branch locked itself (None: it uses the enclosing one's).
    ``events``: the events it waits on; ``fork``: set when it is at a fork of its own."""

    parent: str = ""
    slot: str = ""
    node: str
    vars: dict[str, Any] = {}
    bot: str | None = None
    steps: int = 0
    events: list[str] = []
    fork: Fork | None = None


class Checkpoint(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A job's continuation: the top-level node to run next (or waiting, or forked at) and the
    job's variables; with branches in flight, every branch cursor by its key (``both.erp``,
    ``each[3]``, ``both.erp/each[3]``: the path shown in history and waits, never parsed).

    Older checkpoints have only the first four fields: their job waits on one event at the top
    level, and still decodes and resumes."""

    node: str
    vars: dict[str, Any] = {}
    bot: str | None = None
    steps: int = 0
    events: list[str] = []
    fork: Fork | None = None
    branches: dict[str, BranchCursor] = {}

    def forks(self) -> list[tuple[str, Fork]]:
        """``(path of the fork node, its progress)`` of every fork in flight, outermost first:
        what ``ee status`` shows (a map's done / failed / running / waiting of N)."""
        found = [] if self.fork is None else [(self.node, self.fork)]
        found += [(f"{key}/{cursor.node}", cursor.fork) for key, cursor in self.branches.items()
                  if cursor.fork is not None]
        return found


class HistoryEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    at: str
    node: str
    event: str
    build: str = ""
    detail: str = ""


# Waits a park registers: a tagged union on ``kind`` (the event kinds).
class _WaitBase(msgspec.Struct, tag_field="kind", kw_only=True, omit_defaults=True):
    """``node``: the node as shown, with its branch path (``each[3]/run``, ``both.erp/post``).
    ``branch``: the key of the branch cursor that parked it ("" for the top level), which the
    executor finds the cursor by when the wait fires (never parsed from ``node``)."""

    node: str
    branch: str = ""


class ActivityWait(_WaitBase, tag="activity"):
    activity: str
    input: dict[str, Any] = {}
    timeout_s: float | None = None
    max_attempts: int = 1
    backoff_s: float = 1.0
    multiplier: float = 2.0
    max_backoff_s: float = 300.0
    bot: str | None = None
    # The limit its attempts run under (reactor/lua/lib/limits.lua) and the key, evaluated when
    # the node was entered ('' for a limit without keys).
    limit: str | None = None
    limit_key: str = ""


class TimerWait(_WaitBase, tag="timer"):
    seconds: float


class SignalWait(_WaitBase, tag="signal"):
    signal: str
    timeout_s: float | None = None


class BotLockWait(_WaitBase, tag="bot_lock"):
    pool: str
    timeout_s: float | None = None


class ChildWait(_WaitBase, tag="child"):
    """A ``call``: the park creates the child job ``job_id`` (once: the id derives from the
    parent's, ``shared.names.child_job_id``) from the deployed workflow ``digest``; the child's
    end fires this wait with its output, or its error."""

    job_id: str
    digest: str
    name: str
    version: int
    start: str
    input: dict[str, Any] = {}


class TaskWait(_WaitBase, tag="task"):
    """A ``human_task``: open until someone completes it (``ee task complete``) with data that
    fits ``form`` (a JSON Schema), which fires it with that data as output. ``details``: the
    value of the node's details expression. ``due_s``: at that time ``on_due`` happens:
    ``escalate`` (reassigned to ``escalate_to``), ``fail`` (fired as a timeout, for a catch),
    ``overdue`` (only marked)."""

    title: str
    assignee: str
    form: dict[str, Any] = {}
    details: Any = None
    due_s: float | None = None
    escalate_to: str = ""
    on_due: Literal["escalate", "fail", "overdue"] = "overdue"


Wait = ActivityWait | TimerWait | SignalWait | BotLockWait | ChildWait | TaskWait


class EventResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """How a wait ended: ``ok`` with its output, or its ``error`` text and, where the engine
    knows it, the class of failure (``operator``: failed by ``ee event fail``)."""

    ok: bool
    output: Any = None
    error: str | None = None
    error_type: str | None = None
    error_code: str | None = None


class FiredEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One fired, not yet consumed wait of a job, as a wake carries it."""

    event_id: str
    kind: str = ""
    node: str = ""
    branch: str = ""
    result: EventResult | None = None


# ---- executor -> reactor -------------------------------------------------

class StartRequest(msgspec.Struct, kw_only=True):
    job_id: str
    workflow: bytes
    digest: str
    name: str
    version: int
    start: str
    input: dict[str, Any] = {}
    build: str = ""
    priority: int = 5


class StartReply(msgspec.Struct, kw_only=True):
    job_id: str
    status: str
    fence: int
    created: bool
    checkpoint: Checkpoint | None = None
    input: dict[str, Any] = {}


class ParkRequest(msgspec.Struct, kw_only=True):
    job_id: str
    fence: int
    checkpoint: Checkpoint
    waits: list[Wait] = []
    consumed: list[str] = []
    history: list[HistoryEntry] = []
    build: str = ""
    release_bots: list[str] = []
    # Waits of this job to drop, parked or fired (the siblings of a failed branch): in-flight
    # activities among them are told to cancel, a child job among them is cancelled.
    drop: list[str] = []


class ParkReply(msgspec.Struct, kw_only=True):
    fence: int
    events: list[str] = []


class FinishRequest(msgspec.Struct, kw_only=True):
    job_id: str
    fence: int
    status: FinalStatus
    output: Any = None
    error: str | None = None
    consumed: list[str] = []
    history: list[HistoryEntry] = []
    build: str = ""
    # A failed job: the checkpoint ``ee retry`` resumes it from (the top-level node that failed,
    # with the variables as they were there).
    checkpoint: Checkpoint | None = None


class FinishReply(msgspec.Struct, kw_only=True):
    fence: int


class RedriveRequest(msgspec.Struct, kw_only=True):
    build: str = ""


class StrandRequest(msgspec.Struct, kw_only=True):
    """An executor cannot run this job; the reactor records why and keeps offering it."""

    job_id: str
    reason: str
    build: str = ""


class IntakeRequest(msgspec.Struct, kw_only=True):
    """An executor could not start a job: why, so that ``ee status`` and ``ee jobs`` show it.

    ``waiting``: its build cannot read the workflow (a kind or field from a newer build); the
    job message goes back to JetStream for another executor. ``refused``: no build could accept
    it; the job is recorded failed with ``reason``."""

    job_id: str
    verdict: Literal["waiting", "refused"]
    reason: str
    build: str = ""
    name: str = ""
    version: int = 0


class IntakeReply(msgspec.Struct, kw_only=True):
    """``recorded`` False: the job had started or finished meanwhile (``status``), left as it was."""

    recorded: bool
    status: str


class DeadLetter(msgspec.Struct, kw_only=True):
    """A message a service refused where nobody waits for an answer."""

    subject: str
    reason: str
    data: str = ""


class Ack(msgspec.Struct, kw_only=True):
    ok: bool = True


class PurgeRequest(msgspec.Struct, kw_only=True):
    """Remove finished jobs (``statuses``, final ones only) that took their status more than
    ``older_than_s`` ago: up to ``max_batches`` batches of ``batch`` jobs, one short Redis
    script each (``ee purge`` asks again while the reply says ``more``). ``dry_run``: count
    them, remove nothing."""

    older_than_s: Annotated[float, msgspec.Meta(ge=0)]
    statuses: list[FinalStatus] = msgspec.field(default_factory=lambda: ["completed", "failed", "cancelled"])
    dry_run: bool = False
    batch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    max_batches: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20


class PurgeReply(msgspec.Struct, kw_only=True):
    """Jobs removed per status (with ``dry_run``: that would be); ``more``: some are still due."""

    removed: dict[str, int]
    more: bool = False
    dry_run: bool = False


class RedriveReply(msgspec.Struct, kw_only=True):
    offered: int


class WorkflowRequest(msgspec.Struct, kw_only=True):
    digest: str


class WorkflowReply(msgspec.Struct, kw_only=True):
    workflow: bytes


class DeployedRequest(msgspec.Struct, kw_only=True):
    """The deployed workflow ``name`` at ``version`` (0: its latest version)."""

    name: str
    version: int = 0


class DeployedReply(msgspec.Struct, kw_only=True):
    name: str
    version: int
    digest: str
    workflow: bytes


# ---- clients -> reactor --------------------------------------------------

class SignalRequest(msgspec.Struct, kw_only=True):
    job_id: str
    signal: str
    data: Any = None


class SignalReply(msgspec.Struct, kw_only=True):
    delivered: bool
    buffered: bool


class CancelRequest(msgspec.Struct, kw_only=True):
    job_id: str
    reason: str = "cancelled by request"


class CancelReply(msgspec.Struct, kw_only=True):
    job_id: str
    status: str


class EventOp(msgspec.Struct, kw_only=True):
    """An operator's action on one parked wait: resolve, fail or extend."""

    event_id: str
    op: Literal["resolve", "fail", "extend"]
    data: Any = None
    error: str | None = None
    timeout_s: float | None = None
    by: str = ""  # who acted (an operator's name), for the job's history; "" says "operator"


class EventOpReply(msgspec.Struct, kw_only=True):
    event_id: str
    status: str


class JobView(msgspec.Struct, kw_only=True):
    job_id: str
    status: str
    output: Any = None
    error: str | None = None


class DeployRequest(msgspec.Struct, kw_only=True):
    """Deploy ``workflow`` (the raw workflow object, validated by the reactor) under its name
    and version. ``by``: who deploys it (recorded, shown by ``ee workflow show``)."""

    workflow: dict[str, Any]
    by: str = ""


class DeployReply(msgspec.Struct, kw_only=True):
    """``created`` False: this very content was deployed under this version already (nothing changed)."""

    name: str
    version: int
    digest: str
    created: bool


class DeploymentsRequest(msgspec.Struct, kw_only=True):
    """The deployed workflows (``name``: only that one), newest deployment first, at most ``limit``."""

    name: str = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000


class DeployedVersion(msgspec.Struct, kw_only=True):
    version: int
    digest: str
    deployed_at: str = ""
    deployed_by: str = ""


class DeployedWorkflow(msgspec.Struct, kw_only=True):
    name: str
    latest: int
    versions: list[DeployedVersion] = []  # oldest version first


class DeploymentsReply(msgspec.Struct, kw_only=True):
    workflows: list[DeployedWorkflow] = []


class RetryRequest(msgspec.Struct, kw_only=True):
    """Resume a failed job from the checkpoint stored when it failed, or from the top-level node
    ``from_node``. ``by``: who retries it (in the job's history)."""

    job_id: str
    from_node: str = ""
    by: str = ""


class RetryReply(msgspec.Struct, kw_only=True):
    job_id: str
    status: str
    fence: int
    node: str  # where it resumes
    retries: int
# ---- flow control: the clock (delayed starts, deadlines, schedules) --------

OnDeadline = Literal["flag", "fail"]
Overlap = Literal["skip", "buffer_one", "allow_all"]


class DeferRequest(msgspec.Struct, kw_only=True):
    """Executor -> reactor: accept a job that starts at ``not_before`` (Unix seconds). The job
    is recorded ``pending`` with everything its start needs; the reactor starts it then."""

    job_id: str
    workflow: bytes
    name: str
    version: int
    start: str
    not_before: float
    input: dict[str, Any] = {}
    build: str = ""
    deadline: float | None = None
    on_deadline: OnDeadline = "flag"
    priority: int = 5  # the job's, kept for its start (JobRequest.priority)


class DeferReply(msgspec.Struct, kw_only=True):
    job_id: str
    status: str
    created: bool


class DeadlineRequest(msgspec.Struct, kw_only=True):
    """Executor -> reactor: the job must be finished by ``deadline`` (Unix seconds); the first
    deadline given to a job stays."""

    job_id: str
    deadline: float
    on_deadline: OnDeadline = "flag"


class ScheduleAddRequest(msgspec.Struct, kw_only=True):
    """``ee schedule add``: a deployed workflow by name (``version`` 0: its latest at each
    fire) or, until workflows are deployed by name, the ``workflow`` object itself."""

    name: str
    cron: str
    tz: str = "UTC"
    workflow_name: str = ""
    workflow_version: Annotated[int, msgspec.Meta(ge=0)] = 0
    workflow: dict[str, Any] | None = None
    input: dict[str, Any] = {}
    overlap: Overlap = "skip"
    catchup_s: Annotated[float, msgspec.Meta(ge=0, le=366 * 86400)] = 60.0
    replace: bool = False


class ScheduleOpRequest(msgspec.Struct, kw_only=True):
    name: str
    op: Literal["show", "pause", "resume", "delete", "trigger"]


class ScheduleListRequest(msgspec.Struct, kw_only=True):
    pass


class ScheduleView(msgspec.Struct, kw_only=True):
    """A schedule as ``ee schedule show`` prints it. Times are ISO-8601 UTC; ``next_fires``
    the next five fire times (none while paused)."""

    name: str
    cron: str
    tz: str
    workflow: str
    overlap: str
    catchup_s: float
    paused: bool
    next_fires: list[str] = []
    fired: int = 0
    skipped: int = 0
    missed: int = 0
    buffered: str = ""
    last_fire: str = ""
    last_job: str = ""
    last_skipped: str = ""
    last_missed: str = ""
    created: str = ""
    job_id: str = ""  # trigger: the job it started


class ScheduleList(msgspec.Struct, kw_only=True):
    schedules: list[ScheduleView] = []


class LimitSetRequest(msgspec.Struct, kw_only=True):
    """Set a limit, all of its settings at once (None: that cap lifted). ``rate`` starts per
    ``period_s`` seconds."""

    name: str
    concurrency: int | None = None
    rate: int | None = None
    period_s: float | None = None


class LimitRequest(msgspec.Struct, kw_only=True):
    """One limit (show, delete); for list, ``name`` is empty."""

    name: str = ""


class LimitKey(msgspec.Struct, kw_only=True):
    key: str  # '' for a limit without keys
    running: int
    waiting: int


class LimitInfo(msgspec.Struct, kw_only=True):
    """A limit as it stands: ``set`` False for one never set (unlimited) but in use."""

    name: str
    set: bool
    concurrency: int | None = None
    rate: int | None = None
    period_s: float | None = None
    updated: str = ""
    keys: list[LimitKey] = []


class LimitListReply(msgspec.Struct, kw_only=True):
    limits: list[LimitInfo] = []


class LimitDeleteReply(msgspec.Struct, kw_only=True):
    name: str
    deleted: bool  # False: it had no settings
class TaskOp(msgspec.Struct, kw_only=True):
    """A person's action on a human task (its id is its event id): ``claim`` it, ``complete`` it
    with ``data`` (checked against its form), ``reassign`` it ``to`` another assignee. ``by``:
    who (recorded in the task and in the job's history)."""

    task_id: str
    op: Literal["claim", "complete", "reassign"]
    by: str
    data: Any = None
    to: str = ""


class TaskOpReply(msgspec.Struct, kw_only=True):
    task_id: str
    status: str  # claimed, completed, reassigned
    assignee: str = ""
    by: str = ""
    at: str = ""


# ---- reactor -> executor -------------------------------------------------

class Wake(msgspec.Struct, kw_only=True):
    """A fired wait, offered to executors under a lease."""

    job_id: str
    fence: int
    digest: str
    checkpoint: Checkpoint
    input: dict[str, Any] = {}
    event_id: str = ""
    kind: str = ""
    result: EventResult | None = None
    # Every fired, unconsumed wait of the job, oldest first (the one above among them): a job
    # with branches may have several. Empty from a reactor older than branches.
    fired: list[FiredEvent] = []


# ---- reactor <-> workers -------------------------------------------------

class ActivityTask(msgspec.Struct, kw_only=True, omit_defaults=True):
    event_id: str
    attempt: int
    job_id: str
    activity: str
    input: dict[str, Any] = {}
    timeout_s: float | None = None
    bot: str | None = None
    # The attempt's token (reactor.result_tokens): the worker's claim subject derives from it
    # and its result carries it back. Empty from a reactor older than tokens.
    token: str = ""


class ActivityResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    event_id: str
    attempt: int
    ok: bool
    output: Any = None
    error: str | None = None
    worker: str = ""
    # Set for a BusinessError (worker.errors): error_type "business" and its code. Absent
    # (None) for any other failure, and in results from workers older than these fields.
    error_type: str | None = None
    error_code: str | None = None
    token: str = ""  # the task's token, copied: a result without the right one is refused


class BotHeartbeat(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``holding``: the (event id, attempt) pairs the bot's worker holds, claimed and not
    reported yet or reported within the last lease period; an attempt failed because the bot
    was taken for lost goes on when its bot says it still holds it (older workers send none).
    Lease and capacity are range-checked when decoded (a beat out of range is refused)."""

    bot: str
    pool: str
    capacity: Annotated[int, msgspec.Meta(ge=1, le=MAX_BOT_CAPACITY)] = 1
    lease_s: Annotated[float, msgspec.Meta(gt=0, le=MAX_BOT_LEASE_S)] = 15.0
    worker: str = ""
    stopping: bool = False
    holding: list[tuple[str, int]] = []


class WorkerPresence(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a worker announces in the ``EE_WORKERS`` bucket under its ``instance`` id, again
    every third of the bucket's TTL; deleted when it stops, aged out when it dies.

    ``seen`` (ISO-8601 UTC, the worker's clock) is when it wrote this; ``running``: activities
    running then; ``bot`` and ``pool`` for a bot."""

    worker: str
    instance: str
    activities: list[str] = []
    bot: str | None = None
    pool: str | None = None
    host: str = ""
    pid: int = 0
    concurrency: int = 0
    running: int = 0
    started: str = ""
    seen: str = ""
    version: str = ""


_encoder = msgspec.json.Encoder()

T = TypeVar("T")


def encode(message: msgspec.Struct | Any) -> bytes:
    return _encoder.encode(message)


# Messages that bring data from outside the engine: decoded with the lower nesting bound
# (see shared.bounds), so that the engine can always carry what it accepted.
OUTSIDE_DATA: tuple[type[Any], ...] = (JobRequest, ActivityResult, SignalRequest, EventOp, DeployRequest, TaskOp)


class Codec(Generic[T]):
    """One typed decoder per message family, built once and reused.

    Total: whatever the bytes, :meth:`decode` returns a message or raises InvalidMessage.
    Size (when given) and nesting are bounded before decoding; any failure of the decoder
    itself (RecursionError, MemoryError, a bad code point) becomes InvalidMessage too."""

    def __init__(self, kind: type[T], subject: str, *, max_depth: int | None = None) -> None:
        self._decoder = msgspec.json.Decoder(kind)
        self.subject = subject
        self.max_depth = max_depth if max_depth is not None else (
            MAX_DATA_DEPTH if kind in OUTSIDE_DATA else MAX_DEPTH)

    def decode(self, data: bytes, max_bytes: int | None = None) -> T:
        if max_bytes is not None and len(data) > max_bytes:
            raise InvalidMessage(self.subject, f"payload of {len(data)} bytes exceeds the limit of {max_bytes}")
        try:
            if nested_deeper_than(data, self.max_depth):
                raise InvalidMessage(self.subject, f"nested more than {self.max_depth} levels deep (the limit)")
            return self._decoder.decode(data)
        except InvalidMessage:
            raise
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidMessage(self.subject, bounded_text(str(exc))) from exc
        except Exception as exc:
            raise InvalidMessage(self.subject, bounded_text(f"undecodable ({type(exc).__name__}: {exc})")) from exc
