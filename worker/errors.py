"""What an activity raises to say "no" on business grounds rather than "something broke"."""

from __future__ import annotations

__all__ = ["BUSINESS", "TIMEOUT", "BusinessError"]

BUSINESS = "business"  # ActivityResult.error_type of a business error
TIMEOUT = "timeout"  # ActivityResult.error_type of an attempt the worker gave up on at its timeout_s


class BusinessError(Exception):
    """A business rule refused the work: the invoice is already paid, the customer is unknown.

    Raised from an activity, it travels in the result as ``error_type: "business"`` with
    ``code`` as ``error_code`` and ``message`` alone as the error text (without the
    ``"<ExceptionType>: "`` prefix other exceptions get), so that a workflow can tell it
    from a crash and route it (``catch`` with ``"error": "business"``, second edition of
    the workflow language). Any other exception is an application error.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        if code is not None and not isinstance(code, str):
            raise TypeError(f"BusinessError code must be a string or None, not {type(code).__name__}")
        self.message = message
        self.code = code
        super().__init__(message)

    def __repr__(self) -> str:
        return f"BusinessError({self.message!r}, code={self.code!r})"
