"""Durations as operators type them: ``90``, ``30s``, ``5m``, ``1h``, ``2d`` (settings and ``ee``)."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"bad duration {text!r}: use a number with s, m, h or d (e.g. 30s, 5m, 1h)")
    return float(match.group(1)) * _UNITS[match.group(2)]
