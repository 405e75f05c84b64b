"""Dead-letter records (``ee:deadletter``), each bounded, and the list bounded in bytes.

A record keeps the time, the subject, the reason and the start of the refused message's
data. Each part is cut (subject 200 characters, reason 512, data 1 KiB), and the encoded
record is cut again to ``RECORD_BYTES`` if JSON escaping made it longer (a control byte
takes six). The list keeps the newest ``KEEP`` records, so it never holds more than
``BUDGET_BYTES``: a flood of hostile messages costs Redis 4 MiB at most, not a gigabyte.
"""

from __future__ import annotations

import msgspec

from shared.bounds import bounded_text

__all__ = ["BUDGET_BYTES", "KEEP", "RECORD_BYTES", "record"]

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
