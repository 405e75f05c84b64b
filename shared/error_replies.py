"""The engine's errors on the wire: an error reply names the error's class and carries its
attributes, so that the caller raises the very error the reactor raised.

A reply is NATS micro's error (``Nats-Service-Error-Code``, ``Nats-Service-Error``: the code
and the message, which older clients and ``nats micro`` read) with the class of
:mod:`shared.errors` in ``Ee-Error-Type`` and the error's attributes as a JSON object in the
body. A reply without a class this build knows (an unexpected failure, a reactor older than
typed replies) becomes :class:`~shared.errors.ReactorError` with the code and the message.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared import errors, names
from shared.bounds import MAX_ERROR_CHARS, bounded_text
from shared.errors import EngineError, ReactorError

__all__ = ["error_from_reply", "error_reply", "known_errors"]


def _subclasses(cls: type[EngineError]) -> list[type[EngineError]]:
    found: list[type[EngineError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


# Only the engine's own classes travel, each by its name (kept when it ships, like a field).
_CLASSES: list[type[EngineError]] = [EngineError, *_subclasses(EngineError)]
_BY_NAME = {cls.__name__: cls for cls in _CLASSES if cls.__module__ == errors.__name__}
_fields = msgspec.json.Decoder(dict[str, Any])


def known_errors() -> dict[str, type[EngineError]]:
    """Every class an error reply can name, by name."""
    return dict(_BY_NAME)


def _bounded(value: Any) -> Any:
    # An attribute echoes what the request carried (a megabyte id): bounded like the message.
    return bounded_text(value, MAX_ERROR_CHARS) if isinstance(value, str) else value


def error_reply(exc: EngineError) -> tuple[str, str, dict[str, str], bytes]:
    """What to answer with for ``exc``: its code, its message (one bounded line), the headers
    naming its class, and its attributes as the body."""
    attributes = {k: _bounded(v) for k, v in vars(exc).items() if not k.startswith("_")}
    # A value JSON cannot hold (a setting's odd value, say) travels as its repr.
    body = msgspec.json.encode(attributes, enc_hook=repr)
    return str(exc.code), bounded_text(str(exc)), {names.ERROR_TYPE_HEADER: type(exc).__name__}, body


def error_from_reply(headers: dict[str, str], body: bytes) -> EngineError:
    """The error an error reply stands for: the class it names, with the message and the
    attributes it carries, as the reactor raised it; else a ReactorError."""
    code = headers.get(names.ERROR_CODE_HEADER, "500")
    message = headers.get(names.ERROR_HEADER, "error")
    cls = _BY_NAME.get(headers.get(names.ERROR_TYPE_HEADER, ""))
    if cls is None:
        return ReactorError(code, message)
    try:
        attributes = _fields.decode(body) if body else {}
    except msgspec.DecodeError:
        attributes = {}
    # Rebuilt, not constructed: each class words its own message from its arguments, and the
    # reactor's message (already worded) is the one to keep.
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    for name, value in attributes.items():
        if name.isidentifier() and not name.startswith("_") and not callable(getattr(cls, name, None)):
            setattr(exc, name, value)
    return exc
