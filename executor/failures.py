"""How a node fails, and where a ``catch`` sends the failure.

A :class:`Failure` carries two texts: ``message``, the job's error should nothing catch it
(``node 'each[3]/run': activity 'erp.post' failed: rejected``), and ``error``, the bare
error (``rejected``) that a catch route or a tolerated map slot records. Its class decides
which ``catch`` entry matches: ``business`` (an activity raised a business error),
``timeout`` (a wait timed out, after retries) or ``application`` (anything else).
A ``fatal`` failure (a limit, or a stored state that does not fit the workflow) is never
caught nor tolerated: it fails the job.
"""

from __future__ import annotations

from typing import Any

from shared.messages import EventResult
from shared.workflow import CatchRoute

__all__ = ["Failure", "caught_value", "error_class", "result_failure", "route_for"]


class Failure(Exception):
    def __init__(self, node: str, message: str, *, error: str | None = None, cls: str = "application",
                 code: str | None = None, fatal: bool = False) -> None:
        self.node = node
        self.message = message
        self.error = message if error is None else error
        self.cls = cls
        self.code = code
        self.fatal = fatal
        super().__init__(message)


def error_class(error_type: str | None) -> str:
    """The catch class of a failed wait's ``EventResult.error_type``."""
    if error_type in ("business", "timeout"):
        return error_type
    return "application"


def result_failure(node: str, what: str, result: EventResult) -> Failure:
    """A wait that ended in an error fails its node, whatever kind of wait it was."""
    error = result.error or "failed"
    return Failure(node, f"node {node!r}: {what}: {error}", error=error, cls=error_class(result.error_type),
                   code=result.error_code)


def route_for(catch: list[CatchRoute], failure: Failure) -> CatchRoute | None:
    """The first entry of ``catch`` whose class matches, or None."""
    if failure.fatal:
        return None
    return next((route for route in catch if route.error in ("*", failure.cls)), None)


def caught_value(failure: Failure) -> dict[str, Any]:
    """What a catch route puts in its ``output`` variable."""
    return {"error": failure.error, "type": failure.cls, "code": failure.code, "node": failure.node}
