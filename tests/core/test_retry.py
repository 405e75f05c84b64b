"""shared.retry: the one retry with backoff (tenacity under it), without servers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from shared.retry import retrying

pytestmark = pytest.mark.anyio


class Away(Exception):
    pass


class Broken(Exception):
    pass


def failing(times: int, error: Exception) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(len(calls))
        if len(calls) <= times:
            raise error
        return "done"

    return calls, call


def away(exc: BaseException) -> bool:
    return isinstance(exc, Away)


async def test_a_call_that_fails_a_few_times_is_tried_until_it_works() -> None:
    calls, call = failing(3, Away("not yet"))
    told: list[str] = []
    got = await retrying(call, when=away, patience=10, first_s=0.001, most_s=0.004,
                         waiting=lambda exc: told.append(str(exc)))
    assert got == "done" and len(calls) == 4
    assert told == ["not yet"] * 3  # told before each pause


async def test_an_error_it_does_not_wait_out_is_raised_at_once() -> None:
    calls, call = failing(1, Broken("for good"))
    with pytest.raises(Broken):
        await retrying(call, when=away, patience=10, first_s=0.001, most_s=0.004)
    assert len(calls) == 1


async def test_patience_runs_out_with_the_last_error() -> None:
    calls, call = failing(10**6, Away("still away"))
    with pytest.raises(Away, match="still away"):
        await retrying(call, when=away, patience=0.05, first_s=0.001, most_s=0.002)
    assert 2 <= len(calls) < 10**6  # tried again, then given up


async def test_no_pause_longer_than_the_patience_left() -> None:
    """A first pause past the patience is not waited: the failure is raised at once."""
    calls, call = failing(1, Away("away"))
    with anyio.fail_after(5):
        with pytest.raises(Away):
            await retrying(call, when=away, patience=0.5, first_s=3600, most_s=3600)
    assert len(calls) == 1
