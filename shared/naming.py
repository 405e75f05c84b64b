"""The name rules: one per kind of name, each with its characters and its length, defined once.

Every entry point checks a name against its kind's rule before the name reaches a
subject, a Redis key or a stored value: the command line, every reactor endpoint, the
executor's job intake, the bot heartbeat, workflow validation and the worker SDK. A
name that breaks its rule is refused with :class:`~shared.errors.InvalidName`, whose
message names the kind, the value (cut short) and the rule.

Why each rule is what it is:

- job ids become hash tags (``ee:job:{id}``) and the head of event ids (``id~fence.index``),
  and event ids become subject tokens (``activity.cancel.<event id>``): so no braces, no
  ``~``, no wildcard or space, no empty token (no leading ``.``, no ``..``);
- bots are subject tokens (``activity.execute.bot.<bot>.<activity>``; a ``.`` would let
  one bot's filter overlap another's), members of a comma-separated field, and the last
  part of ``ee:bot:<bot>``: so no ``.``, ``,`` or ``:``;
- pools and limits end keys such as ``ee:pool:<pool>:free``: no ``:``;
- activities are subjects (``activity.execute.<activity>``): dot-separated tokens,
  bounded so that the longest task subject stays far below the server's control line,
  and made durable consumer names by :func:`shared.names.activity_token`;
- signals, workflows and schedules are stored as hash fields and shown to people: the
  conservative set of job ids, for one rule easy to remember.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.errors import InvalidName

__all__ = ["RULES", "NameKind", "NameRule", "check_name", "is_valid_name"]

NameKind = Literal["job", "event", "signal", "activity", "bot", "pool", "workflow", "limit", "schedule",
                   "node"]

_ID = r"(?!.*\.\.)[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}"  # a job id: no leading '.', no '..'
_TOKEN = r"[A-Za-z0-9_-]+"


@dataclass(frozen=True, slots=True)
class NameRule:
    """One kind of name: the pattern it must match in full, its length bound, and both in words."""

    kind: str
    pattern: re.Pattern[str]
    max_length: int
    characters: str  # what the pattern allows: a character class, or in words (docs and errors)
    extra: str = ""  # a further condition, in words
    reserved_prefix: str = ""  # names starting with this are refused (kept for the engine's own use)

    @property
    def words(self) -> str:
        join = " of " if self.characters.startswith("[") else ": "
        text = f"must be 1 to {self.max_length} characters{join}{self.characters}"
        return f"{text}; {self.extra}" if self.extra else text

    def valid(self, value: object) -> bool:
        return (isinstance(value, str) and 0 < len(value) <= self.max_length
                and self.pattern.fullmatch(value) is not None
                and not (self.reserved_prefix and value.startswith(self.reserved_prefix)))


def _rule(kind: str, pattern: str, max_length: int, characters: str, extra: str = "",
          reserved_prefix: str = "") -> NameRule:
    return NameRule(kind, re.compile(pattern), max_length, characters, extra, reserved_prefix)


_JOB_CHARS = "[A-Za-z0-9._:-]"

RULES: dict[str, NameRule] = {rule.kind: rule for rule in (
    _rule("job", _ID, 128, _JOB_CHARS, "not starting with '.' nor holding '..'"),
    # An event id is its job's id, '~', the fence of the park that made it, '.', its index.
    _rule("event", _ID + r"~[0-9]{1,12}\.[0-9]{1,6}", 160, "<job id>~<fence>.<index>",
          "a job id as for jobs, then decimal fence and index"),
    _rule("signal", r"[A-Za-z0-9._:-]+", 128, _JOB_CHARS),
    _rule("activity", rf"{_TOKEN}(?:\.{_TOKEN})*", 128,
          "tokens of [A-Za-z0-9_-] joined by single dots",
          "not starting with 'bot.' (reserved for tasks addressed to one bot)", reserved_prefix="bot."),
    _rule("bot", r"[A-Za-z0-9_-]+", 64, "[A-Za-z0-9_-]"),
    _rule("pool", r"[A-Za-z0-9._-]+", 64, "[A-Za-z0-9._-]"),
    _rule("workflow", r"[A-Za-z0-9._:-]+", 128, _JOB_CHARS),
    _rule("limit", r"[A-Za-z0-9._-]+", 64, "[A-Za-z0-9._-]"),
    _rule("schedule", r"[A-Za-z0-9._-]+", 64, "[A-Za-z0-9._-]"),
    # Node ids are stored as values and shown in histories, never in a key or a subject:
    # any printable text, bounded.
    _rule("node", r"[^\x00-\x1f\x7f]+", 128, "anything but control characters"),
)}

_NOUN = {"job": "job id", "event": "event id", "node": "node id"}
_SHOWN = 40  # characters of a refused value repeated in its error


def is_valid_name(kind: NameKind, value: object) -> bool:
    return RULES[kind].valid(value)


def check_name(kind: NameKind, value: str) -> str:
    """``value`` if it follows the rule of its kind; raises :class:`InvalidName` otherwise."""
    rule = RULES[kind]
    if rule.valid(value):
        return value
    shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
    noun = _NOUN.get(kind, f"{kind} name")
    size = f" ({len(value)} characters)" if len(value) > rule.max_length else ""
    raise InvalidName(kind, value, f"invalid {noun} {shown!r}{size}: {rule.words}.")
