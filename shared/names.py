"""Every wire and storage name of the engine, in one place.

NATS subjects, JetStream stream and consumer names, and Redis key builders.
Nothing else in the code base spells one of these strings.
"""

from __future__ import annotations

import hashlib
import uuid

__all__ = [
    "ACTIVITY_CLAIM_PREFIX",
    "ACTIVITY_RESPONSE",
    "BOTS_HEARTBEAT",
    "BOTS_HEARTBEAT_PREFIX",
    "CONSUMER_EXECUTOR_JOBS",
    "CONSUMER_REACTOR_CANCEL",
    "CONSUMER_REACTOR_RESPONSES",
    "EVENT_KINDS",
    "EXECUTOR_WAKE",
    "EXECUTOR_WAKE_QUEUE",
    "JOBS_CANCEL",
    "JOBS_EXECUTE",
    "REACTOR_SERVICE",
    "STREAM_ACTIVITIES",
    "STREAM_CLAIMS",
    "STREAM_JOBS",
    "STREAM_RESPONSES",
    "WAKE_HOPS_HEADER",
    "Keys",
    "activity_claim_subject",
    "activity_consumer",
    "activity_subject",
    "bot_heartbeat_subject",
    "heartbeat_bot",
    "new_job_id",
    "reactor_subject",
]

JOBS_EXECUTE = "jobs.execute"
JOBS_CANCEL = "jobs.cancel"
ACTIVITY_EXECUTE_PREFIX = "activity.execute."
ACTIVITY_RESPONSE = "activity.response"
BOTS_HEARTBEAT = "bots.heartbeat"
EXECUTOR_WAKE = "ee.executor.wake"
EXECUTOR_WAKE_QUEUE = "ee-executors"
# How many times executors that could not run a wake passed it on (see executor.app).
WAKE_HOPS_HEADER = "Ee-Wake-Hops"
REACTOR_SERVICE = "ee-reactor"
REACTOR_PREFIX = "ee.reactor"

STREAM_JOBS = "EE_JOBS"
STREAM_ACTIVITIES = "EE_ACTIVITIES"
STREAM_RESPONSES = "EE_RESPONSES"

CONSUMER_EXECUTOR_JOBS = "ee_executor_jobs"
CONSUMER_REACTOR_RESPONSES = "ee_reactor_results"
CONSUMER_REACTOR_CANCEL = "ee_reactor_cancel"


def new_job_id(seed: bytes | None = None) -> str:
    """A fresh job id, chosen by the submitter: known from the publish on, so ``ee status`` can
    find the job in the jobs stream before any executor takes it. Random (122 bits): nobody can
    guess it to cancel a job before it exists or to merge a job of their own into it.

    With ``seed`` (bytes the same at each delivery of one job message, see the executor's
    ``_generated_id``) the id is a digest of it, so a redelivered message starts no second job."""
    if seed is None:
        return uuid.uuid4().hex
    return hashlib.blake2b(seed, digest_size=16).hexdigest()


def reactor_subject(op: str) -> str:
    """Subject of one reactor endpoint, e.g. ``ee.reactor.park``."""
    return f"{REACTOR_PREFIX}.{op}"


def activity_subject(activity: str) -> str:
    """Subject that carries tasks of one activity (activity names contain dots)."""
    return f"{ACTIVITY_EXECUTE_PREFIX}{activity}"


def activity_token(activity: str) -> str:
    """A dot-free token for an activity: durable consumer names may not contain dots."""
    return activity.replace(".", "_").replace("*", "_").replace(">", "_")


def activity_consumer(activity: str) -> str:
    """Durable consumer shared by every worker of one activity."""
    return f"ee_act_{activity_token(activity)}"


# The kinds of parked event, each with its index (``Keys.event_index``): the values of an
# event hash's ``kind`` field and of ``ee events --kind``.
EVENT_KINDS = ("activity", "timer", "signal", "bot_lock")


