"""The subjects and consumer names the worker side uses, on top of ``shared.names``.

Plain activities share one durable consumer filtered *exactly* on
``activity.execute.<activity>``; tasks that must run on one bot go to
``activity.execute.bot.<bot>.<activity>`` and that bot's own consumer. A ``>``
filter could not tell the two apart, which is why activity names may not start
with ``bot.``.
"""

from __future__ import annotations

from shared import names
from shared.errors import InvalidName
from shared.names import activity_consumer, activity_subject, bot_activity_subject
from shared.naming import check_name

__all__ = [
    "ActivityNameError",
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

# The rule itself lives in shared.naming (one rule per kind of name, for every entry point).
ActivityNameError = InvalidName


def check_activity_name(activity: str) -> str:
    """``activity`` if it follows the activity name rule; raises :class:`InvalidName` (a
    ValueError) otherwise."""
    return check_name("activity", activity)


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
