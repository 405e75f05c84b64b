"""Tables and JSON for the command line (rich for tables)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_json", "print_table"]

# Off a terminal (a pipe, a log) rich would cut tables at 80 columns: give them room instead.
_console = Console(width=None if sys.stdout.isatty() else 200)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=None, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    _console.print(table)
