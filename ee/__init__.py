"""The Execution Engine from Python (``ee.Client``, ``ee.SyncClient``: docs/client.md), the
``ee`` command line and the embedded stack it can start.

The client's names are loaded on first use: every ``ee`` command imports this package, and
most of them need neither NATS's client library nor the client (about 0.1 s saved each).
The errors the client raises are the engine's own (``shared.errors``), offered here too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ee.api import Client, JobHandle, JobResult, SyncClient, SyncJobHandle, read_workflow
    from shared.errors import (
        EngineError,
        EngineUnavailable,
        InvalidName,
        InvalidWorkflow,
        JobFinished,
        JobNotFound,
        JobWaitTimeout,
        StackNotFound,
    )

_CLIENT = ("Client", "JobHandle", "JobResult", "SyncClient", "SyncJobHandle", "read_workflow")
_ERRORS = ("EngineError", "EngineUnavailable", "InvalidName", "InvalidWorkflow", "JobFinished", "JobNotFound",
           "JobWaitTimeout", "StackNotFound")

__all__ = ["Client", "EngineError", "EngineUnavailable", "InvalidName", "InvalidWorkflow", "JobFinished",
           "JobHandle", "JobNotFound", "JobResult", "JobWaitTimeout", "StackNotFound", "SyncClient",
           "SyncJobHandle", "read_workflow"]


def __getattr__(name: str) -> Any:
    if name in _CLIENT:
        return getattr(importlib.import_module("ee.api"), name)
    if name in _ERRORS:
        return getattr(importlib.import_module("shared.errors"), name)
    raise AttributeError(f"module 'ee' has no attribute {name!r}")
