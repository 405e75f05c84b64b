"""Named points where a test can freeze a service, to kill it there for real.

Off unless ``EE_FAILPOINT`` names a point (``park-replied`` or ``park-replied:3``
for the third time it is reached). Reaching it writes ``EE_FAILPOINT_FILE`` and
then blocks forever, so the test knows the process is exactly there when it
sends SIGKILL. Nothing happens when the variable is unset.
"""

from __future__ import annotations

import os

import anyio

__all__ = ["failpoint"]

_spec = os.environ.get("EE_FAILPOINT", "")
_name, _, _nth = _spec.partition(":")
_target = int(_nth) if _nth.isdigit() else 1
_hits = 0


async def failpoint(name: str) -> None:
    global _hits
    if not _name or name != _name:
        return
    _hits += 1
    if _hits != _target:
        return
    marker = os.environ.get("EE_FAILPOINT_FILE")
    if marker:
        await anyio.Path(marker).write_text(f"{name} {os.getpid()}\n")
    await anyio.sleep_forever()
