"""Every wire and storage name of the engine, in one place.

NATS subjects, JetStream stream and consumer names. Redis keys are declared in
``shared.layout`` (re-exported here: ``Keys``, ``EVENT_KINDS``, ``event_job``).
Nothing else in the code base spells one of these strings.
"""

from __future__ import annotations

import hashlib
import uuid

# The Redis layout lives in shared.layout; these names are kept here for the code that imports them.
from shared.layout import EVENT_KINDS, EVENT_SEPARATOR, Keys, event_job

__all__ = [
    "ACTIVITY_CLAIM_PREFIX",
    "ACTIVITY_RESPONSE",
    "BOTS_HEARTBEAT",
    "BOTS_HEARTBEAT_PREFIX",
    "CONSUMER_EXECUTOR_JOBS",
    "CONSUMER_REACTOR_CANCEL",
    "CONSUMER_REACTOR_RESPONSES",
    "ERROR_CODE_HEADER",
    "ERROR_HEADER",
    "ERROR_TYPE_HEADER",
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
    "WORKERS_BUCKET",
    "Keys",
    "activity_claim_subject",
    "activity_consumer",
    "activity_subject",
    "bot_heartbeat_subject",
    "child_job_id",
    "event_id_for",
    "event_job",
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
# An error reply of the reactor: micro's code and description, and the engine's error class
# (shared.errors) beside them, its attributes in the reply's body (shared.error_replies).
ERROR_CODE_HEADER = "Nats-Service-Error-Code"
ERROR_HEADER = "Nats-Service-Error"
ERROR_TYPE_HEADER = "Ee-Error-Type"
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


def event_id_for(job_id: str, fence: int, index: int) -> str:
    """Event ids are derived from the job and the fence of the park that made them."""
    return f"{job_id}{EVENT_SEPARATOR}{fence}.{index}"


def child_job_id(parent: str, path: str) -> str:
    """The id of the child job a ``call`` at ``path`` (its branch path and node, with the map
    index: ``each[3]/post``) of job ``parent`` starts: the same each time, so that a start
    delivered twice creates one child. A valid job id whatever the parent's length."""
    digest = hashlib.blake2b(f"{parent}\n{path}".encode(), digest_size=10).hexdigest()
    head = parent if len(parent) <= 100 else parent[:100].rstrip(".")
    return f"{head}.c{digest}".replace("..", ".")


def bot_activity_subject(bot: str, activity: str) -> str:
    """Tasks that must run on one bot (``on_bot`` activities) go to that bot's own subject."""
    return f"{ACTIVITY_EXECUTE_PREFIX}bot.{bot}.{activity}"


ACTIVITY_CANCEL_PREFIX = "activity.cancel."


def activity_cancel_subject(event_id: str) -> str:
    """Best-effort notice to the worker running an event's activity that its job was cancelled."""
    return f"{ACTIVITY_CANCEL_PREFIX}{event_id}"


STREAM_CLAIMS = "EE_CLAIMS"
# JetStream key-value bucket where every worker announces itself (stream ``KV_EE_WORKERS``,
# subjects ``$KV.EE_WORKERS.<instance id>``): see shared.streams.workers_bucket_config.
WORKERS_BUCKET = "EE_WORKERS"
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

