"""Structured logs: JSON lines when stderr is not a terminal, readable text when it is."""

from __future__ import annotations

import logging
import os
import sys

import structlog

__all__ = ["setup_logging"]


def setup_logging(service: str, level: str | None = None) -> None:
    fmt = os.environ.get("EE_LOG_FORMAT", "auto")
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = getattr(logging, (level or os.environ.get("EE_LOG_LEVEL", "INFO")).upper(), logging.INFO)
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
