"""The engine's bounds on what it reads and what it sends, checked before the work is done.

Decoding: msgspec's JSON decoder (like Python's ``json``) recurses once per level of
nesting, so ten kilobytes of ``[[[[...`` raise ``RecursionError`` deep inside it. Every
decoder therefore first measures nesting with :func:`nested_deeper_than`, a scan of the raw
bytes that never recurses, and refuses what is too deep before decoding.

Sending: nats-server closes the connection of a client that publishes more than its
``max_payload`` (headers count) or a protocol line longer than its ``max_control_line``
(the subject is on that line), and nats-py does not reconnect after such a close. Every
publish is checked with :func:`check_publish` first, so an oversize message becomes a
clear error for its job instead of a deaf process.

The numbers, and why:

- ``MAX_DEPTH`` (64): nesting of any message on any subject.
- ``MAX_DATA_DEPTH`` (48): nesting of the messages that bring data from outside the engine
  (job input, activity results, signals, operator data). The engine embeds that data a few
  levels deeper in its own messages (a result goes into ``checkpoint.vars.<name>`` of the
  next park, ``result.output`` of a wake): the margin keeps every accepted value carriable.
- ``MAX_SUBJECT_BYTES`` (1,024): far below nats-server's default control line (4,096) even
  with a reply subject and the sizes on the same line.
- ``MAX_ERROR_CHARS`` (256): an error sent back in a header, or kept as a dead-letter reason.
- ``MAX_BOT_LEASE_S`` (3,600) and ``MAX_BOT_CAPACITY`` (1,024): a heartbeat's lease and
  capacity. A lease of days (or ``1e308``) would keep a dead bot in its pool for good.
- ``SIGNAL_INBOX_BYTES`` (1 MiB): the signals one job holds that it has not waited for yet,
  in bytes (names and data); besides the inbox's 100 signals. Without it 100 signals of
  1 MiB each would be 100 MiB of Redis per job.
"""

from __future__ import annotations

import re
from typing import Any

from shared.errors import NestedTooDeep, PayloadTooLarge, SubjectTooLong

__all__ = [
    "MAX_BOT_CAPACITY",
    "MAX_BOT_LEASE_S",
    "MAX_DATA_DEPTH",
    "MAX_DEPTH",
    "MAX_ERROR_CHARS",
    "MAX_SUBJECT_BYTES",
    "SIGNAL_INBOX_BYTES",
    "bounded_text",
    "check_nesting",
    "check_publish",
    "headers_size",
    "nested_deeper_than",
    "object_deeper_than",
]

MAX_DEPTH = 64
MAX_DATA_DEPTH = 48
MAX_SUBJECT_BYTES = 1024
MAX_ERROR_CHARS = 256
SIGNAL_INBOX_BYTES = 1 << 20
MAX_BOT_LEASE_S = 3600.0
MAX_BOT_CAPACITY = 1024

# A JSON string, escapes included (unrolled so that it never backtracks).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_OPEN = frozenset(b"[{")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def nested_deeper_than(data: bytes | bytearray | memoryview | str, limit: int) -> bool:
    """Whether the JSON text ``data`` nests arrays and objects more than ``limit`` deep.

    Brackets inside strings do not count. Cheap when it matters: a text with at most
    ``limit`` opening brackets cannot be too deep (two ``count`` calls); otherwise the
    strings are cut out and balanced innermost pairs removed level by level, all in C,
    and only what is left after ``limit`` levels is walked in Python. Malformed text may
    be counted either way; its decoding refuses it anyway."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    rest = brackets
    for _ in range(limit):
        shorter = rest.replace(b"[]", b"").replace(b"{}", b"")
        if not shorter:
            return False
        if len(shorter) == len(rest):
            break  # not balanced: count it bracket by bracket
        rest = shorter
    depth = 0
    for byte in brackets:
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def object_deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value (dicts, lists, scalars) nests more than ``limit`` deep,
    walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > limit:
            return True
        stack.extend((child, depth) for child in children)
    return False


def headers_size(headers: dict[str, str] | None) -> int:
    """Bytes the headers take on the wire (``NATS/1.0`` line, one line each, blank line)."""
    if not headers:
        return 0
    return 12 + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())


def check_publish(what: str, subject: str, data: bytes, headers: dict[str, str] | None, limit: int) -> None:
    """Refuse, before it reaches the socket, a publish the server would answer by closing
    the connection: a subject over ``MAX_SUBJECT_BYTES``, or payload and headers over ``limit``."""
    if len(subject) > MAX_SUBJECT_BYTES // 4 and len(subject.encode()) > MAX_SUBJECT_BYTES:
        raise SubjectTooLong(subject, MAX_SUBJECT_BYTES)
    size = len(data) + headers_size(headers)
    if size > limit:
        raise PayloadTooLarge(what, size, limit)


def check_nesting(what: str, data: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse, before sending it, a message that its receiver would refuse as too deep."""
    if nested_deeper_than(data, limit):
        raise NestedTooDeep(what, limit)


def bounded_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` on one line (control characters become spaces), cut to ``limit`` characters
    with a note of how much was left out: safe in a header, a log line or a record."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return _CONTROL.sub(" ", text)
