"""The engine's exceptions: fixed wording, structured attributes.

They are turned into error replies, exit codes or dead-letter records only at
the boundary (the reactor's endpoints, the CLI, the consumers).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CredentialsRefused",
    "EngineError",
    "EngineUnavailable",
    "EventInBackoff",
    "EventNotFound",
    "EventNotParked",
    "ForeignEvent",
    "FormRefused",
    "InboxFull",
    "InvalidMessage",
    "InvalidName",
    "InvalidWorkflow",
    "JobFinished",
    "JobIdInUse",
    "JobNotFailed",
    "JobNotFound",
    "JobWaitTimeout",
    "LeaseLost",
    "NestedTooDeep",
    "NotATask",
    "NotPermitted",
    "NotRetryable",
    "OverLimit",
    "PayloadTooLarge",
    "ReactorError",
    "SignalInboxOverBudget",
    "StackNotFound",
    "StaleFence",
    "SubjectTooLong",
    "TaskClaimed",
    "TaskClosed",
    "TaskCompleted",
    "TaskNotFound",
    "UnknownNode",
    "UnreadableWorkflow",
    "VersionTaken",
    "WorkflowNotDeployed",
    "engine_error_in",
]


def _cut(name: str, limit: int = 80) -> str:
    """A name from the sender, cut short for an error (a node id of any length reaches
    the error of a workflow that fails before the name rules are checked)."""
    return name if len(name) <= limit else f"{name[:limit]}... ({len(name)} characters)"


class EngineError(Exception):
    """Base of every error the engine reports on purpose."""

    code = "400"


class ConfigError(EngineError):
    def __init__(self, setting: str, value: object, reason: str) -> None:
        self.setting = setting
        self.value = value
        super().__init__(f"invalid setting {setting}={value!r}: {reason}")


class InvalidWorkflow(EngineError):
    def __init__(self, node: str | None, field: str | None, reason: str) -> None:
        self.node = node
        self.field = field
        where = ""
        if node is not None:
            where = f"node {_cut(node)!r}"
            if field is not None:
                where += f", field {_cut(field)!r}"
        elif field is not None:
            where = f"field {_cut(field)!r}"
        super().__init__(f"invalid workflow: {where}: {reason}" if where else f"invalid workflow: {reason}")


class UnreadableWorkflow(InvalidWorkflow):
    """A workflow this build cannot read: a node kind or a field it does not know.

    Unlike its base class, this says nothing about other builds: a newer one may know the
    kind or field (a feature being rolled out), so an executor leaves such a job for another
    executor instead of refusing it. Everything that only checks for InvalidWorkflow (``ee
    submit``, say) still refuses it: the build at hand cannot run it."""

    def __init__(self, node: str | None, field: str | None, reason: str) -> None:
        self.detail = reason
        super().__init__(node, field, f"{reason} (unknown to this build; a newer build may know it)")


class InvalidMessage(EngineError):
    def __init__(self, subject: str, reason: str) -> None:
        self.subject = subject
        self.reason = reason
        super().__init__(f"malformed message on {subject}: {reason}")


class InvalidName(EngineError, ValueError):
    """A name that breaks the rule of its kind (``shared.naming``); also a ValueError, for the SDK."""

    def __init__(self, kind: str, value: str, message: str) -> None:
        self.kind = kind
        self.value = value
        super().__init__(message)


class JobNotFound(EngineError):
    code = "404"

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"unknown job {job_id!r}")


class JobFinished(EngineError):
    code = "409"

    def __init__(self, job_id: str, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {job_id!r} is already {status}")


class InboxFull(EngineError):
    code = "409"

    def __init__(self, job_id: str, signal: str, limit: int) -> None:
        self.job_id = job_id
        self.signal = signal
        self.limit = limit
        super().__init__(f"signal {signal!r} refused: job {job_id!r} already holds {limit} signals it has "
                         "not waited for yet (inbox full)")


class SignalInboxOverBudget(EngineError):
    code = "409"

    def __init__(self, job_id: str, signal: str, held: int, size: int, budget: int) -> None:
        self.job_id = job_id
        self.signal = signal
        self.held = held
        self.size = size
        self.budget = budget
        super().__init__(f"signal {signal!r} refused: job {job_id!r} already holds {held} bytes of signals it "
                         f"has not waited for yet, and {size} more would exceed its inbox limit of {budget} bytes")


class OverLimit(EngineError):
    """Something the engine was about to send (or was sent) is over one of its bounds.

    ``what`` names it ("job state", "activity task", "reply"); ``size`` and ``limit`` are in
    the unit the message gives."""

    code = "413"

    def __init__(self, what: str, size: int, limit: int, message: str) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(message)


class PayloadTooLarge(OverLimit):
    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(what, size, limit, f"{what} of {size} bytes exceeds the limit of {limit}")


class NestedTooDeep(OverLimit):
    def __init__(self, what: str, limit: int) -> None:
        super().__init__(what, limit + 1, limit, f"{what} is nested more than {limit} levels deep (the limit)")


class SubjectTooLong(OverLimit):
    def __init__(self, subject: str, limit: int) -> None:
        size = len(subject.encode())
        self.subject = subject
        super().__init__("subject", size, limit, f"subject {subject[:60]!r}... of {size} bytes exceeds the "
                         f"limit of {limit}")


class StaleFence(EngineError):
    code = "409"

    def __init__(self, job_id: str, fence: int, current: int) -> None:
        self.job_id = job_id
        self.fence = fence
        self.current = current
        super().__init__(f"stale fence for job {job_id!r}: sent {fence}, current {current}")


class ReactorError(EngineError):
    """An error reply of the reactor without a class this build knows: a failure the reactor
    did not expect (code 500, its ``description`` says what), or a refusal from a reactor
    older than typed error replies (``code`` is then all there is to go by)."""

    def __init__(self, code: str, description: str) -> None:
        self.code = code
        self.description = description
        super().__init__(description)


class EngineUnavailable(EngineError):
    code = "503"

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        super().__init__(f"{what} unavailable: {reason}")


class CredentialsRefused(EngineUnavailable):
    """NATS or Redis refused the user, password, token, nkey or creds file: a setting to fix,
    not an outage to wait out (``ee`` exits 2, not 4; a service stops at once)."""

    code = "401"


class NotPermitted(EngineError):
    """The NATS server refused this user a publish or a subscription (its permissions)."""

    code = "403"

    def __init__(self, action: str, subject: str) -> None:
        self.action = action
        self.subject = subject
        hint = ("set EE_NATS_INBOX_PREFIX to this user's own inbox prefix, _INBOX_<user>"
                if action == "subscribe to" and subject.lower().startswith("_inbox") else
                "see docs/security.md for the user each command needs")
        super().__init__(f"this NATS user may not {action} {subject!r} ({hint})")


class EventNotFound(EngineError):
    code = "404"

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(f"unknown event {event_id!r} (consumed, dropped, or never parked)")


class EventNotParked(EngineError):
    code = "409"

    def __init__(self, event_id: str, status: str) -> None:
        self.event_id = event_id
        self.status = status
        super().__init__(f"event {event_id!r} is {status}, not parked")


class ForeignEvent(EngineError):
    """A park that lists another job's event as consumed: refused, and nothing is written."""

    def __init__(self, job_id: str, event_id: str) -> None:
        self.job_id = job_id
        self.event_id = event_id
        super().__init__(f"park of job {job_id!r} refused: event {event_id[:200]!r} is not one of its own "
                         "(a job consumes only its own events)")


