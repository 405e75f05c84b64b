"""Prometheus metrics of every service, defined once (prometheus-client, default registry).

Each process exposes the ones it moves on ``/metrics`` (see ``shared.ops_http``).
Counters get the ``_total`` suffix on the wire (``ee_jobs_started_total``);
histograms are in seconds, with buckets from half a millisecond up.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ACTIVITY_RESULT_SECONDS",
    "ACTIVITY_SECONDS",
    "DEADLETTERS",
    "DUPLICATE_RESULTS",
    "FENCE_REJECTIONS",
    "IN_HAND",
    "JOBS",
    "JOBS_FINISHED",
    "JOBS_STARTED",
    "JOB_STATUSES",
    "PARKED_EVENTS",
    "PARK_SECONDS",
    "REDELIVERIES",
    "RESULTS_REFUSED",
    "WAKES_OFFERED",
    "WAKE_SECONDS",
]

# Round trips between services: 0.5 ms .. 5 s.
_FAST = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Activities (bots): 10 ms .. 1 h.
_SLOW = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

JOBS_STARTED = Counter("ee_jobs_started", "Jobs created by the reactor (a second submit of one id is not counted).")
"""Reactor: ``inc()`` when a job is created."""

JOBS_FINISHED = Counter("ee_jobs_finished", "Jobs finished, by final status.", ["status"])
"""Reactor: ``labels(status=...).inc()`` with completed, failed or cancelled."""

JOBS = Gauge("ee_jobs", "Jobs by status, as last counted by the reactor: pending (submitted, not started: not "
             "handed to an executor yet, or left by one that cannot read it for a capable one), "
             "running (started, not parked yet), parked (waiting), waking (wait over, not resumed yet), "
             "stranded (offered, nobody resumes it; also counted as running or waking), finished.", ["status"])
"""Reactor: ``labels(status=...).set(n)`` from its periodic count (``reactor.gauges.gauge_loop``)."""

JOB_STATUSES = ("pending", "running", "parked", "waking", "stranded", "finished")

PARKED_EVENTS = Gauge("ee_parked_events", "Parked events by kind (waits not over yet), as last counted by "
                      "the reactor.", ["kind"])
"""Reactor: ``labels(kind=...).set(n)`` from its periodic count; fired events whose job has not
been resumed yet are not counted (they are ``ee_jobs{status="waking"}``)."""

PARK_SECONDS = Histogram("ee_park_seconds", "Executor: park request to the reactor's reply.", buckets=_FAST)
"""Executor: ``with PARK_SECONDS.time():`` around a park request."""

WAKE_SECONDS = Histogram("ee_wake_seconds", "Executor: wake received to the job parked or finished again.",
                         buckets=_FAST)
"""Executor: ``observe()`` once a wake has been driven to the job's next park or finish."""

ACTIVITY_SECONDS = Histogram("ee_activity_seconds", "Worker: time an activity ran.", ["activity"], buckets=_SLOW)
"""Worker: ``labels(activity=...).observe(seconds)`` per attempt, whatever its outcome."""

ACTIVITY_RESULT_SECONDS = Histogram(
    "ee_activity_result_seconds", "Reactor: activity task dispatched to its result received, by activity "
    "(queueing, the worker's run and the result's way back).", ["activity"], buckets=_SLOW)
"""Reactor: ``labels(activity=...).observe(seconds)`` once per attempt whose result arrives
(see ``reactor.activity_clock``)."""

REDELIVERIES = Counter("ee_redeliveries", "JetStream messages received more than once, by stream.", ["stream"])
"""Any consumer: ``labels(stream=...).inc()`` when a message's delivery count is above one."""

JOBS_LEFT = Counter("ee_jobs_left", "Executor: job deliveries given back to JetStream because this build "
                    "cannot read the workflow (a node kind or field of a newer build).")
"""Executor: ``inc()`` per such delivery; the job waits for a capable executor (``ee status``)."""

DEADLETTERS = Counter("ee_deadletters", "Messages refused as malformed, by subject.", ["subject"])
"""Any service: ``labels(subject=...).inc()`` when a message is dead-lettered."""

FENCE_REJECTIONS = Counter("ee_fence_rejections", "Park or finish requests refused for a stale fence.")
"""Reactor: ``inc()`` when an executor that lost a job tries to advance it."""

DUPLICATE_RESULTS = Counter("ee_duplicate_results", "Activity results ignored: duplicate, late or old attempt.")
"""Reactor: ``inc()`` per activity result it drops."""

WAKES_OFFERED = Counter("ee_wakes_offered", "Wakes published to executors (first offers and re-offers).")
"""Reactor: ``inc(n)`` per batch of wakes published on ``ee.executor.wake``."""

IN_HAND = Gauge("ee_executor_in_hand", "Executor: jobs and wakes received and not yet parked or finished.")
"""Executor: ``set_function`` to its count of jobs and wakes in hand (what a SIGTERM drain waits for)."""

RESULTS_REFUSED = Counter("ee_results_refused", "Activity results refused as not authentic: a wrong or missing "
                          "attempt token, or an event that is not an activity (also dead-lettered).")
"""Reactor: ``inc()`` per refused result (``reactor.results.results_loop``)."""

# Flow control, the clock (reactor.clock, reactor.schedules).
JOBS_OVERDUE = Gauge("ee_jobs_overdue", "Jobs past their deadline and not finished, as last counted by the "
                     "reactor (ee jobs --overdue lists every job flagged overdue).")
SCHEDULE_FIRES = Counter("ee_schedule_fires", "Schedule fire times by what came of them: fired (a job), skipped "
                         "(overlap), buffered (overlap buffer_one), missed (outside the catch-up window).",
                         ["result"])
