"""The worker SDK: serve activities to the engine (docs/workers.md).

``Worker`` pulls tasks, runs the registered functions and reports results;
``current_task`` tells a running function which task it runs (``TaskInfo``);
``BusinessError`` refuses work on business grounds; ``WorkerSettings`` is all a
worker is configured with. Importing it does not import Redis: a bot talks to
NATS only.
"""

from worker.errors import BusinessError
from worker.execution import Activity, TaskInfo, current_task
from worker.sdk import Worker
from worker.settings import WorkerSettings
from worker.streams import activities_stream_config, ensure_streams, responses_stream_config

__all__ = ["Activity", "BusinessError", "TaskInfo", "Worker", "WorkerSettings", "activities_stream_config",
           "current_task", "ensure_streams", "responses_stream_config"]