class Keys:
    """Redis key builders under one configurable prefix.

    Keys of one job carry the job id as a hash tag (``{id}``) so that a Redis
    Cluster keeps a job's atomic steps on one shard. Event ids start with their
    job id, so an event hash shares its job's tag.

    No two families can build the same key, whatever the names (tests/core/test_names.py):
    each family has a literal head of its own (``job:{``, ``event:{``, ``bot:``,
    ``bot-events:``, ``pool:``, ...), a name inside braces ends at the brace (job ids hold
    none), and the families that share a head and put a name before a literal tail
    (``pool:<pool>:free|waiting|bots|events``) have tails none of which ends another.
    The name rules (``shared.naming``) keep ``:``, ``{`` and ``}`` out of bots and pools besides.
    """

    def __init__(self, prefix: str = "ee:") -> None:
        self.prefix = prefix
        self.timers = f"{prefix}timers"
        self.wakes = f"{prefix}wakes"
        self.dispatch = f"{prefix}dispatch"
        self.jobs = f"{prefix}jobs"
        self.deadletter = f"{prefix}deadletter"
        self.stranded = f"{prefix}stranded"  # zset: stranded job ids by the time they were stranded
        self.bots = f"{prefix}bots"
        self.attempt_secret = f"{prefix}reactor:attempt-secret"  # key of attempt tokens (reactor.result_tokens)
        # string: how far the one-time fill of the status indexes from ``jobs`` got (a rank),
        # ``done`` once it has been through every job (reactor/status_backfill.py)
        self.job_status_backfill = f"{prefix}jobs:indexed"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{{{job_id}}}"

    def job_events(self, job_id: str) -> str:
        return f"{self.prefix}job:{{{job_id}}}:events"

    def job_history(self, job_id: str) -> str:
        return f"{self.prefix}job:{{{job_id}}}:history"

    def job_inbox(self, job_id: str) -> str:
        return f"{self.prefix}job:{{{job_id}}}:inbox"

    def event(self, event_id: str) -> str:
        job_id = event_job(event_id)
        rest = event_id[len(job_id):]
        return f"{self.prefix}event:{{{job_id}}}{rest}"

    def job_status(self, status: str) -> str:
        """Jobs whose ``status`` field holds this value, by the time it was written (zset)."""
        return f"{self.prefix}jobs:status:{status}"

    def event_index(self, kind: str) -> str:
        """Open events of one kind by the time they were parked (zset)."""
        return f"{self.prefix}events:{kind}"

    def activity_events(self, activity: str) -> str:
        """Open events of one activity by the time they were parked (zset)."""
        return f"{self.prefix}activity:{activity}:events"

    def pool_events(self, pool: str) -> str:
        """Open lock requests for one pool by the time they were parked (zset)."""
        return f"{self.prefix}pool:{pool}:events"

    def bot_events(self, bot_id: str) -> str:
        """Open events bound to one bot (its activities, the lock that granted it) by parked time (zset).

        Its own family (``bot-events:``), not under ``bot:<id>``: a bot named ``X:events`` would
        otherwise own bot ``X``'s index as its hash. Before this family the index was
        ``bot:<id>:events`` (see :meth:`legacy_bot_events`)."""
        return f"{self.prefix}bot-events:{bot_id}"

    def legacy_bot_events(self, bot_id: str) -> str:
        """Where a bot's event index was kept before ``bot-events:``: merged into the new key
        and deleted at reactor start (``Store.migrate_bot_indexes``)."""
        return f"{self.prefix}bot:{bot_id}:events"

    def workflow(self, digest: str) -> str:
        return f"{self.prefix}workflow:{digest}"

    def bot(self, bot_id: str) -> str:
        return f"{self.prefix}bot:{bot_id}"

    def pool_bots(self, pool: str) -> str:
        return f"{self.prefix}pool:{pool}:bots"

    def pool_free(self, pool: str) -> str:
        return f"{self.prefix}pool:{pool}:free"

    def pool_waiting(self, pool: str) -> str:
        return f"{self.prefix}pool:{pool}:waiting"

    @property
    def bot_leases(self) -> str:
        return f"{self.prefix}bots:leases"


EVENT_SEPARATOR = "~"


def event_id_for(job_id: str, fence: int, index: int) -> str:
    """Event ids are derived from the job and the fence of the park that made them."""
    return f"{job_id}{EVENT_SEPARATOR}{fence}.{index}"


def event_job(event_id: str) -> str:
    """The job id an event id belongs to."""
    job_id, sep, _ = event_id.rpartition(EVENT_SEPARATOR)
    return job_id if sep else event_id


def bot_activity_subject(bot: str, activity: str) -> str:
    """Tasks that must run on one bot (``on_bot`` activities) go to that bot's own subject."""
    return f"{ACTIVITY_EXECUTE_PREFIX}bot.{bot}.{activity}"


ACTIVITY_CANCEL_PREFIX = "activity.cancel."


def activity_cancel_subject(event_id: str) -> str:
    """Best-effort notice to the worker running an event's activity that its job was cancelled."""
    return f"{ACTIVITY_CANCEL_PREFIX}{event_id}"


STREAM_CLAIMS = "EE_CLAIMS"
ACTIVITY_CLAIM_PREFIX = "activity.claim."


def activity_claim_subject(event_id: str, attempt: int, token: str = "") -> str:
    """Where the worker that starts an attempt records it (one message per subject, ever).

    A digest: event ids come from job ids, which may hold characters a subject token
    cannot (``.``, ``*``, ``>``). With the task's attempt token (``reactor.result_tokens``)
    in it, only a worker that received the task can name the subject, so nobody claims an
    attempt ahead of it; a task without one (sent by an older reactor) keeps the old subject."""
    text = f"{event_id}\n{attempt}\n{token}" if token else f"{event_id}\n{attempt}"
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return f"{ACTIVITY_CLAIM_PREFIX}{digest}"


BOTS_HEARTBEAT_PREFIX = "bots.heartbeat."


def bot_heartbeat_subject(bot: str) -> str:
    """One bot's own heartbeat subject: the NATS permissions let each bot's user publish only
    its own, and the reactor refuses a beat whose body names another bot."""
    return f"{BOTS_HEARTBEAT_PREFIX}{bot}"


def heartbeat_bot(subject: str) -> str | None:
    """The bot a heartbeat subject belongs to; None for the legacy shared ``bots.heartbeat``."""
    if not subject.startswith(BOTS_HEARTBEAT_PREFIX):
        return None
    return subject[len(BOTS_HEARTBEAT_PREFIX):] or None

