"""Sending out: activity tasks to workers (JetStream) and wakes to executors (core NATS), and
the sweep that sends again the tasks JetStream never acknowledged."""

from __future__ import annotations

import asyncio
import contextlib

import anyio
import msgspec
import structlog
from anyio.abc import TaskStatus
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from reactor.activity_clock import ActivityClock
from reactor.outcomes import Fired, WakeData
from reactor.periodic import every
from reactor.result_tokens import AttemptTokens
from reactor.store import ResultIn, Store
from shared import clock, metrics, names
from shared.bounds import bounded_text, check_publish
from shared.errors import EngineError, OverLimit
from shared.failpoints import failpoint
from shared.messages import ActivityTask, HistoryEntry, encode
from shared.replies import ReplyInbox

__all__ = ["SWEEP_BATCH", "Dispatcher", "dispatch_sweep", "plan_wakes"]

log = structlog.get_logger("ee.reactor.dispatch")
_input = msgspec.json.Decoder(dict[str, object])
_json = msgspec.json.Encoder()

SWEEP_BATCH = 1000


class Dispatcher:
    """Publishes activity tasks from a queue, in batches, off the park's reply path.

    A parked activity is in the dispatch set from the park script on; it leaves
    it only once JetStream acknowledged its task, so a crash anywhere in between
    is mended by the sweep (:func:`dispatch_sweep`).
    """

    def __init__(self, nc: NATS, js: JetStreamContext, store: Store, clock: ActivityClock,
                 tokens: AttemptTokens, max_payload: int | None = None) -> None:
        self.nc = nc
        self.max_payload = max_payload
        self.clock = clock
        self.tokens = tokens
        self.js = js
        self.store = store
        self._inbox = ReplyInbox(nc)
        self._send, self._receive = anyio.create_memory_object_stream[ActivityTask](max_buffer_size=100_000)

    def enqueue(self, tasks: list[ActivityTask]) -> None:
        for task in tasks:
            try:
                self._send.send_nowait(task)
            except anyio.WouldBlock:
                # The sweep sends it later: it is still in the dispatch set.
                log.warning("dispatch queue full; leaving the task to the sweep", event_id=task.event_id)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                # The reactor is stopping (a request answered after the dispatcher stopped):
                # the task is still in the dispatch set, and the next reactor's sweep sends it.
                return

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._receive:
            async for first in self._receive:
                batch = [first]
                while len(batch) < 512:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except anyio.WouldBlock:
                        break
                try:
                    await self.activities(batch)
                except Exception as exc:
                    log.warning("dispatch failed; the sweep will retry", error=repr(exc))

    async def activities(self, tasks: list[ActivityTask]) -> None:
        """Publish tasks, each deduplicated by event and attempt, then mark them dispatched."""
        if not tasks:
            return
        for task in tasks:
            task.token = self.tokens.token(task.event_id, task.attempt)
        self.clock.dispatched(tasks)
        results = await asyncio.gather(*(self._publish(task) for task in tasks), return_exceptions=True)
        done: list[tuple[str, int]] = []
        refused = []
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, OverLimit):
                refused.append((task, result))
            elif isinstance(result, BaseException):
                log.warning("dispatch not acknowledged", event_id=task.event_id, error=repr(result))
            else:
                done.append((task.event_id, task.attempt))
        if refused:
            await self._fail_attempts(refused)
        if done:
            # A crash here leaves acknowledged tasks in the dispatch set: the sweep publishes
            # them again under the same Nats-Msg-Id, which JetStream drops as a duplicate.
            await failpoint("dispatch-published")
            await self.store.dispatched(done)

    def limit(self) -> int:
        """The most bytes one message may carry: the server's max_payload, or the engine's
        own setting when lower (the streams' message size)."""
        server = self.nc.max_payload
        return min(server, self.max_payload) if self.max_payload else server

    async def _publish(self, task: ActivityTask) -> None:
        subject = (names.bot_activity_subject(task.bot, task.activity) if task.bot
                   else names.activity_subject(task.activity))
        headers = {"Nats-Msg-Id": f"{task.event_id}:{task.attempt}"}
        data = encode(task)
        check_publish("activity task", subject, data, headers, self.limit())
        await self._inbox.js_publish(subject, data, headers)

    async def _fail_attempts(self, refused: list[tuple[ActivityTask, OverLimit]]) -> None:
        """Tasks that can never be sent (over a bound): each attempt fails with the reason, as if
        its worker had reported it, so that the job's retry policy and catch decide what follows
        (and the dispatch sweep does not send it again at every start)."""
        failures = []
        for task, exc in refused:
            error = f"attempt {task.attempt} not dispatched: {exc}"
            log.warning("activity task refused before sending", event_id=task.event_id, error=error)
            metrics.DEADLETTERS.labels(subject=names.ACTIVITY_EXECUTE_PREFIX + "*").inc()
            await self.store.deadletter(names.ACTIVITY_EXECUTE_PREFIX + bounded_text(task.activity, 80),
                                        f"job {task.job_id}: {error}", task.event_id.encode())
            result = _json.encode({"ok": False, "error": error})
            # The reactor's own verdict on its own attempt: as authentic as a result with its token.
            failures.append(ResultIn(task.event_id, task.attempt, False, result, error, token=True))
        wakes = []
        for out in await self.store.results(failures):
            if isinstance(out, Exception):
                log.warning("refused task's failure not stored; the sweep retries", error=str(out))
            elif isinstance(out, Fired):
                wakes.append(out.wake)
        await self.wakes(wakes)

    async def redispatch(self, event_ids: list[str]) -> int:
        """Dispatch events again from what Redis holds (after a crash or a retry backoff)."""
        tasks = []
        for event_id in event_ids:
            job, activity, attempt, input_json, timeout_s, bot, status, phase = await self.store.event_fields(
                event_id, "job", "activity", "attempt", "input", "timeout_s", "bot", "status", "phase")
            if status != "parked" or phase != "running" or not activity or not job:
                await self.store.dispatched([(event_id, int(attempt or 0))])
                continue
            tasks.append(ActivityTask(
                event_id=event_id, attempt=int(attempt or 1), job_id=job, activity=activity,
                input=_input.decode(input_json or "{}"),
                timeout_s=float(timeout_s) if timeout_s else None, bot=bot or None))
        await self.activities(tasks)
        return len(tasks)

    async def wakes(self, wakes: list[WakeData]) -> None:
        """Offer wakes to executors. Never raises: a wake not sent is offered again when its
        lease ends; a wake too large for one message fails its job (``_fail_job``).

        One wake per job (``plan_wakes``): a job fired again in the same batch after its wake
        was read is read once more, so that its wake carries both."""
        send, again = plan_wakes(wakes)
        if again:
            try:
                send += await self.store.offer_again(again, clock.now(), lapsed=False)
            except Exception as exc:  # their leases offer them again
                log.warning("wakes not read again; their leases offer them", count=len(again), error=repr(exc))
        offered = 0
        for wake in send:
            data = wake.encode()
            try:
                check_publish("job state", names.EXECUTOR_WAKE, data, None, self.limit())
                await self.nc.publish(names.EXECUTOR_WAKE, data)
                offered += 1
            except OverLimit as exc:
                await self._fail_job(wake.job_id, str(exc), names.EXECUTOR_WAKE)
            except Exception as exc:
                log.warning("wake not sent; its lease offers it again", job_id=wake.job_id, error=repr(exc))
        if offered:
            metrics.WAKES_OFFERED.inc(offered)

    async def ended(self, dropped: list[str], wakes: list[WakeData], left: list[str]) -> None:
        """What the end of jobs or the drop of waits sends out: a cancel notice to each activity
        in flight among them, the wakes they give, and the cancel of the children the step left
        beyond its bound (each in a step of its own, which may leave more). Never raises."""
        for event_id in dropped:
            with contextlib.suppress(Exception):  # the worker's own timeout ends it otherwise
                await self.nc.publish(names.activity_cancel_subject(event_id), b"")
        await self.wakes(wakes)
        todo, seen = list(left), set(left)
        while todo:
            job_id = todo.pop()
            history = [HistoryEntry(at=clock.iso(), node="", event="cancelled", detail="its parent ended")]
            try:
                done = await self.store.finish(job_id, None, "cancelled", b"null", "its parent ended", history, "")
            except EngineError:  # finished meanwhile, or gone
                continue
            except Exception as exc:
                log.warning("child job not cancelled", job_id=job_id, error=repr(exc))
                continue
            for event_id in done.dropped:
                with contextlib.suppress(Exception):
                    await self.nc.publish(names.activity_cancel_subject(event_id), b"")
            await self.wakes(done.wakes)
            todo += [c for c in done.left if c not in seen]
            seen.update(done.left)

    async def _fail_job(self, job_id: str, error: str, subject: str) -> None:
        """Fail a job that cannot go on because what it must send is over a bound, with a
        dead letter and a history entry that say why. Never raises (the lease tries again)."""
        log.warning("job failed: its state is over a limit", job_id=job_id, error=error)
        try:
            history = [HistoryEntry(at=clock.iso(), node="", event="failed", detail=error)]
            done = await self.store.finish(job_id, None, "failed", b"null", error, history, "")
        except EngineError as exc:  # finished meanwhile, or gone: nothing left to fail
            log.info("over-limit job not failed", job_id=job_id, reason=str(exc))
            return
        except Exception as exc:
            log.warning("over-limit job not failed yet; its lease tries again", job_id=job_id, error=repr(exc))
            return
        metrics.JOBS_FINISHED.labels(status="failed").inc()
        metrics.DEADLETTERS.labels(subject=subject).inc()
        try:
            await self.store.deadletter(subject, f"job {job_id} failed: {error}", job_id.encode())
        except Exception as exc:
            log.warning("dead-letter record not stored", error=repr(exc))
        await self.ended(done.dropped, done.wakes, done.left)


