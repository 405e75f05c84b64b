"""The error class of an activity result, as the reactor stores it.

A worker's failure is an application error (no ``error_type`` stored: the interpreter reads
its absence as ``application``) unless it is a business error, raised with the worker SDK's
``BusinessError``: then ``error_type`` is ``business`` and its ``error_code`` goes with it,
and the result script fires it at once, attempts left or not; or a timeout (the worker gave
the attempt up at its ``timeout_s``, as timer.lua does when no result comes in time), retried
like any failure. Only these two classes are taken from a worker: a result naming another
(``operator``, a made-up one) is stored without one, read as an application error.
"""

from __future__ import annotations

from typing import Any

from shared.messages import ActivityResult

__all__ = ["BUSINESS", "TIMEOUT", "is_business", "result_record"]

BUSINESS = "business"
TIMEOUT = "timeout"
_FROM_WORKERS = frozenset({BUSINESS, TIMEOUT})


def is_business(res: ActivityResult) -> bool:
    return not res.ok and res.error_type == BUSINESS


def result_record(res: ActivityResult) -> dict[str, Any]:
    """The result JSON stored on the event (what the wake carries as ``EventResult``)."""
    record: dict[str, Any] = {"ok": res.ok, "output": res.output, "error": res.error}
    if not res.ok and res.error_type in _FROM_WORKERS:
        record["error_type"] = res.error_type
        if res.error_type == BUSINESS and res.error_code is not None:
            record["error_code"] = res.error_code
    return record
