"""Who may use the console: the token (``EE_UI_TOKEN``), the Host header, and where a form
post comes from.

- With a token, every request but the health checks carries it: ``?token=`` once (it becomes
  a cookie and the address is shown again without it), the cookie, the ``X-EE-UI-Token``
  header or ``Authorization: Bearer``.
- On a loopback bind only loopback names are accepted as Host, so a web page elsewhere cannot
  reach the console through a name that resolves to 127.0.0.1 (DNS rebinding).
- A POST whose ``Origin`` is another site is refused (a form on another page cannot act)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COOKIE", "LOOPBACK_NAMES", "Guard"]

COOKIE = "ee_ui_token"
HEADER = "x-ee-ui-token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    def __init__(self, app: ASGIApp, token: str | None, allowed_hosts: frozenset[str] | None) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts

    def _given(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.headers.get(HEADER) or request.cookies.get(COOKIE)

    def _matches(self, given: str | None) -> bool:
        return given is not None and self.token is not None and secrets.compare_digest(given.encode(),
                                                                                      self.token.encode())

    def _refusal(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            return PlainTextResponse(f"ee console: unknown host {host[:80]!r}: open it as http://127.0.0.1:PORT/",
                                     status_code=400)
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin and origin != "null" and urlsplit(origin).netloc != host:
                return PlainTextResponse("ee console: a form of another site may not act here", status_code=403)
        if self.token is None or request.url.path in _OPEN_PATHS:
            return None
        offered = request.query_params.get("token")
        if offered is not None:
            if not self._matches(offered):
                return PlainTextResponse("ee console: wrong token", status_code=401)
            # Kept as a cookie, and the address shown again without it (so it stays out of history).
            clean = URL(str(request.url)).remove_query_params("token")
            back = RedirectResponse(str(clean), status_code=303)
            back.set_cookie(COOKIE, offered, httponly=True, samesite="strict")
            return back
        if not self._matches(self._given(request)):
            return PlainTextResponse("ee console: a token is required: open the address with ?token=<EE_UI_TOKEN>",
                                     status_code=401)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
