"""Priorities and limits refuse bad input with one line on stderr and exit 2, before anything is
sent (NATS and Redis point nowhere here); the reactor refuses the same values from any client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import InvalidMessage
from shared.flow import check_concurrency, check_priority, check_rate, parse_rate
from tests.support.bad_input import assert_each_refused
from tests.support.cli import InProcessEe
from tests.workflows import chain

KEYED = {"name": "keyed", "start": "post", "nodes": {
    "post": {"kind": "activity", "activity": "erp.post", "limit": {"name": "erp", "key": "input.[bad"},
             "next": "done"},
    "done": {"kind": "end"}}}
BAD_NAME = {"name": "named", "start": "post", "nodes": {
    "post": {"kind": "activity", "activity": "erp.post", "limit": "erp:eu", "next": "done"},
    "done": {"kind": "end"}}}

BAD = [
    # (file content or None, arguments, words the one line must hold)
    (json.dumps(chain(1)), ["submit", "{file}", "--priority", "0"], "Invalid value for '--priority'"),
    (json.dumps(chain(1)), ["submit", "{file}", "--priority", "10"], "Invalid value for '--priority'"),
    (json.dumps(KEYED), ["submit", "{file}"], "limit.key"),
    (json.dumps(BAD_NAME), ["submit", "{file}"], "limit"),
    (None, ["limit", "set", "erp", "--concurrency", "0"], "Invalid value for '--concurrency'"),
    (None, ["limit", "set", "erp", "--concurrency", "-3"], "Invalid value for '--concurrency'"),
    (None, ["limit", "set", "erp", "--rate", "-5/min"], "the number of starts must be 1 or more"),
    (None, ["limit", "set", "erp", "--rate", "5/fortnight"], "period unit 'fortnight' not understood"),
    (None, ["limit", "set", "erp", "--rate", "lots"], "is not N/PERIOD"),
    (None, ["limit", "set", "erp"], "give --concurrency, --rate or both"),
    (None, ["limit", "set", "erp:eu", "--concurrency", "1"], "limit"),
    (None, ["events", "--limit", "erp:eu"], "Invalid value for '--limit'"),
]


def test_bad_flow_input_is_one_line_on_stderr_and_exit_2(tmp_path: Path, ee_main: InProcessEe) -> None:
    assert_each_refused(ee_main, tmp_path, BAD)


@pytest.mark.parametrize(("text", "expected"), [
    ("100/min", (100, 60.0)), ("5/s", (5, 1.0)), ("10/30s", (10, 30.0)), ("1/h", (1, 3600.0)),
    ("2 / 1.5m", (2, 90.0)), ("7/day", (7, 86400.0))])
def test_rates_are_read_as_starts_per_period(text: str, expected: tuple[int, float]) -> None:
    assert parse_rate(text) == expected


def test_the_reactor_refuses_what_the_command_line_would() -> None:
    for check, args in ((check_priority, (0,)), (check_priority, (10,)), (check_priority, (True,)),
                        (check_concurrency, (0,)), (check_concurrency, (-1,)), (check_rate, (-1, 60.0)),
                        (check_rate, (5, 0.0)), (check_rate, (5, float("nan")))):
        with pytest.raises(InvalidMessage):
            check("ee.reactor.x", *args)
