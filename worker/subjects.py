"""The subjects and consumer names the worker side uses, on top of ``shared.names``.

Plain activities share one durable consumer filtered *exactly* on
``activity.execute.<activity>``; tasks that must run on one bot go to
``activity.execute.bot.<bot>.<activity>`` and that bot's own consumer. A ``>``
filter could not tell the two apart, which is why activity names may not start
with ``bot.``.
"""

from __future__ import annotations

from shared import names
from shared.names import activity_consumer, activity_subject, bot_activity_subject

__all__ = [
    "activity_consumer",
    "activity_subject",
    "bot_activity_subject",
    "bot_consumer",
    "bot_filter_subject",
    "cancel_event_id",
    "cancel_filter_subject",
    "check_activity_name",
]

_BOT_PREFIX = "bot."
_BAD_CHARS = " *>\t\r\n"


class ActivityNameError(ValueError):
    """An activity name the subjects cannot carry."""

    def __init__(self, activity: str, reason: str) -> None:
        super().__init__(f"bad activity name {activity!r}: {reason}")
        self.activity = activity
        self.reason = reason


def check_activity_name(activity: str) -> str:
    """``activity`` if it can be served; raises :class:`ActivityNameError` otherwise."""
    if not activity or activity.startswith(".") or activity.endswith(".") or ".." in activity:
        raise ActivityNameError(activity, "must be non-empty dot-separated tokens")
    if any(c in activity for c in _BAD_CHARS):
        raise ActivityNameError(activity, "may not contain spaces or the wildcards * and >")
    if activity.startswith(_BOT_PREFIX):
        raise ActivityNameError(activity, "may not start with 'bot.' (reserved for tasks addressed to one bot)")
    return activity


def bot_consumer(bot: str) -> str:
    """The durable consumer of one bot's own tasks."""
    return f"ee_bot_{names.activity_token(bot)}"


def bot_filter_subject(bot: str) -> str:
    """Every task addressed to one bot, whatever its activity."""
    return f"{names.ACTIVITY_EXECUTE_PREFIX}{_BOT_PREFIX}{bot}.>"


def cancel_filter_subject() -> str:
    """Notices that a running event's job was cancelled (``activity.cancel.<event id>``)."""
    return f"{names.ACTIVITY_CANCEL_PREFIX}>"


def cancel_event_id(subject: str) -> str | None:
    """The event id a cancel notice names, or None for another subject."""
    if not subject.startswith(names.ACTIVITY_CANCEL_PREFIX):
        return None
    return subject[len(names.ACTIVITY_CANCEL_PREFIX):] or None
