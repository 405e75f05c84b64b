"""Prometheus metrics of every service, defined once (prometheus-client).

Each process exposes the ones it moves on ``/metrics`` (see ``shared.ops_http``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ACTIVITY_SECONDS",
    "DEADLETTERS",
    "DUPLICATE_RESULTS",
    "FENCE_REJECTIONS",
    "JOBS_FINISHED",
    "JOBS_STARTED",
    "PARKED_EVENTS",
    "PARK_SECONDS",
    "REDELIVERIES",
    "WAKES_OFFERED",
    "WAKE_SECONDS",
]

_FAST = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

JOBS_STARTED = Counter("ee_jobs_started", "Jobs created by the reactor (a second submit of one id is not counted).")
JOBS_FINISHED = Counter("ee_jobs_finished", "Jobs finished, by final status.", ["status"])
PARKED_EVENTS = Gauge("ee_parked_events", "Open events by kind, as last counted by the reactor.", ["kind"])
PARK_SECONDS = Histogram("ee_park_seconds", "Executor: park request to the reactor's reply.", buckets=_FAST)
WAKE_SECONDS = Histogram("ee_wake_seconds", "Executor: wake received to the next park or finish recorded.",
                         buckets=_FAST)
ACTIVITY_SECONDS = Histogram("ee_activity_seconds", "Worker: time an activity ran.", ["activity"], buckets=_SLOW)
REDELIVERIES = Counter("ee_redeliveries", "JetStream messages received more than once, by stream.", ["stream"])
DEADLETTERS = Counter("ee_deadletters", "Messages refused as malformed, by subject.", ["subject"])
FENCE_REJECTIONS = Counter("ee_fence_rejections", "Park or finish requests refused for a stale fence.")
DUPLICATE_RESULTS = Counter("ee_duplicate_results", "Activity results ignored: duplicate, late or old attempt.")
WAKES_OFFERED = Counter("ee_wakes_offered", "Wakes published to executors (first offers and re-offers).")
