"""One engine per test module (``module_engine``), and the console on it: in process for the
HTTP tests (Starlette's TestClient), as ``ee ui`` for the browser test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from ee.console import ConsoleConfig, create_app
from shared.config import load_settings
from tests.support.stack import Stack

# A signal wait, and an activity no worker serves: both stay parked until the console acts.
APPROVAL: dict[str, Any] = {
    "name": "console_approval", "version": 1, "start": "ask",
    "nodes": {"ask": {"kind": "wait_signal", "signal": "approval", "timeout_s": 3600, "output": "approval",
                      "next": "done"},
              "done": {"kind": "end", "output": "vars.approval"}}}
MANUAL: dict[str, Any] = {
    "name": "console_manual", "version": 1, "start": "check",
    "nodes": {"check": {"kind": "activity", "activity": "console.by_hand", "output": "checked", "timeout_s": 3600,
                        "next": "decide"},
              "decide": {"kind": "branch", "cases": [{"when": "vars.checked.ok", "next": "book"}],
                         "default": "reject"},
              "book": {"kind": "activity", "activity": "demo.echo", "input": {"invoice": "input.invoice"},
                       "output": "booked", "next": "done"},
              "reject": {"kind": "fail", "error": "rejected by the checker"},
              "done": {"kind": "end", "output": "vars"}}}
# Holds a bot of pool erp while it waits for a signal.
HOLD: dict[str, Any] = {
    "name": "console_hold", "version": 1, "start": "lock",
    "nodes": {"lock": {"kind": "lock_bot", "pool": "erp", "output": "bot", "next": "ask"},
              "ask": {"kind": "wait_signal", "signal": "go", "timeout_s": 3600, "next": "free"},
              "free": {"kind": "unlock_bot", "next": "done"},
              "done": {"kind": "end"}}}
ECHO: dict[str, Any] = {
    "name": "console_echo", "version": 1, "start": "say",
    "nodes": {"say": {"kind": "activity", "activity": "demo.echo", "input": {"n": "input.n"}, "output": "said",
                      "next": "done"},
              "done": {"kind": "end", "output": "vars.said"}}}

# A human task: parked until someone completes its form (the Tasks page).
INVOICE_TASK: dict[str, Any] = {
    "name": "console_invoice_task", "version": 1, "start": "approve",
    "nodes": {"approve": {"kind": "human_task", "title": "Approve invoice", "details": "input",
                          "assignee": "group:finance", "output": "approval", "next": "done",
                          "form": {"type": "object", "required": ["approved", "amount"], "properties": {
                              "approved": {"type": "boolean", "title": "Approved"},
                              "amount": {"type": "number", "minimum": 0, "title": "Amount"},
                              "currency": {"enum": ["EUR", "USD"], "title": "Currency"},
                              "comment": {"type": "string", "maxLength": 40}}}},
              "done": {"kind": "end", "output": "vars.approval"}}}


def console_client(stack: Stack, token: str | None = None, allowed_hosts: frozenset[str] | None = None) -> TestClient:
    """The app in process; any Host by default (TestClient's is ``testserver``)."""
    settings = load_settings(stack.nats.url, stack.redis.url, stack.prefix)
    config = ConsoleConfig(settings, token=token, allowed_hosts=allowed_hosts, poll_s=1.0)
    return TestClient(create_app(config, stack.inspector()), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def console(module_engine: Stack) -> Iterator[TestClient]:
    with console_client(module_engine) as client:
        yield client
