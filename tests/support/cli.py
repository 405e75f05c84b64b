"""``ee`` run in the test's own process: its entry point (``ee.cli.main``) with a given
environment and folder, its output captured.

What a check of exit codes and output needs, without an interpreter start and ``ee``'s imports
per command (about a second each on a loaded 2-core machine). A test keeps one or two real
``python -m ee`` runs (``ee_subprocess``) for what only a process shows: the code it exits with.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import shared.service
from ee.cli import main

if TYPE_CHECKING:
    from tests.support.stack import Stack

__all__ = ["InProcessEe", "Ran", "StackEe", "ee_subprocess"]


@dataclass(frozen=True)
class Ran:
    """One ``ee`` command: its arguments, exit code, stdout and stderr."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def refusal_problem(self, code: int, words: str) -> str | None:
        """What is wrong with this run, expected to exit ``code`` (a refusal, ``code >= 2``: one
        line on stderr holding ``words``, nothing on stdout, no traceback); None when nothing."""
        if self.code != code:
            return f"ee {' '.join(self.args)}: exit {self.code}, want {code}: {self.out[-1000:]!r} {self.err[-2000:]!r}"
        if code >= 2 and not (self.err.count("\n") == 1 and self.err.startswith("ee: ") and words in self.err
                              and "Traceback" not in self.err and self.out == ""):
            return (f"ee {' '.join(self.args)}: want one line with {words!r}, "
                    f"got {self.out[-500:]!r} {self.err[-2000:]!r}")
        return None


class InProcessEe:
    """Calls ``ee.cli.main`` as ``python -m ee`` would, with ``env``'s ``EE_*`` settings (and no
    others), from ``cwd``, ``stdin`` its standard input; everything changed is restored after each call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(self, *args: str, env: Mapping[str, str], cwd: Path, stdin: str = "") -> Ran:
        with self.monkeypatch.context() as patch:
            patch.chdir(cwd)
            for key in [k for k in os.environ if k.startswith("EE_")]:
                patch.delenv(key)
            for key, value in env.items():
                if os.environ.get(key) != value:
                    patch.setenv(key, value)
            patch.setattr(sys, "argv", ["ee", *args])
            patch.setattr(sys, "stdin", io.StringIO(stdin))
            # A service command sets up logging for its process: here that would bind structlog,
            # for every later test of this process, to a capture stream closed after this one.
            patch.setattr(shared.service, "setup_logging", lambda *_: None)
            self.capsys.readouterr()
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            out, err = self.capsys.readouterr()
        return Ran(tuple(args), code, out, err)


class StackEe:
    """``ee`` commands against a stack, in this process, answered as ``subprocess.run`` would
    (``returncode``, ``stdout``, ``stderr``): ``(stack, *args, stdin="", cwd=None, env=None)``,
    from ``cwd`` (else the folder given here), with ``env`` (and the settings given here) set;
    with ``check``, a command that exits other than 0 fails the test."""

    def __init__(self, ee: InProcessEe, cwd: Path, check: bool = False, **env: str) -> None:
        self.ee = ee
        self.cwd = cwd
        self.check = check
        self.env = env

    def __call__(self, stack: Stack, *args: str, stdin: str = "", cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = self.ee(*args, env=stack.env(**{**self.env, **(env or {})}), cwd=cwd or self.cwd, stdin=stdin)
        assert not self.check or done.code == 0, (args, done.code, done.out, done.err)
        return subprocess.CompletedProcess(list(args), done.code, done.out, done.err)

    def json(self, stack: Stack, *args: str) -> Any:
        """One command with ``--json`` that must exit 0: what it printed, parsed."""
        done = self(stack, *args, "--json")
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return json.loads(done.stdout)


def ee_subprocess(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.Popen[str]:
    """A real ``python -m ee`` started (not waited for): its ``communicate`` gives the output."""
    return subprocess.Popen([sys.executable, "-m", "ee", *args], env=dict(env), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
