"""JSON given on the command line: inline, ``@FILE`` or ``-`` (standard input).

A shell refuses an argument above about 128 KiB, and quoting JSON for a shell is where
mistakes start: ``--input @order.json`` and ``... | ee submit wf.json --input -`` avoid
both. Every problem is a ValueError whose message is the one line ``ee`` prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.bounds import MAX_DATA_DEPTH, nested_deeper_than

__all__ = ["read_json", "read_text"]


def read_text(source: str, what: str) -> str:
    """The text ``source`` names: ``-`` standard input, ``@FILE`` that file, else ``source`` itself."""
    if source == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise ValueError(f"{what} is '-' (standard input), but nothing is piped in")
        return sys.stdin.read()
    if source.startswith("@"):
        return _file(Path(source[1:]), what)
    return source


def _file(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what}: {path} is not UTF-8 text: {exc.reason}") from None


def read_json(source: str | None, what: str) -> Any:
    """The JSON value of an option (None when it is not given)."""
    if source is None:
        return None
    text = read_text(source, what)
    where = f"{what} ({source[1:]})" if source.startswith("@") else what
    if nested_deeper_than(text, MAX_DATA_DEPTH):  # json.loads would recurse, then raise RecursionError
        raise ValueError(f"{where} is nested more than {MAX_DATA_DEPTH} levels deep (the limit)")
    try:
        return json.loads(text)
    except ValueError as exc:
        hint = f" (to read the file, write @{source})" if source == text and _is_file(source) else ""
        raise ValueError(f"{where} is not valid JSON: {exc}{hint}") from None


def _is_file(text: str) -> bool:
    try:
        return len(text) < 4096 and Path(text).is_file()
    except (OSError, ValueError):
        return False
