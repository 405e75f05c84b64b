"""The worker SDK: serve activities to the engine.

``Worker`` pulls tasks, runs the registered functions and reports results;
``current_task`` tells a running function its (event id, attempt).
"""

from worker.execution import Activity, current_task
from worker.sdk import Worker
from worker.streams import activities_stream_config, ensure_streams, responses_stream_config

__all__ = ["Activity", "Worker", "activities_stream_config", "current_task", "ensure_streams",
           "responses_stream_config"]
