"""argparse for the entry points that use it (``ee worker``, ``ee bench``, ``python -m executor``):
a usage mistake is one line on stderr, exit 2, like every other ``ee`` refusal."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["ArgumentParser"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose error is ``PROG: MESSAGE (see PROG --help)`` on one line
    instead of the usage block and the message."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (see '{self.prog} --help')\n")
        sys.exit(2)
