"""Every value the console takes from a query string or a form, checked, with one message that
names the field when it is refused (``FormError``). Names are checked by the engine's own rules
(``shared.naming``), times and durations read as ``ee`` reads them."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ee.durations import parse_duration, parse_moment
from shared.bounds import MAX_DATA_DEPTH, nested_deeper_than
from shared.errors import InvalidName
from shared.human_tasks import check_assignee
from shared.names import EVENT_KINDS
from shared.naming import NameKind, check_name

__all__ = ["JOB_STATUSES", "EventFilters", "FormError", "JobFilters", "assignee_field", "event_filters", "job_filters",
           "json_field", "name_field", "operator_field", "text_field", "timeout_field"]

JOB_STATUSES = ("pending", "running", "parked", "completed", "failed", "cancelled", "stranded")
MAX_PAGE = 200
MAX_TEXT = 500  # a reason or an error typed by an operator
MAX_DATA_BYTES = 64 * 1024  # a result typed into the resolve form
MAX_TIMEOUT_S = 366 * 86400.0
_OPERATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}")


class FormError(ValueError):
    """A value refused: ``field`` names the form field, the message says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _given(values: Mapping[str, Any], key: str) -> str | None:
    value = values.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FormError(key, "expected text")
    value = value.strip()
    return value or None


def name_field(values: Mapping[str, Any], key: str, kind: NameKind, required: bool = False) -> str | None:
    value = _given(values, key)
    if value is None:
        if required:
            raise FormError(key, "required")
        return None
    try:
        return check_name(kind, value)
    except InvalidName as exc:
        raise FormError(key, str(exc)) from None


def text_field(values: Mapping[str, Any], key: str, required: bool = False, most: int = MAX_TEXT) -> str | None:
    value = _given(values, key)
    if value is None:
        if required:
            raise FormError(key, "required")
        return None
    if len(value) > most:
        raise FormError(key, f"at most {most} characters ({len(value)} given)")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise FormError(key, "control characters are not allowed")
    return value


def operator_field(values: Mapping[str, Any]) -> str:
    """Who acts: recorded with the action (``by``, or in its reason or error text)."""
    value = _given(values, "by")
    if value is None:
        raise FormError("by", "your name is required (it goes into the job's history)")
    if not _OPERATOR.fullmatch(value):
        raise FormError("by", "1 to 64 letters, digits, spaces and . _ @ + -, starting with a letter or digit")
    return value


def assignee_field(values: Mapping[str, Any]) -> str:
    """Whom a task goes to (``alice``, ``group:finance``), by the rule of ``ee task reassign --to``."""
    value = _given(values, "to")
    if value is None:
        raise FormError("to", "the assignee to reassign to is required (a user NAME or group:NAME)")
    why = check_assignee(value)
    if why is not None:
        raise FormError("to", why)
    return value


def json_field(values: Mapping[str, Any], key: str) -> Any:
    """JSON text (empty: null), bounded in size and nesting like every payload of the engine."""
    value = _given(values, key)
    if value is None:
        return None
    if len(value.encode()) > MAX_DATA_BYTES:
        raise FormError(key, f"at most {MAX_DATA_BYTES} bytes of JSON")
    if nested_deeper_than(value, MAX_DATA_DEPTH):
        raise FormError(key, f"nested more than {MAX_DATA_DEPTH} levels deep (the limit)")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise FormError(key, f"not valid JSON: {exc}") from None


def timeout_field(values: Mapping[str, Any], key: str) -> float:
    """A positive duration: seconds or ``30s`` / ``5m`` / ``1h`` / ``2d``."""
    value = _given(values, key)
    if value is None:
        raise FormError(key, "required")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise FormError(key, str(exc)) from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_TIMEOUT_S:
        raise FormError(key, f"must be more than 0 and at most {MAX_TIMEOUT_S / 86400:g} days")
    return seconds


def _int_field(values: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = _given(values, key)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise FormError(key, f"a whole number from {low} to {high}")
    return int(value)


def _moment_field(values: Mapping[str, Any], key: str) -> float | None:
    value = _given(values, key)
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as exc:
        raise FormError(key, str(exc)) from None


@dataclass(frozen=True)
class JobFilters:
    status: str | None = None
    workflow: str | None = None
    since: float | None = None
    until: float | None = None
    after: str | None = None
    limit: int = 25


def job_filters(values: Mapping[str, Any]) -> JobFilters:
    status = _given(values, "status")
    if status is not None and status not in JOB_STATUSES:
        raise FormError("status", f"{status[:40]!r} is not a job status: one of {', '.join(JOB_STATUSES)}")
    since, until = _moment_field(values, "since"), _moment_field(values, "until")
    if since is not None and until is not None and since >= until:
        raise FormError("since", "must be before until")
    return JobFilters(status, name_field(values, "workflow", "workflow"), since, until,
                      name_field(values, "after", "job"), _int_field(values, "limit", 25, 1, MAX_PAGE))


@dataclass(frozen=True)
class EventFilters:
    job: str | None = None
    kind: str | None = None
    activity: str | None = None
    pool: str | None = None
    bot: str | None = None
    older_than_s: float | None = None
    stranded: bool = False
    limit: int = 100


def event_filters(values: Mapping[str, Any]) -> EventFilters:
    """The filters of ``ee events``: job, kind, activity, pool, bot, older than, stranded."""
    kind = _given(values, "kind")
    if kind is not None and kind not in EVENT_KINDS:
        raise FormError("kind", f"{kind[:40]!r} is not a wait kind: one of {', '.join(EVENT_KINDS)}")
    older = _given(values, "older_than")
    try:
        older_than_s = None if older is None else parse_duration(older)
    except ValueError as exc:
        raise FormError("older_than", str(exc)) from None
    stranded = _given(values, "stranded")
    if stranded not in (None, "1", "on", "true"):
        raise FormError("stranded", "a checkbox: on or absent")
    return EventFilters(name_field(values, "job", "job"), kind, name_field(values, "activity", "activity"),
                        name_field(values, "pool", "pool"), name_field(values, "bot", "bot"), older_than_s,
                        stranded is not None, _int_field(values, "limit", 100, 1, 1000))