class EventInBackoff(EngineError):
    """``extend`` of an activity between attempts: no attempt runs, so no timeout runs either."""

    code = "409"

    def __init__(self, event_id: str, attempt: int, starts_in_s: float) -> None:
        self.event_id = event_id
        self.attempt = attempt
        self.starts_in_s = starts_in_s
        super().__init__(
            f"event {event_id!r} is waiting out a retry backoff (attempt {attempt} starts in "
            f"{max(starts_in_s, 0):.1f} s): no attempt is running, so there is no timeout to extend; "
            "extend it once the attempt runs, or resolve or fail it now")


class JobWaitTimeout(EngineError, TimeoutError):
    """Waiting for a job to finish gave up; the job itself goes on (also a TimeoutError)."""

    code = "504"

    def __init__(self, job_id: str, status: str, waited_s: float, waiting_on: str = "") -> None:
        self.job_id = job_id
        self.status = status
        self.waited_s = waited_s
        self.waiting_on = waiting_on
        on = f", waiting on {waiting_on}" if waiting_on else ""
        super().__init__(f"gave up waiting for job {job_id!r} after {waited_s:g} s: it is still {status}{on} "
                         "(the job goes on; wait again or look at it with `ee status`)")


class LeaseLost(EngineError):
    """Another reactor took the reactor lease this one held (a standby took over while this
    one was paused or cut off from Redis): it must stop acting. Never a reply: the reactor exits (reactor.leader)."""

    code = "503"

    def __init__(self, lease: str, holder: str) -> None:
        self.lease = lease
        self.holder = holder
        now = f"; reactor {holder} holds it now" if holder else ""
        super().__init__(f"lost the reactor lease {lease}: another reactor took it{now}; "
                         "stopping (a supervisor restarts this reactor as a standby)")


