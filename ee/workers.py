"""The live workers, as they announce themselves in the ``EE_WORKERS`` bucket (worker.presence),
and which parked activities none of them serves.

A worker is live while its announcement is in the bucket: written again every third of the
bucket's TTL, deleted when it stops, aged out by JetStream when it dies. Read over NATS only,
so the reactor and Redis know nothing of it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import msgspec
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from shared import clock, names
from shared.config import Settings
from shared.connect import connect_nats
from shared.errors import EngineError, EngineUnavailable, InvalidMessage
from shared.messages import Codec, WorkerPresence

__all__ = ["annotate_unserved", "live_workers", "read_workers", "unserved_reason", "unserved_waits"]

# Total (shared.messages.Codec): nesting bounded first. A raw decoder recursed into the fields it
# does not know, so a deep entry in the bucket (any client may write one) raised RecursionError.
_presence = Codec(WorkerPresence, names.WORKERS_BUCKET)
READ_PATIENCE_S = 5.0  # the longest one listing of the bucket may take
HINT_PATIENCE_S = 1.0  # for the `unserved` hint of `ee events` / `ee status`: never hold them up long


async def live_workers(js: JetStreamContext) -> list[dict[str, Any]]:
    """Every announced worker, by name: its announcement as a dict plus ``last_seen``
    (ISO-8601, when the bucket stored it: the server's clock) and ``age_s``."""
    try:
        kv = await js.key_value(names.WORKERS_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        return []  # no worker has ever started against this NATS
    watcher = await kv.watchall(ignore_deletes=True)
    found = []
    try:
        with anyio.fail_after(READ_PATIENCE_S):
            while True:
                entry = await watcher.updates(timeout=READ_PATIENCE_S)  # type: ignore[no-untyped-call]
                if entry is None:  # the current values are all read
                    break
                if not entry.value:
                    continue
                try:
                    presence = _presence.decode(entry.value)
                except InvalidMessage:
                    continue  # not a worker's announcement (malformed, too deep): not listed
                row: dict[str, Any] = msgspec.structs.asdict(presence)
                seen = entry.created.timestamp() if entry.created is not None else None
                row["last_seen"] = clock.iso(seen) if seen is not None else presence.seen
                row["age_s"] = None if seen is None else round(max(clock.now() - seen, 0.0), 3)
                found.append(row)
                if not entry.delta:
                    break
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]
    return sorted(found, key=lambda w: (w["worker"], w["instance"]))


def read_workers(settings: Settings, patience_s: float = READ_PATIENCE_S) -> list[dict[str, Any]]:
    """``live_workers`` from blocking code (the ``ee`` commands); EngineUnavailable when NATS
    cannot be reached or the bucket not read within ``patience_s`` (a user not allowed to
    read it gets no answer at all: NATS drops the request)."""
    async def go() -> list[dict[str, Any]]:
        nc = await connect_nats(settings, "ee-cli", patient=False)
        try:
            with anyio.fail_after(patience_s):
                return await live_workers(nc.jetstream())
        except (nats.errors.Error, TimeoutError) as exc:
            raise EngineUnavailable("the workers bucket", str(exc) or type(exc).__name__) from exc
        finally:
            await nc.close()

    return anyio.run(go)


def unserved_reason(event: dict[str, Any], workers: list[dict[str, Any]]) -> str | None:
    """Why no live worker can run this parked activity event, or None (it is served, or it is
    no activity waiting for a worker). An on-bot activity needs its bot's worker to serve it."""
    if event.get("kind") != "activity" or event.get("status") != "parked":
        return None
    activity = event.get("activity")
    if not activity:
        return None
    bot = event.get("bot") or None
    serving = [w for w in workers if activity in w.get("activities", ()) and (bot is None or w.get("bot") == bot)]
    if serving:
        return None
    if bot is not None:
        return f"no live worker serves activity {activity!r} as bot {bot!r}"
    return f"no live worker serves activity {activity!r}"


def annotate_unserved(settings: Settings, events: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Set ``unserved`` (the reason) on each parked activity event no live worker serves, and
    return the workers read; None, and nothing set, when NATS could not be asked (the events
    are still worth showing: this is a hint, not the record)."""
    if not any(e.get("kind") == "activity" and e.get("status") == "parked" for e in events):
        return []
    try:
        workers = read_workers(settings, HINT_PATIENCE_S)
    except (EngineError, OSError):
        return None
    for event in events:
        reason = unserved_reason(event, workers)
        if reason is not None:
            event["unserved"] = reason
    return workers


def unserved_waits(settings: Settings, events: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The parked activity events of ``events`` that no live worker serves, each as
    ``{event_id, node, activity, bot, unserved}`` (``ee status``); None when NATS could not be asked."""
    if annotate_unserved(settings, events) is None:
        return None
    return [{"event_id": e.get("event_id"), "node": e.get("node"), "activity": e.get("activity"),
             "bot": e.get("bot") or None, "unserved": e["unserved"]} for e in events if "unserved" in e]
