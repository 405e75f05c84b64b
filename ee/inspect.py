"""Read-only views of jobs, events, bots and dead letters, straight from Redis.

Operators can run the same reads with ``redis-cli``; these shapes are what
``--json`` prints, a public interface that only ever gains fields. Keys and the reading of
each hash's fields come from the layout (``shared.layout``: ``Keys``, the record types).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import redis

from shared.config import Settings, redact_url
from shared.errors import CredentialsRefused, EngineUnavailable, JobNotFound
from shared.layout import (
    EVENT_KINDS,
    BotRecord,
    DeadLetterRecord,
    EventRecord,
    HistoryRecord,
    JobRecord,
    Keys,
    decode_hash,
    event_job,
)

__all__ = ["NOT_TAKEN", "Inspector", "accepted_job", "created_within", "open_inspector", "with_accepted"]

_CHUNK = 1000  # event hashes read per round trip

_deadletters = msgspec.json.Decoder(DeadLetterRecord)


def _deadletter_row(raw: bytes) -> dict[str, Any]:
    """A dead-letter record by its type; one this build cannot read as it is (an older shape)."""
    try:
        return msgspec.structs.asdict(_deadletters.decode(raw))
    except msgspec.DecodeError:
        value = json.loads(raw)
        return value if isinstance(value, dict) else {"record": value}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _moment(at: Any) -> datetime | None:
    if not isinstance(at, str) or not at:
        return None
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def created_within(row: dict[str, Any], since: float | None, until: float | None) -> bool:
    """Whether a listed job (a record, or one found in the jobs stream) was created (accepted)
    at or after ``since`` and before ``until`` (Unix seconds; None: unbounded)."""
    if since is None and until is None:
        return True
    moment = _moment(row.get("created") or row.get("accepted"))
    if moment is None:
        return False
    at = moment.timestamp()
    return (since is None or at >= since) and (until is None or at < until)


def _age_s(parked_at: str | None) -> float | None:
    then = _moment(parked_at)
    return None if then is None else (datetime.now(UTC) - then).total_seconds()


class Inspector:
    def __init__(self, client: redis.Redis, prefix: str = "ee:") -> None:
        # redis-py types every reply as a union of sync and async results; these are sync.
        self.r: Any = client
        self.keys = Keys(prefix)

    def job(self, job_id: str, history: bool = True) -> dict[str, Any] | None:
        raw = self.r.hgetall(self.keys.job(job_id))
        if not raw:
            return None
        job = {"job_id": job_id, **decode_hash(JobRecord, raw)}
        job.setdefault("output", None)
        job.setdefault("error", None)
        job["events"] = sorted(_text(e) for e in self.r.smembers(self.keys.job_events(job_id)))
        if history:
            job["history"] = [decode_hash(HistoryRecord, fields)
                              for _, fields in self.r.xrange(self.keys.job_history(job_id))]
        return job

    def jobs(self, limit: int = 100, status: str | None = None, *, workflow: str | None = None,
             since: float | None = None, until: float | None = None,
             after: str | None = None) -> list[dict[str, Any]]:
        """The newest jobs (by creation); with ``status``, the newest of that status from its
        index (``jobs:status:<status>``, by the time the job took it), however many other jobs
        are newer; with ``status='stranded'`` the stranded ones, newest stranded first, from the
        stranded index. Each job's status is checked on the record read, so an index entry a
        newer write has not caught up with is never shown.

        ``workflow``: only jobs of that workflow name; ``since`` / ``until`` (Unix seconds):
        only jobs created at or after / before; ``after``: the page that follows the job of
        that id (the last row of the page before) in the same listing. The index is read in
        pages, newest first, until ``limit`` jobs match; ``since`` and ``until`` bound the
        range of the creation index, ``since`` that of a status index too."""
        fresh: Callable[[dict[str, Any]], bool]
        if status == "stranded":
            index, fresh = self.keys.stranded, lambda job: bool(job.get("stranded"))
        elif status is not None:
            index, fresh = self.keys.job_status(status), lambda job: job.get("status") == status
        else:
            index, fresh = self.keys.jobs, lambda job: True
        by_creation = status is None
        top = f"({until!r}" if until is not None and by_creation else "+inf"
        bottom = repr(since) if since is not None else "-inf"
        offset = 0
        if after is not None:
            rank = self.r.zrevrank(index, after)
            if rank is None:
                raise JobNotFound(after)
            offset = rank + 1
            top = "+inf"  # the rank already places the page
        listed: set[str] = set()

        def keep(job: dict[str, Any]) -> bool:
            # Paged by rank: a job that changes status meanwhile may shift the ranks, so one
            # seen on an earlier page is not listed twice.
            moment = _moment(job.get("created"))
            created = None if moment is None else moment.timestamp()
            match = (fresh(job) and job["job_id"] not in listed
                     and (workflow is None or job.get("name") == workflow)
                     and (since is None or (created is not None and created >= since))
                     and (until is None or (created is not None and created < until)))
            listed.add(job["job_id"])
            return match

        out: list[dict[str, Any]] = []
        page = max(limit, 100)
        while len(out) < limit:
            ids = self.r.zrevrangebyscore(index, top, bottom, start=offset, num=page)
            out += self._listed(ids, limit - len(out), keep)
            offset += len(ids)
            if len(ids) < page:
                break
        return out

    def status(self, job_id: str) -> str | None:
        """The job's status now, None while Redis holds no record of it."""
        found = self.r.hget(self.keys.job(job_id), "status")
        return None if found is None else _text(found)

    def status_counts(self, statuses: tuple[str, ...]) -> dict[str, int]:
        """How many jobs each status index holds (``stranded``: the stranded index), in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for status in statuses:
            pipe.zcard(self.keys.stranded if status == "stranded" else self.keys.job_status(status))
        return {status: int(n) for status, n in zip(statuses, pipe.execute(), strict=True)}

    def wait_ages(self, bounds: tuple[float, ...]) -> dict[str, list[int]]:
        """Open events of each kind counted by how long ago they parked: one count per bucket,
        from the previous bound (0 for the first) up to each bound (seconds, ascending; the last
        may be infinite). ZCOUNTs of the per-kind indexes (scored by park time): no event is read."""
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        for kind in EVENT_KINDS:
            low = 0.0
            for bound in bounds:
                top = "+inf" if low == 0.0 else repr(now - low)
                pipe.zcount(self.keys.event_index(kind), "-inf" if bound == float("inf") else f"({now - bound!r}",
                            top)
                low = bound
        counts = iter(int(n) for n in pipe.execute())
        return {kind: [next(counts) for _ in bounds] for kind in EVENT_KINDS}

    def workflow(self, digest: str) -> dict[str, Any] | None:
        """The workflow stored under a job's ``digest`` (as submitted), None when absent or unreadable."""
        raw = self.r.get(self.keys.workflow(digest)) if digest else None
        try:
            found = None if raw is None else json.loads(raw)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    def history_after(self, job_id: str, after: str = "0-0", block_s: float = 0.0,
                      count: int = 1000) -> list[tuple[str, dict[str, str]]]:
        """The job's history entries after the entry id ``after`` (``0-0``: from the first), as
        (entry id, entry); waits up to ``block_s`` for one when there are none yet."""
        key = self.keys.job_history(job_id)
        if block_s > 0:
            found = self.r.xread({key: after}, count=count, block=max(1, int(block_s * 1000)))
            items = found[0][1] if found else []
        else:
            items = self.r.xrange(key, min=f"({after}" if after != "0-0" else "-", count=count)
        return [(_text(entry_id), decode_hash(HistoryRecord, fields)) for entry_id, fields in items]

    def known(self, job_ids: list[str]) -> set[str]:
        """Those of ``job_ids`` Redis holds a record of."""
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.exists(self.keys.job(job_id))
        return {job_id for job_id, n in zip(job_ids, pipe.execute(), strict=True) if n}

    def _listed(self, ids: list[Any], limit: int, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Up to ``limit`` of the jobs ``ids`` that ``keep`` accepts, in order, without checkpoints."""
        out = []
        for job_id in ids:
            job = self.job(_text(job_id), history=False)
            if job is None or not keep(job):
                continue
            job.pop("checkpoint", None)
            out.append(job)
            if len(out) >= limit:
                break
        return out

    def events(self, job: str | None = None, kind: str | None = None, activity: str | None = None,
               pool: str | None = None, bot: str | None = None, older_than_s: float | None = None,
               limit: int | None = None, stranded: bool = False,
               limit_name: str | None = None) -> list[dict[str, Any]]:
        """Open events (parked, or fired and not consumed yet), oldest parked first, each with
        its job's ``stranded`` reason when the job is stranded; ``stranded=True``: only the
        events of stranded jobs. ``limit``: at most this many (None: every match).
        ``limit_name``: the attempts running under that limit or waiting for it. A waiter for a
        scarce thing (a lock request, an attempt in phase ``waiting_capacity``) carries its
        ``place`` in line (1: next), beside its ``priority``.

        Read from indexes, never a scan: the job's event set, the stranded jobs' sets, or the
        narrowest of the per-activity, per-pool and per-bot indexes asked for (else the per-kind
        ones), each a zset by park time, so ``older_than_s`` is a range of it. The other filters
        are checked on the events read from it."""
        horizon = None if older_than_s is None else time.time() - older_than_s
        ids = (self._limit_candidates(limit_name) if limit_name is not None and job is None
               else self._candidates(job, kind, activity, pool, bot, horizon, stranded))
        out: list[dict[str, Any]] = []
        reasons: dict[str, str] = {}
        for chunk in (ids[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
            pipe = self.r.pipeline(transaction=False)
            for event_id in chunk:
                pipe.hgetall(self.keys.event(event_id))
            raws = pipe.execute()
            jobs = sorted({event_job(e) for e in chunk} - reasons.keys())
            pipe = self.r.pipeline(transaction=False)
            for job_id in jobs:
                pipe.hget(self.keys.job(job_id), "stranded")
            reasons |= {j: _text(r) if r else "" for j, r in zip(jobs, pipe.execute(), strict=True)}
            for event_id, raw in zip(chunk, raws, strict=True):
                if not raw:
                    continue
                # branch: "" at the top level (stored only for a wait of a branch).
                event = {"event_id": event_id, "job_id": event_job(event_id), "branch": "",
                         **decode_hash(EventRecord, raw)}
                if any(want is not None and event.get(name) != want
                       for name, want in (("kind", kind), ("activity", activity), ("pool", pool), ("bot", bot),
                                          ("limit", limit_name))):
                    continue
                reason = reasons.get(event_job(event_id))
                if stranded and not reason:
                    continue
                age = _age_s(event.get("parked_at"))
                if older_than_s is not None and (age is None or age < older_than_s):
                    continue
                event["age_s"] = None if age is None else round(age, 3)
                if reason:
                    event["stranded"] = reason
                out.append(event)
                if limit is not None and len(out) >= limit:
                    return self._places(out)
        return self._places(out)

    def _limit_candidates(self, name: str) -> list[str]:
        """The attempts holding a slot of limit ``name`` or waiting for one, oldest parked first."""
        ids: set[str] = set()
        for key in (_text(k) for k in self.r.smembers(self.keys.limit_keys(name))):
            ids |= {_text(e) for e in self.r.smembers(self.keys.limit_running(name, key))}
            ids |= {_text(e) for e in self.r.zrange(self.keys.limit_waiting(name, key), 0, -1)}
        ordered = sorted(ids)
        pipe = self.r.pipeline(transaction=False)
        for event_id in ordered:
            pipe.zscore(self.keys.event_index("activity"), event_id)
        parked = dict(zip(ordered, pipe.execute(), strict=True)) if ordered else {}
        return sorted(ordered, key=lambda e: (float(parked[e] or 0), e))

    def _places(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each waiter's place in its line (1: served next), read in one round trip."""
        lines = []
        for event in events:
            if event.get("status") != "parked":
                continue
            if event.get("kind") == "bot_lock" and event.get("pool"):
                lines.append((event, self.keys.pool_queue(event["pool"])))
            elif event.get("phase") == "waiting_capacity" and event.get("limit"):
                lines.append((event, self.keys.limit_waiting(event["limit"], event.get("limit_key", ""))))
        if lines:
            pipe = self.r.pipeline(transaction=False)
            for event, key in lines:
                pipe.zrank(key, event["event_id"])
            for (event, _), rank in zip(lines, pipe.execute(), strict=True):
                if rank is not None:
                    event["place"] = int(rank) + 1
        return events

    def _candidates(self, job: str | None, kind: str | None, activity: str | None, pool: str | None,
                    bot: str | None, horizon: float | None, stranded: bool) -> list[str]:
        """Ids of the events that may match, from the narrowest index that applies."""
        if job is not None:
            return sorted(_text(e) for e in self.r.smembers(self.keys.job_events(job)))
        if stranded:
            ids: list[str] = []
            for job_id in self.r.zrevrange(self.keys.stranded, 0, -1):
                ids += sorted(_text(e) for e in self.r.smembers(self.keys.job_events(_text(job_id))))
            return ids
        narrow = []
        if activity is not None:
            narrow.append(self.keys.activity_events(activity))
        if pool is not None:
            narrow.append(self.keys.pool_events(pool))
        if bot is not None:
            narrow.append(self.keys.bot_events(bot))
        if narrow:
            pipe = self.r.pipeline(transaction=False)
            for key in narrow:
                pipe.zcard(key)
            sizes = pipe.execute()
            indexes = [min(zip(sizes, narrow, strict=True))[1]]
        else:
            indexes = [self.keys.event_index(one) for one in ([kind] if kind else list(EVENT_KINDS))]
        top = "+inf" if horizon is None else repr(horizon)
        pipe = self.r.pipeline(transaction=False)
        for key in indexes:
            pipe.zrangebyscore(key, "-inf", top, withscores=True)
        scored = sorted((score, _text(e)) for members in pipe.execute() for e, score in members)
        return [e for _, e in scored]

    def deadletters(self, limit: int = 100) -> list[dict[str, Any]]:
        return [_deadletter_row(r) for r in self.r.lrange(self.keys.deadletter, 0, limit - 1)]

    def bots(self) -> list[dict[str, Any]]:
        ids = sorted(_text(b) for b in self.r.smembers(self.keys.bots))
        out = []
        for bot_id in ids:
            raw = self.r.hgetall(self.keys.bot(bot_id))
            if raw:
                bot = {"bot": bot_id, **decode_hash(BotRecord, raw)}
                pool = bot.get("pool", "")
                # The queue by priority, then an older reactor's FIFO not moved into it yet.
                bot["waiting"] = [_text(e) for e in self.r.zrange(self.keys.pool_queue(pool), 0, -1)] + \
                    [_text(e) for e in self.r.lrange(self.keys.pool_waiting(pool), 0, -1)]
                out.append(bot)
        return out


NOT_TAKEN = "no executor has taken it yet"


def accepted_job(job_id: str, found: dict[str, Any]) -> dict[str, Any]:
    """The status view (``ee status --json``) of a job Redis does not know yet whose message
    waits in the jobs stream (``found``: what ``EngineClient.accepted`` returned)."""
    return {"job_id": job_id, "status": "pending", "output": None, "error": None, "waiting_for": "an executor",
            "waiting_reason": NOT_TAKEN, "accepted": found["accepted"], "stream_seq": found["seq"],
            "events": [], "history": []}


def with_accepted(rows: list[dict[str, Any]], accepted: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """``ee jobs`` rows from Redis (newest first) and the jobs found only in the jobs stream
    (``EngineClient.accepted_jobs``, newest first) as one list of at most ``limit``, newest
    first: a stream job goes before the first Redis row created before it was accepted."""
    out: list[dict[str, Any]] = []
    waiting = [{k: v for k, v in accepted_job(found["job_id"], found).items() if k != "history"}
               for found in accepted]
    i = j = 0
    while len(out) < limit and (i < len(rows) or j < len(waiting)):
        if j < len(waiting) and i < len(rows):
            created, taken = _moment(rows[i].get("created")), _moment(waiting[j]["accepted"])
            stream_first = created is None or (taken is not None and taken >= created)
        else:
            stream_first = j < len(waiting)
        if stream_first:
            out.append(waiting[j])
            j += 1
        else:
            out.append(rows[i])
            i += 1
    return out


def open_inspector(settings: Settings) -> Inspector:
    """An Inspector on the settings' Redis, reached once; EngineUnavailable if it cannot be,
    StackNotFound if the settings hold no Redis URL to use."""
    settings.require("redis")
    kwargs: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 5}
    if settings.redis_password:
        kwargs["password"] = settings.redis_password
    where = f"Redis at {redact_url(settings.redis_url)}"
    client = redis.Redis.from_url(settings.redis_url, **kwargs)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        client.close()
        raise CredentialsRefused(where, f"refused the credentials: {exc}") from exc
    except redis.RedisError as exc:
        client.close()
        raise EngineUnavailable(where, str(exc)) from exc
    return Inspector(client, settings.redis_prefix)
