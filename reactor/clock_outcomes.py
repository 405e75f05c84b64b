"""What the clock's scripts answer (reactor/lua/defer*.lua, deadline*.lua, schedule_*.lua).

Their codes are those of ``reactor.outcomes.CODES`` (one meaning per code); these are the
fields these scripts send with them.
"""

from __future__ import annotations

from reactor.outcomes import Outcome

__all__ = ["Deferred", "DeferredExisting", "Flagged", "ScheduleExists", "ScheduleStep", "ScheduleStored"]


class Deferred(Outcome, tag="created"):
    status: str


class DeferredExisting(Outcome, tag="existing"):
    status: str


class Flagged(Outcome, tag="recorded"):
    """A due deadline: the job is flagged overdue (``first``: by this call) and does ``on_deadline``."""

    on_deadline: str
    first: bool = False


class ScheduleStored(Outcome, tag="created"):
    status: str


class ScheduleExists(Outcome, tag="existing"):
    status: str


class ScheduleStep(Outcome, tag="done"):
    """``result``: fired (``job_id``; ``created`` False when that job existed), skipped,
    buffered or missed."""

    result: str
    job_id: str = ""
    created: bool = False
