"""The console as an ASGI app (Starlette): routes, templates, static files, the guard, and the
error pages that stand in for any traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import redis
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ee.console.guard import LOOPBACK_NAMES, Guard
from ee.console.pages import Pages
from ee.inspect import Inspector
from ee.render import duration_text, time_text
from shared.config import Settings
from shared.errors import EngineError
from shared.names import event_job

__all__ = ["ConsoleConfig", "create_app"]

_HERE = Path(__file__).parent
log = structlog.get_logger("ee.console")


@dataclass(frozen=True)
class ConsoleConfig:
    settings: Settings
    token: str | None = None
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES  # None: any Host (a non-loopback bind)
    poll_s: float = 1.0  # how often a page's live region asks for itself


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"),
                             autoescape=jinja2.select_autoescape(default=True))
    env.filters |= {"json": _pretty, "when": time_text, "ago": duration_text, "job_of": event_job}
    return Jinja2Templates(env=env)


def create_app(config: ConsoleConfig, inspector: Inspector) -> Starlette:
    templates = _templates()
    pages = Pages(templates, inspector, config.settings, config.poll_s)

    async def engine_error(request: Request, exc: Exception) -> Response:
        return HTMLResponse(templates.get_template("failure.html").render(
            message=f"the engine could not be read: {exc}", request=request), status_code=503)

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("console request failed", path=request.url.path, error=repr(exc), exc_info=exc)
        return HTMLResponse(templates.get_template("failure.html").render(
            message="the console failed on this request; its log says why", request=request), status_code=500)

    routes = [
        Route("/", pages.overview, name="overview"),
        Route("/jobs", pages.jobs, name="jobs"),
        Route("/jobs/{job_id}", pages.job, name="job"),
        Route("/jobs/{job_id}/cancel", pages.cancel, methods=["POST"], name="cancel"),
        Route("/jobs/{job_id}/retry", pages.retry, methods=["POST"], name="retry"),
        Route("/waits", pages.events, name="events"),
        Route("/waits/{event_id}/resolve", pages.resolve, methods=["POST"], name="resolve"),
        Route("/waits/{event_id}/fail", pages.fail, methods=["POST"], name="fail"),
        Route("/waits/{event_id}/extend", pages.extend, methods=["POST"], name="extend"),
        Route("/bots", pages.bots, name="bots"),
        Route("/flow", pages.flow, name="flow"),
        Route("/schedules/{name}/{op}", pages.schedule_op, methods=["POST"], name="schedule_op"),
        Route("/tasks", pages.tasks, name="tasks"),
        Route("/tasks/{task_id}/complete", pages.complete_task, methods=["POST"], name="complete_task"),
        Route("/tasks/{task_id}/claim", pages.claim_task, methods=["POST"], name="claim_task"),
        Route("/tasks/{task_id}/reassign", pages.reassign_task, methods=["POST"], name="reassign_task"),
        Route("/healthz", pages.healthz),
        Route("/readyz", pages.readyz),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes,
                     middleware=[Middleware(Guard, token=config.token, allowed_hosts=config.allowed_hosts)],
                     exception_handlers={EngineError: engine_error, redis.RedisError: engine_error,
                                         Exception: internal_error})
