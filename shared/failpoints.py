"""Named points where a test can freeze a service, to kill it there for real.

Off unless ``EE_FAILPOINT`` names a point (``park-replied`` or ``park-replied:3``
for the third time it is reached). Reaching it writes ``EE_FAILPOINT_FILE`` and
then stops the whole process with SIGSTOP: not one coroutine but every task,
subscription and timer of the service freezes, so nothing moves on (no other wake
taken, no other job advanced) until the test sends SIGKILL. A SIGCONT would let
it carry on from there. Nothing happens when the variable is unset.
"""

from __future__ import annotations

import os
import signal

import anyio
import anyio.lowlevel

__all__ = ["failpoint"]

_spec = os.environ.get("EE_FAILPOINT", "")
_name, _, _nth = _spec.partition(":")
_target = int(_nth) if _nth.isdigit() else 1
_hits = 0


def _write_marker(path: str, text: str) -> None:
    # Written whole then renamed: the test never reads a half-written marker.
    partial = f"{path}.partial"
    with open(partial, "w") as out:
        out.write(text)
    os.replace(partial, path)


async def failpoint(name: str) -> None:
    global _hits
    if not _name or name != _name:
        return
    _hits += 1
    if _hits != _target:
        return
    marker = os.environ.get("EE_FAILPOINT_FILE")
    # Written in the event loop's own thread on purpose: no await between reaching the
    # point and the stop, so no other task of this process runs in between.
    if marker:
        _write_marker(marker, f"{name} {os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGSTOP)
    await anyio.lowlevel.checkpoint()
