"""The exit codes of ``ee``, one meaning each, so that a script can branch on them.

=====  ======================================================================
code   meaning
=====  ======================================================================
0      done (``submit --wait``: the job completed)
1      ``--wait``: the job failed or was cancelled
2      bad input: a usage error, an invalid name, workflow or JSON, a request
       the engine refuses as it stands (the job already finished, the wait no
       longer parked), no stack to talk to, credentials NATS or Redis refused,
       a command this NATS user may not run (docs/security.md)
3      not found: no such job or event
4      the engine is unavailable: NATS, Redis or the reactor cannot be reached
       (or the reactor failed inside while answering)
5      timed out: ``--wait --timeout`` gave up (the job goes on)
130    interrupted (Ctrl-C)
=====  ======================================================================

An engine error is mapped by its ``code`` (the error classes of ``shared.errors`` and the
reactor's error replies carry the same ones), never by its wording.
"""

from __future__ import annotations

from shared.errors import EngineError

__all__ = ["BAD_INPUT", "FAILED", "NOT_FOUND", "OK", "TIMED_OUT", "UNAVAILABLE", "exit_code"]

OK = 0
FAILED = 1
BAD_INPUT = 2
NOT_FOUND = 3
UNAVAILABLE = 4
TIMED_OUT = 5

_BY_CODE = {"404": NOT_FOUND, "500": UNAVAILABLE, "503": UNAVAILABLE, "504": TIMED_OUT}


def exit_code(error: EngineError) -> int:
    """The exit code of a command that stopped on ``error``."""
    return _BY_CODE.get(str(error.code), BAD_INPUT)
