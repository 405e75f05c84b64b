"""The console's pages and actions: each GET reads through ``ee.console.reads`` (in a worker
thread: redis-py blocks), each POST acts through ``ee.console.actions``.

A page asked by its own live region (htmx: ``HX-Target: live``) gets only that region back, so
that polling it once a second follows the engine without reloading the page. A value refused
is one message on the page (``FormError``), an engine refusal too (``EngineError``): never a
traceback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
import redis
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.templating import Jinja2Templates

from ee.console import actions, reads
from ee.console.flow import flow_view, schedule_action
from ee.console.forms import (
    JOB_STATUSES,
    FormError,
    assignee_field,
    event_filters,
    job_filters,
    json_field,
    operator_field,
    text_field,
    timeout_field,
)
from ee.console.tasks import open_form, task_data, task_filters, tasks_view
from ee.inspect import Inspector
from shared.config import Settings
from shared.errors import (
    EngineError,
    EngineUnavailable,
    EventNotFound,
    FormRefused,
    InvalidName,
    JobNotFound,
    TaskNotFound,
)
from shared.names import EVENT_KINDS, event_job
from shared.naming import NameKind, check_name

__all__ = ["Pages"]

OPERATOR_COOKIE = "ee_operator"
_REFUSED = 409  # the engine refused the action (a wait no longer parked, a finished job, ...)


def _status_of(exc: EngineError) -> int:
    if isinstance(exc, JobNotFound | EventNotFound) or str(exc.code) == "404":  # no such job, wait, schedule...
        return 404
    if isinstance(exc, EngineUnavailable):
        return 503
    return _REFUSED


class Pages:
    def __init__(self, templates: Jinja2Templates, inspector: Inspector, settings: Settings,
                 poll_s: float = 1.0) -> None:
        self.templates = templates
        self.inspector = inspector
        self.settings = settings
        self.poll_s = poll_s

    # -- helpers ---------------------------------------------------------------

    async def _read(self, fn: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(fn)

    def _page(self, request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
        """The page, or only its live region when the region asks for itself."""
        live = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "live"
        name = f"_{template}" if live else template
        context = {"poll_s": self.poll_s, "operator": request.cookies.get(OPERATOR_COOKIE, ""),
                   "statuses": JOB_STATUSES, "kinds": EVENT_KINDS, "error": None, "flash": None, **context}
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def _path_name(self, request: Request, key: str, kind: NameKind) -> str:
        value = str(request.path_params[key])
        try:
            return check_name(kind, value)
        except InvalidName as exc:
            raise FormError(key, str(exc)) from None

    # -- pages -----------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        return self._page(request, "overview.html", {"view": await self._read(lambda: reads.overview(self.inspector))})

    async def jobs(self, request: Request) -> Response:
        values = dict(request.query_params)
        try:
            filters = job_filters(values)
            view = await self._read(lambda: reads.jobs_view(self.inspector, filters))
        except (FormError, JobNotFound) as exc:
            message = f"after: no job {exc.job_id!r} to page from" if isinstance(exc, JobNotFound) else str(exc)
            return self._page(request, "jobs.html", {"view": {"rows": [], "next_after": None}, "q": values,
                                                     "error": message}, 400)
        return self._page(request, "jobs.html", {"view": view, "q": values})

    async def job(self, request: Request, flash: str | None = None, error: str | None = None,
                  status: int = 200) -> Response:
        try:
            job_id = self._path_name(request, "job_id", "job")
        except FormError as exc:
            return self._page(request, "missing.html", {"error": str(exc)}, 400)
        view = await self._read(lambda: reads.job_view(self.inspector, job_id))
        if view is None:
            return self._page(request, "missing.html", {"error": f"no job {job_id!r} (Redis holds no record "
                                                                 "of it: not started yet, or purged)"}, 404)
        return self._page(request, "job.html", {"view": view, "job_id": job_id, "flash": flash, "error": error},
                          status)

    async def events(self, request: Request) -> Response:
        values = dict(request.query_params)
        try:
            filters = event_filters(values)
        except FormError as exc:
            return self._page(request, "events.html", {"rows": [], "q": values, "error": str(exc)}, 400)
        rows = await self._read(lambda: reads.events_view(self.inspector, filters))
        return self._page(request, "events.html", {"rows": rows, "q": values})

    async def flow(self, request: Request, flash: str | None = None, error: str | None = None,
                   status: int = 200) -> Response:
        """Limits and schedules, from the reactor (``ee limit list``, ``ee schedule list``)."""
        try:
            view = await flow_view(self.settings)
        except EngineError as exc:
            return self._page(request, "flow.html", {"view": {"limits": [], "schedules": []}, "error": str(exc)},
                              _status_of(exc))
        return self._page(request, "flow.html", {"view": view, "flash": flash, "error": error}, status)

    async def schedule_op(self, request: Request) -> Response:
        """Pause or resume a schedule (the reactor's ``schedule_op``, as ``ee schedule`` does)."""
        form = dict(await request.form())
        message: str | None = None
        error: str | None = None
        status = 200
        try:
            name = self._path_name(request, "name", "schedule")
            op = str(request.path_params["op"])
            if op not in ("pause", "resume"):
                raise FormError("op", f"unknown action {op!r}: pause or resume")
            operator_field(form)
            message = await schedule_action(self.settings, name, op)
        except FormError as exc:
            error, status = str(exc), 400
        except EngineError as exc:
            error, status = str(exc), _status_of(exc)
        if request.headers.get("hx-request") == "true":
            return self.templates.TemplateResponse(request, "_flash.html", {"flash": message, "error": error})
        return await self.flow(request, message, error, status)

    async def bots(self, request: Request) -> Response:
        return self._page(request, "bots.html", {"view": await self._read(lambda: reads.bots_view(self.inspector))})

    async def tasks(self, request: Request, flash: str | None = None, error: str | None = None,
                    status: int = 200) -> Response:
        """The human-task inbox (``ee tasks``' read) with its filters; each task's form is
        generated from its JSON Schema (``tasks.html``), checked on completion with the check of
        ``ee task complete`` and sent through the reactor's task endpoint with the operator's
        name (``complete_task``)."""
        values = dict(request.query_params)
        try:
            filters = task_filters(values)
        except FormError as exc:
            return self._page(request, "tasks.html", {"rows": [], "q": values, "error": str(exc)}, 400)
        rows = await self._read(lambda: tasks_view(self.inspector, filters))
        return self._page(request, "tasks.html", {"rows": rows, "q": values, "flash": flash, "error": error},
                          status)

    async def complete_task(self, request: Request) -> Response:
        async def complete(task_id: str, by: str, form: dict[str, Any]) -> str:
            schema = await self._read(lambda: open_form(self.inspector, task_id))
            if schema is None:
                raise TaskNotFound(task_id)
            return await actions.complete_task(self.settings, task_id, task_data(task_id, schema, form), by)

        return await self._task_op(request, complete)

    async def claim_task(self, request: Request) -> Response:
        async def claim(task_id: str, by: str, form: dict[str, Any]) -> str:
            return await actions.claim_task(self.settings, task_id, by)

        return await self._task_op(request, claim)

    async def reassign_task(self, request: Request) -> Response:
        async def reassign(task_id: str, by: str, form: dict[str, Any]) -> str:
            return await actions.reassign_task(self.settings, task_id, assignee_field(form), by)

        return await self._task_op(request, reassign)

    async def _task_op(self, request: Request,
                       act: Callable[[str, str, dict[str, Any]], Awaitable[str]]) -> Response:
        """One person's action on a task (its id in the path, ``by`` in the form): the flash
        message, or one error naming the field or the reactor's reason."""
        form = dict(await request.form())
        message: str | None = None
        error: str | None = None
        status, by = 200, ""
        try:
            task_id = self._path_name(request, "task_id", "event")
            by = operator_field(form)
            message = await act(task_id, by, form)
        except FormError as exc:
            error, status = str(exc), 400
        except EngineError as exc:
            error, status = str(exc), 404 if isinstance(exc, TaskNotFound) else (
                400 if isinstance(exc, FormRefused) else _status_of(exc))
        if request.headers.get("hx-request") == "true":
            response: Response = self.templates.TemplateResponse(
                request, "_flash.html", {"flash": message, "error": error}, status_code=200)
        else:
            response = await self.tasks(request, message, error, status)
        if by and error is None:
            response.set_cookie(OPERATOR_COOKIE, by, samesite="strict")
        return response

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        try:
            await self._read(self.inspector.r.ping)
        except redis.RedisError as exc:
            return PlainTextResponse(f"Redis unavailable: {exc}", status_code=503)
        return PlainTextResponse("ready")

    # -- actions ---------------------------------------------------------------

    async def _act(self, request: Request, job_of: Callable[[str], str], kind: NameKind, key: str,
                   act: Callable[[str, dict[str, Any]], Awaitable[str]]) -> Response:
        """Check the form, act, and answer with the outcome: to htmx one message (the live
        region shows the change), to a plain form post the job's page with the message."""
        form = dict(await request.form())
        target: str | None = None
        by = ""
        try:
            target = self._path_name(request, key, kind)
            by = operator_field(form)
            message, error, status = await act(target, form), None, 200
        except FormError as exc:
            message, error, status = None, str(exc), 400
        except EngineError as exc:
            message, error, status = None, str(exc), _status_of(exc)
        if request.headers.get("hx-request") == "true":
            response: Response = self.templates.TemplateResponse(
                request, "_flash.html", {"flash": message, "error": error})
        elif target is None:
            response = self._page(request, "missing.html", {"error": error}, status)
        else:
            request.path_params["job_id"] = job_of(target)
            response = await self.job(request, message, error, status)
        if by and error is None:
            response.set_cookie(OPERATOR_COOKIE, by, samesite="strict")
        return response

    async def resolve(self, request: Request) -> Response:
        async def act(event_id: str, form: dict[str, Any]) -> str:
            return await actions.resolve_wait(self.settings, event_id, json_field(form, "data"), operator_field(form))

        return await self._act(request, event_job, "event", "event_id", act)

    async def fail(self, request: Request) -> Response:
        async def act(event_id: str, form: dict[str, Any]) -> str:
            error = text_field(form, "error", required=True)
            assert error is not None
            return await actions.fail_wait(self.settings, event_id, error, operator_field(form))

        return await self._act(request, event_job, "event", "event_id", act)

    async def extend(self, request: Request) -> Response:
        async def act(event_id: str, form: dict[str, Any]) -> str:
            return await actions.extend_wait(self.settings, event_id, timeout_field(form, "timeout"),
                                             operator_field(form))

        return await self._act(request, event_job, "event", "event_id", act)

    async def cancel(self, request: Request) -> Response:
        async def act(job_id: str, form: dict[str, Any]) -> str:
            return await actions.cancel_job(self.settings, job_id, text_field(form, "reason"), operator_field(form))

        return await self._act(request, str, "job", "job_id", act)

    async def retry(self, request: Request) -> Response:
        async def act(job_id: str, form: dict[str, Any]) -> str:
            return await actions.retry_job(self.settings, job_id, operator_field(form))

        return await self._act(request, str, "job", "job_id", act)

