"""The worker SDK: serve activities to the engine."""

from worker.sdk import Activity, Worker, current_task

__all__ = ["Activity", "Worker", "current_task"]
