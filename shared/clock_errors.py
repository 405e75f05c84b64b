"""The refusals of ``ee schedule``: typed on the wire by their code (404, 409)."""

from __future__ import annotations

from shared.errors import EngineError

__all__ = ["ScheduleExists", "ScheduleNotFound"]


class ScheduleNotFound(EngineError):
    code = "404"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no schedule named {name!r} (ee schedule list shows them)")


class ScheduleExists(EngineError):
    code = "409"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"schedule {name!r} exists: delete it first, or add it again with --replace")
