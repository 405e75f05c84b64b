"""Check the job status indexes (``jobs:status:<status>``) against the job records."""

from __future__ import annotations

from collections import defaultdict

import redis

from shared.names import Keys
from tests.support.stack import text


def status_indexes(client: redis.Redis, prefix: str) -> dict[str, set[str]]:
    """Every non-empty status index by status, with its members. A scan: for tests only."""
    found: dict[str, set[str]] = {}
    marker = Keys(prefix).job_status("")
    for key in client.scan_iter(match=marker + "*", count=1000):
        members = {text(m) for m in client.zrange(key, 0, -1)}
        if members:
            found[text(key)[len(marker):]] = members
    return found


def assert_status_indexes_match(client: redis.Redis, prefix: str) -> dict[str, set[str]]:
    """Each job is in exactly the index of its ``status`` field, and nothing else is in any."""
    keys = Keys(prefix)
    ids = [text(j) for j in client.zrange(keys.jobs, 0, -1)]
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(keys.job(job_id), "status")
    want: dict[str, set[str]] = defaultdict(set)
    for job_id, status in zip(ids, pipe.execute(), strict=True):
        want[text(status)].add(job_id)
    got = status_indexes(client, prefix)
    assert got == dict(want), {"indexes": got, "records": dict(want)}
    return got