def plan_wakes(wakes: list[WakeData]) -> tuple[list[WakeData], list[str]]:
    """The wakes of a batch to send, one per job, and the jobs whose wake must be read again.

    A held wake (the job fired while its wake is out) is sent never: the park of that wake
    offers what fired since. But when the same batch holds the job's own wake, read by an
    earlier script than the held fire, that wake lacks the later event: the job is read again
    (``Store.offer_again``) rather than sent one event short. Otherwise each job's last wake
    in the batch goes (the scripts ran in the batch's order, so the last read is the newest)."""
    last: dict[str, WakeData] = {}
    stale: set[str] = set()
    for wake in wakes:
        if wake.held:
            if wake.job_id in last:
                stale.add(wake.job_id)
            continue
        last[wake.job_id] = wake
        stale.discard(wake.job_id)
    return [w for job_id, w in last.items() if job_id not in stale], sorted(stale)


async def dispatch_sweep(store: Store, dispatcher: Dispatcher, *, first: bool = True,
                         grace_s: float = 5.0, interval: float = 2.0) -> None:
    """Dispatch events that were parked but whose publish was never acknowledged.

    The ``first`` sweeps (until one that is neither full nor failed) take every member of the
    dispatch set, a reactor's start; the later ones only those older than ``grace_s``, whose
    publish is not merely still in flight."""
    sweeping_all = first

    async def one_pass() -> bool:
        nonlocal sweeping_all
        members = await store.due(store.keys.dispatch, None if sweeping_all else clock.now() - grace_s,
                                  limit=SWEEP_BATCH)
        if members:
            sent = await dispatcher.redispatch(members)
            if sent:
                log.info("re-dispatched activities", count=sent)
            if len(members) == SWEEP_BATCH:
                return True
        sweeping_all = False
        return False

    await every(interval, one_pass, log=log, failed="dispatch sweep failed")
