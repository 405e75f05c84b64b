"""Permission violations a NATS server reported on a connection, handed to whoever waits on them.

nats-server answers a publish or a subscription that the user's permissions forbid with an
asynchronous ``-ERR 'Permissions Violation for Publish to "<subject>"'`` and drops it; the
connection stays up. A request would wait for a reply that never comes and be retried as if
the reactor were away. :func:`report` (the connection's error callback, ``shared.connect``)
passes each violation to the listeners of that connection (``shared.replies``), which fail the
requests waiting on that subject at once with :class:`shared.errors.NotPermitted`, and keeps
them for callers whose requests nats-py times out itself (:func:`seen`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from weakref import WeakKeyDictionary

from nats.aio.client import Client as NATS

__all__ = ["Listener", "listen", "parse", "refused_subscription", "report", "seen"]

# (action, subject): action is "publish" or "subscribe to".
Listener = Callable[[str, str], None]

_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]*)"', re.I)
_listeners: WeakKeyDictionary[NATS, list[Listener]] = WeakKeyDictionary()
_seen: WeakKeyDictionary[NATS, set[tuple[str, str]]] = WeakKeyDictionary()


def parse(exc: BaseException) -> tuple[str, str] | None:
    """``("publish" | "subscribe to", subject)`` of a permissions violation, else None. The
    subject is lower-cased: nats-py lower-cases the server's whole error line."""
    found = _VIOLATION.search(str(exc))
    if found is None:
        return None
    return ("publish" if found[1].lower() == "publish" else "subscribe to"), found[2].lower()


def listen(nc: NATS, listener: Listener) -> None:
    _listeners.setdefault(nc, []).append(listener)


def report(nc: NATS, exc: BaseException) -> bool:
    """Hand a permissions violation to the connection's listeners; False for another error."""
    violation = parse(exc)
    if violation is None:
        return False
    _seen.setdefault(nc, set()).add(violation)
    for listener in _listeners.get(nc, []):
        listener(*violation)
    return True


def seen(nc: NATS, action: str, subject: str) -> bool:
    """Whether the server reported this violation on ``nc`` (for a caller whose request timed
    out through nats-py itself, such as a JetStream publish)."""
    return (action, subject.lower()) in _seen.get(nc, set())


def refused_subscription(nc: NATS) -> str | None:
    """A subscription the server refused on ``nc`` (a reply inbox outside the user's prefix:
    every reply to it is lost), or None."""
    seen = _seen.get(nc)
    if not seen:  # the usual case, on every request of the hot paths
        return None
    return next((subject for action, subject in seen if action == "subscribe to"), None)
