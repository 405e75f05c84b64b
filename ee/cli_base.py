"""What every ``ee`` command module shares: the command context (settings, inspector), the
one-line refusal (``fail``), running a coroutine, and the name checks of options."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import anyio
import click

from ee import exits
from ee.inputs import read_json
from ee.inspect import Inspector, open_inspector
from shared.config import Settings, load_settings
from shared.errors import InvalidName, engine_error_in
from shared.names import event_job
from shared.naming import NameKind, check_name, is_valid_name

__all__ = ["Context", "NameCheck", "fail", "name_of", "parse_json", "pass_ctx", "run_async"]

T = TypeVar("T")


class Context:
    def __init__(self, nats_url: str | None, redis_url: str | None, prefix: str | None,
                 default_urls: bool) -> None:
        self.flags = (nats_url, redis_url, prefix)
        self.default_urls = default_urls
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """Flags, env, then the stack file; a URL found nowhere is refused where it is used
        (``Settings.require``), so a command that needs only NATS runs without a Redis URL."""
        if self._settings is None:
            self._settings = load_settings(*self.flags, default_urls=self.default_urls)
        return self._settings

    def inspector(self) -> Inspector:
        return open_inspector(self.settings)


def fail(message: str, code: int = exits.BAD_INPUT) -> NoReturn:
    click.echo(f"ee: {message}", err=True)
    sys.exit(code)


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn``; an engine error inside a task group comes out as itself (``main`` maps it)."""
    try:
        return anyio.run(fn)
    except BaseExceptionGroup as exc:
        found = engine_error_in(exc)
        if found is None:
            raise
        raise found from None


def parse_json(source: str | None, what: str) -> Any:
    """An option's JSON: inline, ``@FILE`` or ``-`` (stdin); a problem is one line, exit 2."""
    try:
        return read_json(source, what)
    except ValueError as exc:
        fail(str(exc))


pass_ctx = click.make_pass_decorator(Context)

NameCheck = Callable[[click.Context, click.Parameter, str | None], str | None]


def name_of(kind: NameKind) -> NameCheck:
    """A click callback that refuses a value breaking its kind's name rule (``shared.naming``),
    before anything is sent: a usage error, one line, exit 2."""
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_name(kind, value)
        except InvalidName as exc:
            hint = ""
            if kind == "job" and is_valid_name("event", value):
                hint = f" ({value!r} is an event id; its job is {event_job(value)!r})"
            elif kind == "event" and is_valid_name("job", value):
                hint = f" ({value!r} is a job id; `ee events --job {value}` lists its events)"
            raise click.BadParameter(f"{exc}{hint}", ctx, param) from exc

    return check
