"""What the reactor's scripts answer: one table of reply codes, and a type per code.

Every script replies with one msgpack map (``cmsgpack.pack`` in Lua) whose ``o`` field is a
code of ``CODES``; msgspec decodes it into the outcome type of that code (a tagged union per
script, ``reactor.contracts``). A code means the same in every script. The Lua side gets the
codes from the table ``C`` that ``lua_codes`` writes ahead of the prelude, so a script cannot
answer a code this table does not have (``C.x`` of an unknown code is nil, refused by
``reply`` in the prelude).

A wake in a reply carries the JSON the job's hash holds (checkpoint, input, result) as text;
``WakeData.encode`` writes the ``Wake`` message with that text as ``msgspec.Raw``, so the
stored JSON is neither decoded nor pasted.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

import msgspec

from shared.messages import FiredEvent, Wake

__all__ = [
    "CODES",
    "Claimed",
    "Completed",
    "Count",
    "Created",
    "Deployed",
    "Done",
    "Escalated",
    "Existing",
    "Exists",
    "Extended",
    "Fenced",
    "Finished",
    "Fired",
    "FiredData",
    "Foreign",
    "Held",
    "Ignored",
    "InBackoff",
    "InboxFull",
    "Kept",
    "LimitSet",
    "NotFailed",
    "NotParked",
    "NotTask",
    "Nothing",
    "Ok",
    "OverBudget",
    "Overdue",
    "Parked",
    "Purged",
    "Recorded",
    "Redispatch",
    "Refused",
    "Retried",
    "Retrying",
    "Stale",
    "Step",
    "Taken",
    "Unchanged",
    "Unknown",
    "Untouched",
    "VersionTaken",
    "WakeData",
    "Wakes",
    "lua_codes",
]

CODES: dict[str, str] = {
    "fired": "a wake to offer: an event fired, or a job is offered again (its fired event, or its "
             "checkpoint when it never parked)",
    "retry": "an activity attempt failed and the next one is scheduled",
    "redispatch": "an activity's retry backoff ended: send its next attempt now",
    "nothing": "nothing to do: the timer or lease was handled already, or the job has nothing to wake",
    "ignored": "a result that changes nothing: unknown event, late, or for an old attempt",
    "refused": "a result refused as not authentic: not for an activity, or without its attempt token",
    "unknown": "no such job or event",
    "finished": "the job has finished already",
    "stale": "the caller's fence is not the job's: another executor moved the job on",
    "foreign": "a park consumes an event of another job: refused before anything is written",
    "created": "a new job record",
    "existing": "the job existed already: its record as it is",
    "parked": "the park is recorded",
    "done": "the job is finished by this call",
    "recorded": "the record is written",
    "untouched": "the job had started or finished: nothing written",
    "exists": "the job exists by now: cancel it the ordinary way",
    "kept": "the signal is kept in the job's inbox until the job waits for it",
    "inbox_full": "the job's signal inbox holds its most items",
    "over_budget": "the job's signal inbox is over its byte budget",
    "not_parked": "the event is not parked any more",
    "in_backoff": "the activity waits out a retry backoff: its timer is the next attempt's start",
    "extended": "the wait's timeout is moved",
    "wakes": "the bookkeeping is done; the wakes of the jobs it affected",
    "count": "how many records the call changed",
    "step": "one step of the status-index fill",
    "ok": "done",
    "purged": "finished jobs removed, and whether more are due",
    "fenced": "refused: the caller does not hold the reactor lease it names (another reactor took over, "
              "or the lease ran out); nothing written",
    "taken": "the reactor lease is this caller's, under a new fencing epoch",
    "held": "another reactor holds the lease",
    "deployed": "a new version of a workflow is deployed",
    "unchanged": "this very content is deployed under this version already: nothing written",
    "version_taken": "the version is deployed already with other content (a deployed version never changes)",
    "not_failed": "the job is not failed (only a failed job is retried)",
    "retried": "the failed job runs again from its checkpoint, under a wake lease",
    "limit_set": "the limit's settings are written (or deleted); the heads of its lines are nudged",
    "completed": "the human task was completed already (by whom, when)",
    "claimed": "the human task is claimed by someone else (by whom, since when)",
    "not_task": "the event is another kind of wait, not a human task",
    "escalated": "the human task was due: reassigned to its escalate_to",
    "overdue": "the human task was due, with nobody to escalate to: marked overdue",
}


def lua_codes(only: Collection[str] | None = None) -> str:
    """The Lua table ``C`` of reply codes, written ahead of every script's prelude (``only``:
    the codes a script answers with; every one when None)."""
    return "local C = {" + ", ".join(f"{code} = '{code}'" for code in CODES if only is None or code in only) + "}\n"


_json = msgspec.json.Encoder()


class FiredData(msgspec.Struct, frozen=True, kw_only=True):
    """One fired, unconsumed event of a wake's job, as a script returns it (its result as the
    JSON text its event hash holds)."""

    event_id: str
    kind: str = ""
    node: str = ""
    branch: str = ""
    result: str = ""


class WakeData(msgspec.Struct, frozen=True, kw_only=True):
    """A wake as a script returns it: the job's fence and stored JSON, and its fired events,
    oldest first (``fired``, at most ``reactor.scripts.WAKE_FIRED_MAX``; the first is also
    ``event_id``, ``kind`` and ``result``, for executors older than ``fired``).

    ``held``: the job was under a fresh wake lease already when this fired (an executor is
    advancing it): only ``job_id`` and ``fence``, not to be sent, since that executor's park
    offers every event still fired at once (``reactor.dispatch.plan_wakes``)."""

    job_id: str
    fence: int
    checkpoint: str
    digest: str = ""
    input: str = ""
    event_id: str = ""
    kind: str = ""
    result: str = ""
    fired: list[FiredData] = []
    held: bool = False

    def encode(self) -> bytes:
        """The ``Wake`` message: plain strings encoded by msgspec, stored JSON as it is."""
        raw = cast(Any, msgspec.Raw)  # Wake's JSON fields are typed for decoding
        fired = [FiredEvent(event_id=f.event_id, kind=f.kind, node=f.node, branch=f.branch,
                            result=raw(f.result) if f.result else None) for f in self.fired]
        return _json.encode(Wake(job_id=self.job_id, fence=self.fence, digest=self.digest,
                                 checkpoint=raw(self.checkpoint), input=raw(self.input or "{}"),
                                 event_id=self.event_id, kind=self.kind, result=raw(self.result or "null"),
                                 fired=fired))


class Outcome(msgspec.Struct, tag_field="o"):
    pass


class Fired(Outcome, tag="fired"):
    wake: WakeData


class Retrying(Outcome, tag="retry"):
    attempt: int


class Redispatch(Outcome, tag="redispatch"):
    pass


class Nothing(Outcome, tag="nothing"):
    pass


class Ignored(Outcome, tag="ignored"):
    reason: str


class Refused(Outcome, tag="refused"):
    reason: str


class Unknown(Outcome, tag="unknown"):
    pass


class Finished(Outcome, tag="finished"):
    status: str


class Stale(Outcome, tag="stale"):
    fence: int


class Foreign(Outcome, tag="foreign"):
    event: str


class Created(Outcome, tag="created"):
    status: str
    fence: int
    checkpoint: str = ""
    input: str = ""


class Existing(Outcome, tag="existing"):
    status: str
    fence: int
    checkpoint: str = ""
    input: str = ""


class Parked(Outcome, tag="parked"):
    fence: int
    # Activities whose first attempt the park already failed (their bot is not alive): no task.
    undispatched: list[str] = []
    wakes: list[WakeData] = []
    dropped: list[str] = []  # activities in flight among the dropped waits and cancelled children
    left: list[str] = []  # children to cancel beyond the step's bound (reactor.scripts.CHILDREN_MAX)


class Done(Outcome, tag="done"):
    fence: int
    dropped: list[str] = []  # activities still in flight, its own and its cancelled children's
    wakes: list[WakeData] = []  # its parent's, and jobs granted the bots it released
    left: list[str] = []  # children to cancel beyond the step's bound (reactor.scripts.CHILDREN_MAX)


class Recorded(Outcome, tag="recorded"):
    status: str


class Untouched(Outcome, tag="untouched"):
    status: str


class Exists(Outcome, tag="exists"):
    pass


class Kept(Outcome, tag="kept"):
    pass


class InboxFull(Outcome, tag="inbox_full"):
    pass


class OverBudget(Outcome, tag="over_budget"):
    held: int


class NotParked(Outcome, tag="not_parked"):
    status: str


class InBackoff(Outcome, tag="in_backoff"):
    attempt: int
    retry_at: float


class Extended(Outcome, tag="extended"):
    pass


class Wakes(Outcome, tag="wakes"):
    wakes: list[WakeData] = []


class Count(Outcome, tag="count"):
    n: int


class Step(Outcome, tag="step"):
    read: int
    added: int


class Ok(Outcome, tag="ok"):
    pass


class Purged(Outcome, tag="purged"):
    removed: int
    more: bool


class Fenced(Outcome, tag="fenced"):
    holder: str = ""  # the lease as stored now ("" when nobody holds it)


class Taken(Outcome, tag="taken"):
    epoch: int
    lease: str  # the value stored, which every fenced call names


class Held(Outcome, tag="held"):
    holder: str
    ttl_ms: int


class Deployed(Outcome, tag="deployed"):
    pass


class Unchanged(Outcome, tag="unchanged"):
    pass


class VersionTaken(Outcome, tag="version_taken"):
    digest: str  # the content the version holds


class NotFailed(Outcome, tag="not_failed"):
    status: str


class LimitSet(Outcome, tag="limit_set"):
    existed: bool = False
class Completed(Outcome, tag="completed"):
    by: str
    at: str = ""


class Claimed(Outcome, tag="claimed"):
    by: str
    at: str = ""


class NotTask(Outcome, tag="not_task"):
    kind: str = ""


class Escalated(Outcome, tag="escalated"):
    to: str


class Overdue(Outcome, tag="overdue"):
    pass


class Retried(Outcome, tag="retried"):
    fence: int
    retries: int
    wake: WakeData
