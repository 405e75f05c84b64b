"""Read-only views of jobs, events, bots and dead letters, straight from Redis.

Operators can run the same reads with ``redis-cli``; these shapes are what
``--json`` prints, a public interface that only ever gains fields.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from shared.names import Keys, event_job

__all__ = ["Inspector"]

def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode_hash(raw: dict[bytes, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        key, text = _text(k), _text(v)
        if key in ("checkpoint", "spec", "result", "input", "output"):
            try:
                out[key] = json.loads(text) if text else None
            except ValueError:
                out[key] = text
        elif key in ("fence", "attempt", "version", "lapses", "max_attempts", "history_trimmed"):
            out[key] = int(text) if text.lstrip("-").isdigit() else text
        elif key == "error":
            out[key] = text or None
        else:
            out[key] = text
    return out


def _age_s(parked_at: str | None) -> float | None:
    if not parked_at:
        return None
    try:
        then = datetime.fromisoformat(parked_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (datetime.now(UTC) - then).total_seconds()


class Inspector:
    def __init__(self, client: redis.Redis, prefix: str = "ee:") -> None:
        # redis-py types every reply as a union of sync and async results; these are sync.
        self.r: Any = client
        self.keys = Keys(prefix)

    def job(self, job_id: str, history: bool = True) -> dict[str, Any] | None:
        raw = self.r.hgetall(self.keys.job(job_id))
        if not raw:
            return None
        job = {"job_id": job_id, **_decode_hash(raw)}
        job.setdefault("output", None)
        job.setdefault("error", None)
        job["events"] = sorted(_text(e) for e in self.r.smembers(self.keys.job_events(job_id)))
        if history:
            job["history"] = [
                {_text(k): _text(v) for k, v in fields.items()}
                for _, fields in self.r.xrange(self.keys.job_history(job_id))
            ]
        return job

    def jobs(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        """The newest jobs (by creation), or with ``status='stranded'`` the stranded ones, newest
        stranded first, from the stranded index (however old the jobs are)."""
        if status == "stranded":
            ids = [_text(j) for j in self.r.zrevrange(self.keys.stranded, 0, -1)]
        else:
            ids = [_text(j) for j in self.r.zrevrange(self.keys.jobs, 0, max(limit * 5, limit) - 1)]
        out = []
        for job_id in ids:
            job = self.job(job_id, history=False)
            if job is None:
                continue
            job.pop("checkpoint", None)
            if status is None or job.get("status") == status or (status == "stranded" and job.get("stranded")):
                out.append(job)
            if len(out) >= limit:
                break
        return out

    def events(self, job: str | None = None, kind: str | None = None, activity: str | None = None,
               pool: str | None = None, bot: str | None = None, older_than_s: float | None = None,
               limit: int = 1000, stranded: bool = False) -> list[dict[str, Any]]:
        """Open events, each with its job's ``stranded`` reason when the job is stranded;
        ``stranded=True``: only the events of stranded jobs."""
        if job is not None:
            ids = sorted(_text(e) for e in self.r.smembers(self.keys.job_events(job)))
        elif stranded:
            ids = []
            for job_id in self.r.zrevrange(self.keys.stranded, 0, -1):
                ids += sorted(_text(e) for e in self.r.smembers(self.keys.job_events(_text(job_id))))
        else:
            kinds = [kind] if kind else ["activity", "timer", "signal", "bot_lock"]
            ids = []
            horizon = "+inf" if older_than_s is None else repr(time.time() - older_than_s)
            for one in kinds:
                ids += [_text(e) for e in self.r.zrangebyscore(self.keys.event_index(one), "-inf", horizon,
                                                               start=0, num=limit)]
        pipe = self.r.pipeline(transaction=False)
        for event_id in ids:
            pipe.hgetall(self.keys.event(event_id))
        raws = pipe.execute()
        jobs = sorted({event_job(e) for e in ids})
        pipe = self.r.pipeline(transaction=False)
        for job_id in jobs:
            pipe.hget(self.keys.job(job_id), "stranded")
        reasons = {j: _text(r) for j, r in zip(jobs, pipe.execute(), strict=True) if r}
        out = []
        for event_id, raw in zip(ids, raws, strict=True):
            if not raw:
                continue
            event = {"event_id": event_id, **_decode_hash(raw)}
            if kind and event.get("kind") != kind:
                continue
            if activity and event.get("activity") != activity:
                continue
            if pool and event.get("pool") != pool:
                continue
            if bot and event.get("bot") != bot:
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
        return out[:limit]

    def deadletters(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.r.lrange(self.keys.deadletter, 0, limit - 1)
        return [json.loads(_text(r)) for r in rows]

    def bots(self) -> list[dict[str, Any]]:
        ids = sorted(_text(b) for b in self.r.smembers(self.keys.bots))
        out = []
        for bot_id in ids:
            raw = self.r.hgetall(self.keys.bot(bot_id))
            if raw:
                bot = {"bot": bot_id, **_decode_hash(raw)}
                pool = bot.get("pool", "")
                bot["waiting"] = [_text(e) for e in self.r.lrange(self.keys.pool_waiting(pool), 0, -1)]
                out.append(bot)
        return out
