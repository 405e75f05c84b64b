"""The Execution Engine from Python (``ee.Client``, ``ee.SyncClient``: docs/client.md), the
``ee`` command line and the embedded stack it can start.

The client's names are loaded on first use: every ``ee`` command imports this package, and
most of them need neither NATS's client library nor the client (about 0.1 s saved each).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ee.api import Client, JobHandle, JobResult, SyncClient, SyncJobHandle, read_workflow

__all__ = ["Client", "JobHandle", "JobResult", "SyncClient", "SyncJobHandle", "read_workflow"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("ee.api"), name)
    raise AttributeError(f"module 'ee' has no attribute {name!r}")
