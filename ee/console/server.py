"""``ee ui``: the console served by uvicorn on a socket bound here, so that an address in use is
one clear line before anything starts; a bind other than loopback needs ``EE_UI_TOKEN``."""

from __future__ import annotations

import ipaddress
import socket

import uvicorn

from ee.console.app import ConsoleConfig, create_app
from ee.console.guard import LOOPBACK_NAMES
from ee.inspect import open_inspector
from shared.config import Settings

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "BindRefused", "is_loopback", "listen", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8233
MIN_TOKEN = 16


class BindRefused(ValueError):
    """The console will not listen there (no token for a non-loopback host, address in use)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(host: str, token: str | None) -> str | None:
    """The token the console requires (None: none, on loopback without EE_UI_TOKEN)."""
    token = token or None
    if token is not None and len(token) < MIN_TOKEN:
        raise BindRefused(f"EE_UI_TOKEN is too short: at least {MIN_TOKEN} characters")
    if token is None and not is_loopback(host):
        raise BindRefused(f"listening on {host} (not loopback) needs EE_UI_TOKEN: every request must then "
                          "carry it; refusing to start")
    return token


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise BindRefused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def url_of(host: str, port: int) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    return f"http://{shown}:{port}/"


def serve(settings: Settings, host: str, port: int, token: str | None) -> None:
    """Serve until SIGINT/SIGTERM. BindRefused, or the engine's errors reaching Redis, before
    anything listens."""
    token = check_token(host, token)
    inspector = open_inspector(settings)
    sock = listen(host, port)
    config = ConsoleConfig(settings, token=token, allowed_hosts=LOOPBACK_NAMES if is_loopback(host) else None)
    app = create_app(config, inspector)
    print(f"ee ui: console at {url_of(host, port)}" + (" (open it with ?token=<EE_UI_TOKEN>)" if token else ""),
          flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])
