"""Dead-letter records (``ee:deadletter``), each bounded, and the list bounded in bytes.

A record keeps the time, the subject, the reason and the start of the refused message's
data. Each part is cut (subject 200 characters, reason 512, data 1 KiB), and the encoded
record is cut again to ``RECORD_BYTES`` if JSON escaping made it longer (a control byte
takes six). The list keeps the newest ``KEEP`` records, so it never holds more than
``BUDGET_BYTES``: a flood of hostile messages costs Redis 4 MiB at most, not a gigabyte.

:func:`refuse` is how a JetStream message that fails for good ends: dead-lettered, then
terminated (the results and cancels loops).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import msgspec
import structlog
from nats.aio.msg import Msg

from shared import metrics
from shared.bounds import bounded_text
from shared.errors import EngineError

if TYPE_CHECKING:  # the store writes records with this module: imported for the type only
    from reactor.store import Store

__all__ = ["BUDGET_BYTES", "KEEP", "RECORD_BYTES", "record", "refuse"]

log = structlog.get_logger("ee.reactor")

RECORD_BYTES = 4096
BUDGET_BYTES = 4 << 20
KEEP = BUDGET_BYTES // RECORD_BYTES  # 1,024 records
DATA_BYTES = 1024

_json = msgspec.json.Encoder()


def record(at: str, subject: str, reason: str, data: bytes) -> bytes:
    """One encoded record of at most ``RECORD_BYTES``."""
    fields = {"at": at, "subject": bounded_text(subject, 200), "reason": bounded_text(reason, 512), "data": ""}
    cut = DATA_BYTES
    while True:
        fields["data"] = data[:cut].decode("utf-8", "replace")
        encoded = _json.encode(fields)
        if len(encoded) <= RECORD_BYTES or cut == 0:
            return encoded
        cut //= 2


async def refuse(store: Store, subject: str, exc: BaseException, msg: Msg) -> None:
    """A message that fails for good: dead-lettered with its reason, then terminated, so
    that JetStream never delivers it again (not after a restart either). Never raises for
    the record: a dead letter that cannot be stored is logged instead."""
    if isinstance(exc, EngineError):
        reason = str(exc)
    else:
        reason = f"failed {msg.metadata.num_delivered} times: {type(exc).__name__}: {exc}"
    metrics.DEADLETTERS.labels(subject=subject).inc()
    try:
        await store.deadletter(subject, bounded_text(reason), msg.data)
    except Exception as lost:
        log.warning("dead letter not stored", subject=subject, reason=bounded_text(reason), error=repr(lost))
    with contextlib.suppress(Exception):  # a lost term is redelivered and refused again
        await msg.term()