def engine_error_in(exc: BaseException) -> EngineError | None:
    """The first EngineError in ``exc`` or, for a task group's exception group, inside it."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = engine_error_in(inner)
            if found is not None:
                return found
    return None


class StackNotFound(EngineError):
    """No URL to use: no flag, no env, no live stack file, and the defaults were not asked for."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class JobIdInUse(EngineError):
    """A job id submitted again with another workflow or input: the engine would ignore it."""

    code = "409"

    def __init__(self, job_id: str, status: str, name: str, differs: str) -> None:
        self.job_id = job_id
        self.status = status
        self.differs = differs
        of = f" of workflow {name}" if name else ""
        super().__init__(f"job id {job_id!r} is taken: job {job_id!r}{of} ({status}) was submitted with a "
                         f"different {differs}; the same submission again starts nothing new, so choose "
                         "another --job-id")


class WorkflowNotDeployed(EngineError):
    """No workflow deployed under ``name`` (at ``version``; 0: any version)."""

    code = "404"

    def __init__(self, name: str, version: int = 0) -> None:
        self.name = name
        self.version = version
        which = f"{name!r} version {version}" if version else repr(name)
        super().__init__(f"no workflow {which} is deployed (ee workflow list shows what is)")


class VersionTaken(EngineError):
    """A workflow deployed under a version that already holds other content: versions never change."""

    code = "409"

    def __init__(self, name: str, version: int, digest: str) -> None:
        self.name = name
        self.version = version
        self.digest = digest
        super().__init__(f"workflow {_cut(name)!r} version {version} is deployed already with other content "
                         f"(digest {_cut(digest, 40)}): a deployed version never changes; raise `version` in the "
                         "workflow to deploy this one")


class JobNotFailed(EngineError):
    """``ee retry`` of a job that is not failed."""

    code = "409"

    def __init__(self, job_id: str, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {_cut(job_id)!r} is {status}: only a failed job can be retried")


class UnknownNode(EngineError):
    """``ee retry --from`` a node that is not a top-level node of the job's workflow."""

    def __init__(self, job_id: str, node: str, allowed: list[str]) -> None:
        self.job_id = job_id
        self.node = node
        self.allowed = allowed
        shown = ", ".join(_cut(n, 40) for n in allowed[:20]) + (f", ... ({len(allowed)} in all)"
                                                                 if len(allowed) > 20 else "")
        super().__init__(f"job {_cut(job_id)!r} cannot be retried from {_cut(node)!r}: its workflow has no "
                         f"top-level node of that id (one of: {shown})")


class NotRetryable(EngineError):
    """``ee retry`` of a failed job that cannot run again as it stands (``reason`` says why)."""

    code = "409"

    def __init__(self, job_id: str, reason: str) -> None:
        self.job_id = job_id
        self.reason = reason
        super().__init__(f"job {_cut(job_id)!r} cannot be retried: {reason}")


class TaskNotFound(EngineError):
    """No open or completed human task of this id (its job ended, was purged, or never had it)."""

    code = "404"

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"unknown task {_cut(task_id)!r}")


class NotATask(EngineError):
    """A task command naming an event that is another kind of wait."""

    def __init__(self, task_id: str, kind: str) -> None:
        self.task_id = task_id
        self.kind = kind
        super().__init__(f"event {_cut(task_id)!r} is a {kind} wait, not a human task")


class TaskCompleted(EngineError):
    """A second completion (or a claim, a reassignment) of a task completed already."""

    code = "409"

    def __init__(self, task_id: str, by: str, at: str) -> None:
        self.task_id = task_id
        self.by = by
        self.at = at
        super().__init__(f"task {_cut(task_id)!r} was completed by {_cut(by)} at {at}")


class TaskClaimed(EngineError):
    """Completing or claiming a task someone else claimed."""

    code = "409"

    def __init__(self, task_id: str, by: str, at: str) -> None:
        self.task_id = task_id
        self.by = by
        self.at = at
        super().__init__(f"task {_cut(task_id)!r} is claimed by {_cut(by)} (since {at}): only they may complete "
                         "it; reassign it to release the claim")


class TaskClosed(EngineError):
    """A task whose wait ended another way (timed out, failed or resolved by an operator)."""

    code = "409"

    def __init__(self, task_id: str, status: str) -> None:
        self.task_id = task_id
        self.status = status
        super().__init__(f"task {_cut(task_id)!r} is not open any more (its wait is {status})")


class FormRefused(EngineError):
    """Completion data that does not fit the task's form: the first field at fault."""

    def __init__(self, task_id: str, field: str, reason: str) -> None:
        self.task_id = task_id
        self.field = field
        self.reason = reason
        where = f"field {_cut(field, 60)!r}" if field else "the data"
        super().__init__(f"{where}: {reason}")
