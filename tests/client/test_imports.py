"""A bot imports the worker SDK without Redis; `ee` commands do not pay for the client."""

from __future__ import annotations

import subprocess
import sys


def test_import_worker_does_not_import_redis() -> None:
    code = "import worker, sys; assert 'redis' not in sys.modules, sorted(m for m in sys.modules if 'redis' in m)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_ee_loads_the_client_on_first_use() -> None:
    code = ("import sys, ee; assert 'ee.api' not in sys.modules; "
            "assert ee.Client.__module__ == 'ee.api' and 'ee.api' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
