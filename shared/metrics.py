"""Placeholder metrics (replaced by the full module)."""
from prometheus_client import Counter, Gauge, Histogram

JOBS_FINISHED = Counter("ee_jobs_finished_total", "Jobs finished", ["status"])
JOBS_STARTED = Counter("ee_jobs_started_total", "Jobs started")
PARKED_EVENTS = Gauge("ee_parked_events", "Parked events", ["kind"])
PARK_SECONDS = Histogram("ee_park_seconds", "Park latency")
WAKE_SECONDS = Histogram("ee_wake_seconds", "Wake handling")
ACTIVITY_SECONDS = Histogram("ee_activity_seconds", "Activity", ["activity"])
REDELIVERIES = Counter("ee_redeliveries_total", "Redeliveries", ["stream"])
DEADLETTERS = Counter("ee_deadletters_total", "Dead letters", ["subject"])
FENCE_REJECTIONS = Counter("ee_fence_rejections_total", "Fence rejections")
DUPLICATE_RESULTS = Counter("ee_duplicate_results_total", "Duplicate results")
WAKES_OFFERED = Counter("ee_wakes_offered_total", "Wakes offered")
