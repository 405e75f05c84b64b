"""The web console (``ee ui``): jobs, waits and bots read through ``ee``'s inspection code,
actions sent to the reactor's endpoints through ``ee``'s client.

- ``app``: the ASGI app (Starlette) and its configuration;
- ``pages``: the page and action handlers; ``reads``: what each page shows;
  ``actions``: the reactor requests; ``forms``: every input checked;
- ``graph``: a workflow laid out for drawing; ``guard``: the token, Host and Origin checks;
- ``server``: binding and serving (uvicorn).
"""

from ee.console.app import ConsoleConfig, create_app
from ee.console.server import DEFAULT_HOST, DEFAULT_PORT, BindRefused, serve

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "BindRefused", "ConsoleConfig", "create_app", "serve"]
