"""The Redis layout of the engine, declared once: every key family and every stored record.

``FAMILIES`` names each key family with its pattern as operators read it (``job:{J}``,
``pool:<pool>:free``, under the prefix ``EE_REDIS_PREFIX``), its Redis type and what it
holds. Both sides build keys from it: Python through :class:`Keys`, the Lua scripts through
the table ``K`` that :func:`lua_keys` writes ahead of their prelude (``reactor/scripts.py``).
No other module and no script spells a key (tests/core/test_layout.py greps for one), and the
key table of docs/architecture.md is checked against this one.

A pattern is literal text with three kinds of holes: ``{J}`` the job id as a hash tag (so
that a Redis Cluster keeps a job's keys on one slot), ``~F.i`` the rest of an event id after
its job id (an event shares its job's tag), and ``<name>`` any other name.

The records (``JobRecord``, ``EventRecord``, ``BotRecord``, ...) are the fields the reactor
keeps in each hash. Redis stores every field as text; the types say how ``ee`` inspection
reads them back (:func:`decode_hash`): ``int`` fields and :data:`NumberText` fields (Unix
times, durations in seconds) as numbers, :data:`JsonText` fields as the JSON they hold, the
others as text. A hash may hold fields a record does not name (a
job's ``signal:<name>`` entries, fields of a newer build): they are read as text.

No two families can build the same key, whatever the names (tests/core/test_names.py): each
family has a literal head of its own (``job:{``, ``event:{``, ``bot:``, ``bot-events:``,
``pool:``, ...), a name inside braces ends at the brace (job ids hold none), and the families
that share a head and put a name before a literal tail (``pool:<pool>:free|waiting|bots|events``)
have tails none of which ends another. The name rules (``shared.naming``) keep ``:``, ``{`` and
``}`` out of bots and pools besides.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection
from typing import Annotated, Any

import msgspec

__all__ = [
    "EVENT_KINDS",
    "FAMILIES",
    "RECORDS",
    "BotRecord",
    "DeadLetterRecord",
    "DeploymentRecord",
    "EventRecord",
    "Family",
    "HistoryRecord",
    "InboxItem",
    "JobRecord",
    "JsonText",
    "Keys",
    "LimitRecord",
    "NumberText",
    "ScheduleRecord",
    "TaskDoneRecord",
    "decode_hash",
    "event_job",
    "lua_keys",
]

EVENT_SEPARATOR = "~"

# The kinds of parked event, each with its index (``Keys.event_index``): the values of an
# event hash's ``kind`` field and of ``ee events --kind``.
EVENT_KINDS = ("activity", "timer", "signal", "bot_lock", "child", "task")


def event_job(event_id: str) -> str:
    """The job id an event id belongs to."""
    job_id, sep, _ = event_id.rpartition(EVENT_SEPARATOR)
    return job_id if sep else event_id


class Family(msgspec.Struct, frozen=True):
    """One key family. ``slot``: ``job`` for keys under their job's hash tag, ``global`` for
    one key of the whole engine, ``name`` for one key per bot, pool, activity, kind or status
    (see docs/architecture.md, Redis Cluster)."""

    name: str
    pattern: str
    type: str
    holds: str
    slot: str = "name"

    @property
    def params(self) -> tuple[str, ...]:
        """The names the pattern takes, in order: ``job`` for ``{J}``, ``event`` (an event id)
        for ``{J}~F.i``, else each ``<name>``."""
        if self.pattern.endswith(_EVENT_TAIL):
            return ("event",)
        return tuple("job" if hole == "{J}" else hole[1:-1] for hole in _HOLES.findall(self.pattern))

    def key(self, prefix: str, *values: str) -> str:
        if self.pattern.endswith(_EVENT_TAIL):
            (event_id,) = values
            job_id = event_job(event_id)
            return f"{prefix}{self.pattern[:-len(_EVENT_TAIL)]}{{{job_id}}}{event_id[len(job_id):]}"
        return prefix + _format_of(self.pattern).format(*values)


_HOLES = re.compile(r"\{J\}|<[a-z]+>")


@functools.cache
def _format_of(pattern: str) -> str:
    """The pattern as a format string, once: ``job:{J}:events`` -> ``job:{{{}}}:events``
    (a regex substitution per key was a few per cent of the reactor's time)."""
    pieces, pos = [], 0
    for m in _HOLES.finditer(pattern):
        pieces.append(pattern[pos:m.start()].replace("{", "{{").replace("}", "}}"))
        pieces.append("{{{}}}" if m.group(0) == "{J}" else "{}")
        pos = m.end()
    pieces.append(pattern[pos:].replace("{", "{{").replace("}", "}}"))
    return "".join(pieces)
_EVENT_TAIL = "{J}~F.i"

FAMILIES: tuple[Family, ...] = (
    Family("job", "job:{J}", "hash", "the job (JobRecord)", "job"),
    Family("job_events", "job:{J}:events", "set", "ids of the job's open events", "job"),
    Family("job_history", "job:{J}:history", "stream", "the job's history (HistoryRecord), capped", "job"),
    Family("job_inbox", "job:{J}:inbox", "list", "signals that arrived before the job waited for them "
           "(InboxItem)", "job"),
    Family("job_fired", "job:{J}:fired", "zset", "ids of the job's fired events not consumed yet, by fire "
           "order (what its next wake carries)", "job"),
    Family("event", "event:{J}~F.i", "hash", "one wait of the job (EventRecord)", "job"),
    Family("workflow", "workflow:<digest>", "string", "a workflow, stored once per content digest"),
    Family("deployed", "deployed", "zset", "names of deployed workflows by when a version of each was last "
           "deployed", "global"),
    Family("deployed_workflow", "deployed:<workflow>", "hash", "the deployed versions of one workflow: "
           "version -> DeploymentRecord (JSON)"),
    Family("jobs", "jobs", "zset", "job ids by creation time", "global"),
    Family("job_status", "jobs:status:<status>", "zset", "job ids whose status is <status>, by when they took it"),
    Family("job_status_backfill", "jobs:indexed", "string", "how far the one-time fill of the status "
           "indexes got", "global"),
    Family("event_index", "events:<kind>", "zset", "open events of one kind by park time"),
    Family("activity_events", "activity:<activity>:events", "zset", "open events of one activity by park time"),
    Family("pool_events", "pool:<pool>:events", "zset", "open lock requests for one pool by park time"),
    Family("bot_events", "bot-events:<bot>", "zset", "open events bound to one bot by park time"),
    Family("legacy_bot_events", "bot:<bot>:events", "zset", "a bot's event index before bot-events: "
           "(moved at reactor start)"),
    Family("task_assignee", "tasks:assignee:<assignee>", "zset", "open human tasks (event ids) of one user "
           "or group by park time"),
    Family("task_due", "tasks:due", "zset", "open human tasks with a due time, by due time (overdue: due "
           "before now)", "global"),
    Family("task_done", "task-done:{J}~F.i", "hash", "a completed human task: who, when, its data "
           "(TaskDoneRecord), kept for the retention time", "job"),
    Family("timers", "timers", "zset", "event ids by due time", "global"),
    Family("wakes", "wakes", "zset", "job ids by wake-lease end", "global"),
    Family("dispatch", "dispatch", "zset", "activity events not yet acknowledged by JetStream", "global"),
    Family("stranded", "stranded", "zset", "stranded job ids by the time they were stranded", "global"),
    Family("bot", "bot:<bot>", "hash", "one bot (BotRecord)"),
    Family("bots", "bots", "set", "every bot", "global"),
    Family("bot_leases", "bots:leases", "zset", "bot ids by heartbeat-lease end", "global"),
    Family("pool_free", "pool:<pool>:free", "list", "free bots of one pool"),
    Family("pool_waiting", "pool:<pool>:waiting", "list", "FIFO of lock requests before pool:<pool>:queue "
           "(moved into it when the pool is next touched)"),
    Family("pool_queue", "pool:<pool>:queue", "zset", "lock requests (event ids) for one pool by priority, "
           "then arrival"),
    Family("queue_seq", "queue:seq", "string", "the arrival counter of the waiters' queues", "global"),
    Family("limit", "limit:<limit>", "hash", "one limit's settings (LimitRecord); none: unlimited"),
    Family("limits", "limits", "set", "names of the limits set or in use", "global"),
    Family("limit_keys", "limit-keys:<limit>", "set", "the keys of one limit with attempts running or waiting"),
    Family("limit_running", "limit-running:<limit>:<key>", "set", "attempts (event ids) holding a slot of "
           "one key of a limit"),
    Family("limit_waiting", "limit-waiting:<limit>:<key>", "zset", "attempts waiting for one key of a limit, "
           "by priority, then arrival"),
    Family("limit_bucket", "limit-bucket:<limit>:<key>", "hash", "the token bucket of one key of a rated "
           "limit (tokens, at)"),
    Family("pool_bots", "pool:<pool>:bots", "set", "the bots of one pool"),
    Family("deadletter", "deadletter", "list", "refused messages (DeadLetterRecord), capped", "global"),
    Family("attempt_secret", "reactor:attempt-secret", "string", "the key of attempt tokens", "global"),
    Family("reactor_leader", "reactor:leader", "string", "the active reactor's lease: <epoch>:<instance id>, "
           "with a TTL", "global"),
    Family("reactor_epoch", "reactor:epoch", "string", "the fencing epoch counter, raised by each lease taken",
           "global"),
    # Flow control, the clock (reactor.clock): delayed starts, deadlines, schedules.
    Family("deferred", "deferred", "zset", "pending job ids by the time they start (delayed starts, "
           "schedule fires)", "global"),
    Family("deadlines", "deadlines", "zset", "unfinished job ids by deadline", "global"),
    Family("overdue", "overdue", "zset", "job ids flagged overdue, by when", "global"),
    Family("schedule", "schedule:<schedule>", "hash", "one schedule (ScheduleRecord)"),
    Family("schedules", "schedules", "zset", "schedule names by next fire time (paused: +inf)", "global"),
    Family("schedules_buffered", "schedules:buffered", "set", "schedules holding a buffered fire "
           "(overlap buffer_one)", "global"),
)

_BY_NAME = {f.name: f for f in FAMILIES}


class Keys:
    """Key builders under one prefix, one per family of ``FAMILIES``."""

    def __init__(self, prefix: str = "ee:") -> None:
        self.prefix = prefix
        fixed = {f.name: f.key(prefix) for f in FAMILIES if not f.params}
        self.timers = fixed["timers"]
        self.wakes = fixed["wakes"]
        self.dispatch = fixed["dispatch"]
        self.jobs = fixed["jobs"]
        self.deadletter = fixed["deadletter"]
        self.stranded = fixed["stranded"]
        self.bots = fixed["bots"]
        self.bot_leases = fixed["bot_leases"]
        self.attempt_secret = fixed["attempt_secret"]
        self.reactor_leader = fixed["reactor_leader"]
        self.reactor_epoch = fixed["reactor_epoch"]
        self.job_status_backfill = fixed["job_status_backfill"]
        self.deployed = fixed["deployed"]
        self.queue_seq = fixed["queue_seq"]
        self.limits = fixed["limits"]
        self.task_due = fixed["task_due"]
        self.deferred = fixed["deferred"]
        self.deadlines = fixed["deadlines"]
        self.overdue = fixed["overdue"]
        self.schedules = fixed["schedules"]
        self.schedules_buffered = fixed["schedules_buffered"]

    def _key(self, family: str, *values: str) -> str:
        return _BY_NAME[family].key(self.prefix, *values)

    def job(self, job_id: str) -> str:
        return self._key("job", job_id)

    def job_events(self, job_id: str) -> str:
        return self._key("job_events", job_id)

    def job_history(self, job_id: str) -> str:
        return self._key("job_history", job_id)

    def job_inbox(self, job_id: str) -> str:
        return self._key("job_inbox", job_id)

    def job_fired(self, job_id: str) -> str:
        return self._key("job_fired", job_id)

    def event(self, event_id: str) -> str:
        return self._key("event", event_id)

    def job_status(self, status: str) -> str:
        return self._key("job_status", status)

    def event_index(self, kind: str) -> str:
        return self._key("event_index", kind)

    def activity_events(self, activity: str) -> str:
        return self._key("activity_events", activity)

    def pool_events(self, pool: str) -> str:
        return self._key("pool_events", pool)

    def bot_events(self, bot_id: str) -> str:
        """Its own family (``bot-events:``), not under ``bot:<id>``: a bot named ``X:events``
        would otherwise own bot ``X``'s index as its hash."""
        return self._key("bot_events", bot_id)

    def legacy_bot_events(self, bot_id: str) -> str:
        return self._key("legacy_bot_events", bot_id)

    def workflow(self, digest: str) -> str:
        return self._key("workflow", digest)

    def task_assignee(self, assignee: str) -> str:
        return self._key("task_assignee", assignee)

    def task_done(self, task_id: str) -> str:
        return self._key("task_done", task_id)

    def deployed_workflow(self, name: str) -> str:
        return self._key("deployed_workflow", name)

    def bot(self, bot_id: str) -> str:
        return self._key("bot", bot_id)

    def pool_bots(self, pool: str) -> str:
        return self._key("pool_bots", pool)

    def pool_free(self, pool: str) -> str:
        return self._key("pool_free", pool)

    def pool_waiting(self, pool: str) -> str:
        return self._key("pool_waiting", pool)

    def pool_queue(self, pool: str) -> str:
        return self._key("pool_queue", pool)

    def limit(self, name: str) -> str:
        return self._key("limit", name)

    def limit_keys(self, name: str) -> str:
        return self._key("limit_keys", name)

    def limit_running(self, name: str, key: str) -> str:
        return self._key("limit_running", name, key)

    def limit_waiting(self, name: str, key: str) -> str:
        return self._key("limit_waiting", name, key)

    def limit_bucket(self, name: str, key: str) -> str:
        return self._key("limit_bucket", name, key)
    def schedule(self, name: str) -> str:
        return self._key("schedule", name)


def _lua_text(text: str) -> str:
    """A Lua string literal of ``text``: every byte outside plain letters escaped as ``\\ddd``."""
    safe = re.compile(r"[A-Za-z0-9 _.:{}~<>@#/+=,;-]")
    return "'" + "".join(ch if safe.fullmatch(ch) else "".join(f"\\{b}" for b in ch.encode()) for ch in text) + "'"


def lua_keys(prefix: str | None = None, only: Collection[str] | None = None) -> str:
    """The Lua table ``K`` of key builders, written ahead of every script's prelude.

    ``K.<family>`` is the key itself for a family without names, else a function of the
    names in the pattern's order (``K.event(e)`` takes an event id). ``prefix``: written into
    the source, or None for the prefix each call passes as ``ARGV[1]``. ``only``: the families
    a script uses (every one when None): each call builds the table anew."""
    lines = [f"local P = {'ARGV[1]' if prefix is None else _lua_text(prefix)}", "local K = {}"]
    for f in FAMILIES:
        if only is not None and f.name not in only:
            continue
        if not f.params:
            lines.append(f"K.{f.name} = P .. {_lua_text(f.pattern)}")
        elif f.pattern.endswith(_EVENT_TAIL):
            head = _lua_text(f.pattern[:-len(_EVENT_TAIL)] + "{")
            lines.append(f"K.{f.name} = function(e)\n"
                         "  local j, rest = string.match(e, '^(.*)(~[^~]*)$')\n"
                         f"  if not j then return P .. {head} .. e .. '}}' end\n"
                         f"  return P .. {head} .. j .. '}}' .. rest\nend")
        else:
            pieces: list[str] = []
            literal, names, pos = "", iter(f.params), 0
            for m in _HOLES.finditer(f.pattern):
                literal += f.pattern[pos:m.start()] + ("{" if m.group(0) == "{J}" else "")
                if literal:
                    pieces.append(_lua_text(literal))
                pieces.append(next(names))
                literal, pos = ("}" if m.group(0) == "{J}" else ""), m.end()
            literal += f.pattern[pos:]
            if literal:
                pieces.append(_lua_text(literal))
            lines.append(f"K.{f.name} = function({', '.join(f.params)}) return P .. {' .. '.join(pieces)} end")
    return "\n".join(lines) + "\n"


# -- stored records -----------------------------------------------------------------

# A field holding JSON text (a checkpoint, a result): read back as the JSON it holds.
JsonText = Annotated[str, msgspec.Meta(extra={"json": True})]
# A field holding a number as text (a Unix time, seconds): read back as a float. The reactor
# writes it as the text it chose (``repr``, ``%.3f``), so the stored form stays its own.
NumberText = Annotated[str, msgspec.Meta(extra={"number": True})]


class JobRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``job:{J}``. Besides these, ``signal:<name>`` fields map a signal to the event waiting for it."""

    status: str = ""  # pending, running, parked, completed, failed, cancelled
    name: str = ""
    version: int | None = None
    digest: str = ""
    fence: int = 0
    checkpoint: JsonText | None = None
    input: JsonText | None = None
    created: str = ""
    updated: str = ""
    build: str = ""
    output: JsonText | None = None
    error: str | None = None
    finished: str = ""
    bots: str = ""  # bots held, comma separated
    wake_event: str = ""  # the oldest of its fired, unconsumed events (job:{J}:fired holds them all)
    lapses: int = 0
    stranded: str = ""
    history_trimmed: int = 0
    waiting_for: str = ""
    waiting_reason: str = ""
    refused: str = ""
    # A child job (a `call`): the job that started it and the parent's wait its end fires.
    parent: str = ""
    parent_event: str = ""
    retries: int = 0  # times ee retry resumed the job after it failed
    parent_retries: int = 0  # a child: the parent's retries when it started (or last ran again)
    priority: int | None = None  # 1 (most urgent) .. 9; none: 5
    # Flow control, the clock: a delayed start (Unix seconds), the deadline and what it does,
    # when the job was flagged overdue (ISO), the schedule and fire time that started it.
    not_before: NumberText = ""
    started: str = ""
    deadline: NumberText = ""
    on_deadline: str = ""
    overdue: str = ""
    schedule: str = ""
    fire_time: str = ""


class EventRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``event:{J}~F.i``: one wait. ``parked_at`` and ``fired_at`` are ISO-8601 text; ``deadline``
    is Unix seconds, the ``_s`` fields and ``multiplier`` numbers (:data:`NumberText`)."""

    job: str = ""
    node: str = ""
    kind: str = ""  # one of EVENT_KINDS
    status: str = ""  # parked, fired
    spec: JsonText | None = None
    result: JsonText | None = None
    parked_at: str = ""
    fired_at: str = ""
    deadline: NumberText = ""
    attempt: int | None = None
    activity: str = ""
    input: JsonText | None = None
    phase: str = ""  # activities: running, backoff
    dispatched: str = ""
    signed: str = ""  # '1': its tasks carry attempt tokens, so its results must too
    max_attempts: int | None = None
    backoff_s: NumberText = ""
    multiplier: NumberText = ""
    max_backoff_s: NumberText = ""
    timeout_s: NumberText = ""
    last_error: str = ""
    # An attempt failed because its bot was lost, while the retry has not run yet:
    # {"attempt", "bot", "deadline"} (reactor/lua/lib/wakes.lua, lapse_attempt).
    lapsed: JsonText | None = None
    bot: str = ""
    pool: str = ""
    signal: str = ""
    branch: str = ""  # the branch cursor that parked it ('' for the top level)
    child: str = ""  # a child wait: the child job's id
    priority: int | None = None  # its job's, for the lines of scarce things (pool_queue, limit_waiting)
    limit: str = ""  # an activity's limit (limit:<limit>) and its key ('' for none)
    limit_key: str = ""
    limit_held: str = ""  # '1' while its attempt holds a slot of the limit
    waiting_since: NumberText = ""  # phase waiting_capacity: since when (Unix seconds)
    # A human task (kind task): shared.human_tasks. ``due`` Unix seconds; ``claimed_*`` and
    # ``escalated_at`` as it goes; ``on_due``: escalate, fail or overdue.
    title: str = ""
    details: JsonText | None = None
    assignee: str = ""
    form: JsonText | None = None
    due: NumberText = ""
    escalate_to: str = ""
    on_due: str = ""
    claimed_by: str = ""
    claimed_at: str = ""
    escalated_at: str = ""
    overdue: str = ""  # '1': its due time passed with nobody to escalate to


class BotRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``bot:<bot>``."""

    pool: str = ""
    alive: str = ""  # '1' or '0'
    holder: str = ""  # the job holding it, '' when free
    held_since: str = ""
    worker: str = ""
    lease_until: NumberText = ""
    lease_s: NumberText = ""
    last_seen: str = ""
    down_reason: str = ""


class HistoryRecord(msgspec.Struct, kw_only=True):
    """One entry of ``job:{J}:history``."""

    at: str
    node: str
    event: str
    build: str = ""
    detail: str = ""


class InboxItem(msgspec.Struct, kw_only=True):
    """One item of ``job:{J}:inbox`` (JSON; items of older builds are read by the prelude too)."""

    name: str
    result: str
    expires: str | None = None


class DeploymentRecord(msgspec.Struct, kw_only=True):
    """The value of one field (a version, as decimal text) of ``deployed:<workflow>``: JSON. The
    workflow itself is ``workflow:<digest>``, shared with the jobs that run it. Written once: a
    deployed version never changes."""

    digest: str
    at: str  # ISO-8601 UTC
    by: str = ""


class TaskDoneRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``task-done:{J}~F.i``: a human task's completion, kept after its event is consumed so that
    a second completion is refused naming the first, and ``ee task show`` still shows it."""

    job: str = ""
    node: str = ""
    title: str = ""
    assignee: str = ""
    completed_by: str = ""
    completed_at: str = ""
    data: JsonText | None = None


class DeadLetterRecord(msgspec.Struct, kw_only=True):
    """One item of ``deadletter`` (JSON, see reactor/deadletters.py)."""

    at: str
    subject: str
    reason: str
    data: str


class LimitRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``limit:<limit>``: a limit's settings, each absent when not capped. ``rate`` starts per
    ``period_s`` seconds (a token bucket of one token: reactor/lua/lib/limits.lua)."""

    concurrency: int | None = None
    rate: int | None = None
    period_s: NumberText = ""
    updated: str = ""


class ScheduleRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``schedule:<name>``: a cron schedule (reactor.schedules). ``next`` is the next fire time
    (Unix seconds); ``buffered`` a fire time held back by overlap buffer_one; the counters
    count fires, fires skipped for overlap, and fire times missed outside the catch-up window."""

    name: str = ""
    cron: str = ""
    tz: str = ""
    workflow_name: str = ""
    workflow_version: int = 0
    workflow: JsonText | None = None
    input: JsonText | None = None
    overlap: str = ""
    catchup_s: NumberText = ""
    paused: int = 0
    next: NumberText = ""
    buffered: NumberText = ""
    fired: int = 0
    skipped: int = 0
    missed: int = 0
    last_fire: str = ""
    last_job: str = ""
    last_skipped: str = ""
    last_missed: str = ""
    created: str = ""
    updated: str = ""


RECORDS: dict[str, type[msgspec.Struct]] = {
    "job": JobRecord, "event": EventRecord, "bot": BotRecord, "job_history": HistoryRecord,
    "job_inbox": InboxItem, "deadletter": DeadLetterRecord, "task_done": TaskDoneRecord,
    "schedule": ScheduleRecord, "limit": LimitRecord,
}


def _readers(record: type[msgspec.Struct]) -> dict[str, str]:
    """Field name -> 'int', 'float', 'json' or 'text', from the record's types."""
    out = {}
    info = msgspec.inspect.type_info(record)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        t = field.type
        if isinstance(t, msgspec.inspect.UnionType):
            t = next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
        if isinstance(t, msgspec.inspect.IntType):
            out[field.name] = "int"
        elif isinstance(t, msgspec.inspect.Metadata) and (t.extra or {}).get("json"):
            out[field.name] = "json"
        elif isinstance(t, msgspec.inspect.Metadata) and (t.extra or {}).get("number"):
            out[field.name] = "float"
        else:
            out[field.name] = "text"
    return out


_READERS = {record: _readers(record) for record in RECORDS.values()}
_json = msgspec.json.Decoder()


def _float(text: str) -> float | str:
    """The number ``text`` holds, or the text itself when it is none (``nan`` and ``inf``
    count as none: JSON has no such numbers)."""
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_hash(record: type[msgspec.Struct], raw: dict[Any, Any]) -> dict[str, Any]:
    """A stored hash as a dict, each field read by its type in ``record``: JSON text as the
    JSON it holds (the text itself when it is not JSON), ints as ints and number fields as
    floats (the text when it is not one), an empty ``error`` as None, every other field as text."""
    readers = _READERS[record]
    out: dict[str, Any] = {}
    for k, v in raw.items():
        key, text = _text(k), _text(v)
        how = readers.get(key, "text")
        if how == "json":
            try:
                out[key] = _json.decode(text) if text else None
            except msgspec.DecodeError:
                out[key] = text
        elif how == "int":
            out[key] = int(text) if text.lstrip("-").isdigit() else text
        elif how == "float":
            out[key] = _float(text)
        elif key == "error":
            out[key] = text or None
        else:
            out[key] = text
    return out
