"""The console in a real browser: headless Chromium from Debian's packages, driven by
Playwright with the system browser (no browser download). Skipped, with the reason, on a
machine without Chromium; nothing else depends on it.

It starts the console as ``ee ui`` on a running engine, finds a parked job through the jobs
filters, resolves its parked activity from its page and sees it complete without reloading,
cancels a second job, and takes screenshots of the main pages: into the test's temporary
folder, or with ``EE_CONSOLE_SHOTS=docs/console`` into the docs (a run of the suite leaves the
checkout as it was)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ee.servers import free_port
from tests.console.conftest import APPROVAL, ECHO, HOLD, INVOICE_TASK, MANUAL
from tests.support.cli import InProcessEe
from tests.support.stack import Stack, poll

CHROMIUM = os.environ.get("EE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LIVE_S = 20_000  # ms: the pages follow the engine within two seconds; this is the patience of a loaded machine

if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run does it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "readyz", timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def console_url(module_engine: Stack) -> str:
    port = free_port()
    module_engine.start("ee", "ui", "--port", str(port))
    url = f"http://127.0.0.1:{port}/"
    poll(lambda: _ready(url), 30, 0.1, "the console to answer /readyz")
    return url


@contextmanager
def browser_page() -> Iterator[Any]:
    """A tab of headless Chromium. Playwright's sync API runs an event loop in this thread
    while it is open: the test submits its jobs (asyncio.run) before."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 860})
            tab.set_default_timeout(15_000)
            yield tab
        finally:
            browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``EE_CONSOLE_SHOTS`` (docs/console to retake the docs'), else a temporary folder."""
    where = Path(os.environ["EE_CONSOLE_SHOTS"]) if os.environ.get("EE_CONSOLE_SHOTS") \
        else tmp_path_factory.mktemp("console-shots")
    where.mkdir(parents=True, exist_ok=True)
    return where


def shot(tab: Any, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    tab.screenshot(path=str(path))
    assert path.stat().st_size > 0, path


def test_find_resolve_and_cancel_from_the_browser(module_engine: Stack, console_url: str, shots: Path,
                                                 ee_main: InProcessEe, tmp_path: Path) -> None:
    expect = sync_api.expect
    # For the limits and schedules page: a limit, and a schedule of a workflow file.
    limited = ee_main("limit", "set", "erp-posting", "--concurrency", "2", env=module_engine.env(), cwd=tmp_path)
    assert limited.code == 0, limited.err
    (tmp_path / "nightly.json").write_text(json.dumps(ECHO))
    scheduled = ee_main("schedule", "add", "nightly-invoices", "--cron", "0 2 * * *", "--tz", "Europe/Berlin",
                        "--workflow", "nightly.json", "--input", '{"n": 0}', env=module_engine.env(), cwd=tmp_path)
    assert scheduled.code == 0, scheduled.err
    module_engine.worker("--bot", "erp-bot-1", "--pool", "erp")  # a bot for the bots page
    noise = [module_engine.submit(ECHO, {"n": i}, job_id=f"invoice-echo-{i}") for i in range(3)]
    manual = module_engine.submit(MANUAL, {"invoice": "INV-1042"}, job_id="invoice-check-1042")
    other = module_engine.submit(APPROVAL, {"amount": 1200}, job_id="invoice-approve-1043")
    kept = module_engine.submit(HOLD, {"amount": 90}, job_id="invoice-post-1044")
    module_engine.wait_jobs(noise)
    for job_id in (manual, other, kept):
        module_engine.wait_job(job_id, statuses=("parked",))

    with browser_page() as page:
        page.goto(console_url)
        expect(page.locator("#live")).to_contain_text("parked")
        shot(page, shots, "overview")

        # Find the parked job of the manual check through the filters.
        page.click("nav >> text=Jobs")
        page.select_option("#f-status", "parked")
        page.fill("#f-workflow", "console_manual")
        page.click("button:has-text('Filter')")
        rows = page.locator("table.jobs tr td:first-child a")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_text(manual)
        page.select_option("#f-status", "")
        page.fill("#f-workflow", "")
        page.click("button:has-text('Filter')")
        expect(page.locator("table.jobs")).to_contain_text(kept)
        shot(page, shots, "jobs")

        page.click(f"text={manual}")
        expect(page.locator("#job-status")).to_have_text("parked")
        expect(page.locator('.node.current[data-path="check"]')).to_be_visible()
        shot(page, shots, "job")
        resolve = page.locator("form[action$='/resolve']").first
        resolve.locator("input[name=by]").fill("alice")
        resolve.locator("textarea[name=data]").fill('{"ok": true, "by": "alice"}')
        url_before = page.url
        resolve.locator("button").click()
        expect(page.locator("#flash")).to_contain_text("fired")
        expect(page.locator("#job-status")).to_have_text("completed", timeout=LIVE_S)  # no reload: the live region
        expect(page.locator("#job-output")).to_contain_text('"invoice": "INV-1042"')
        assert page.url == url_before
        assert module_engine.inspector().status(manual) == "completed"

        # The second job: cancelled from its page (the operator's name came back in the cookie).
        page.goto(console_url + f"jobs/{other}")
        cancel = page.locator("form[action$='/cancel']")
        expect(cancel.locator("input[name=by]")).to_have_value("alice")
        cancel.locator("input[name=reason]").fill("duplicate invoice")
        cancel.locator("button").click()
        expect(page.locator("#job-status")).to_have_text("cancelled", timeout=LIVE_S)
        expect(page.locator(".timeline")).to_contain_text("cancelled by alice (console): duplicate invoice")
        assert module_engine.inspector().status(other) == "cancelled"

        # Bad input: one message on the page, the job untouched.
        page.goto(console_url + f"jobs/{kept}")
        extend = page.locator("form[action$='/extend']").first
        extend.locator("input[name=timeout]").fill("a while")
        extend.locator("button").click()
        expect(page.locator("#flash .error")).to_have_count(1)
        expect(page.locator("#flash .error")).to_contain_text("timeout: bad duration")
        assert module_engine.inspector().status(kept) == "parked"

        page.goto(console_url + "waits")
        expect(page.locator("table.events")).to_contain_text(kept)
        shot(page, shots, "waits")
        page.goto(console_url + "bots")
        expect(page.locator("#live")).to_contain_text("erp-bot-1")
        expect(page.locator("table.bots")).to_contain_text(kept, timeout=LIVE_S)  # it holds the bot
        shot(page, shots, "bots")
        page.goto(console_url + "flow")
        expect(page.locator("#live")).to_contain_text("erp-posting")  # the limit and schedule set above
        expect(page.locator("#live")).to_contain_text("nightly-invoices")
        shot(page, shots, "flow")


def test_complete_a_human_task_from_the_browser(module_engine: Stack, console_url: str, shots: Path) -> None:
    """A job parked on a human task, found through the Tasks page's filters, completed through
    the form generated from its schema (a bad amount refused first, naming the field), and seen
    gone from the inbox without reloading, its job completed with the data."""
    expect = sync_api.expect
    job = module_engine.submit(INVOICE_TASK, {"invoice": "INV-2001", "total": 480}, job_id="invoice-task-2001")
    other = module_engine.submit({**INVOICE_TASK, "nodes": {**INVOICE_TASK["nodes"], "approve": {
        **INVOICE_TASK["nodes"]["approve"], "assignee": "group:sales", "title": "Check order"}}},
        {"order": "ORD-7"}, job_id="order-task-7")
    for job_id in (job, other):
        module_engine.wait_job(job_id, statuses=("parked",))

    with browser_page() as page:
        page.goto(console_url + "tasks")
        expect(page.locator("table.tasks")).to_contain_text("Check order")
        page.fill("input[name=assignee]", "group:finance")
        page.click("button:has-text('Filter')")
        rows = page.locator("table.tasks tr.task")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Approve invoice")
        expect(rows.first).to_contain_text(job)
        form = page.locator("form.task").first
        expect(form.locator(".required")).to_have_count(2)  # approved and amount
        expect(form.locator("select[name='f.currency'] option")).to_have_count(3)
        shot(page, shots, "tasks")

        form.locator("input[name='f.approved']").check()
        form.locator("input[name='f.amount']").fill("-5")
        form.locator("select[name='f.currency']").select_option(label="EUR")
        form.locator("input[name='f.comment']").fill("ok to pay")
        form.locator("input[name=by]").fill("alice")
        form.locator("button").click()
        expect(page.locator("#flash .error")).to_have_count(1)
        expect(page.locator("#flash .error")).to_have_text("field 'amount': -5 is less than the minimum of 0")
        assert module_engine.inspector().status(job) == "parked"

        form.locator("input[name='f.amount']").fill("480")
        form.locator("button").click()
        expect(page.locator("#flash")).to_contain_text("completed by alice")
        # No reload: the live region follows the engine, and the task leaves the inbox.
        expect(page.locator("table.tasks tr.task")).to_have_count(0, timeout=LIVE_S)
        expect(page.locator("#live")).to_contain_text("No open task matches", timeout=LIVE_S)
    done = module_engine.wait_job(job)
    assert done["output"] == {"approved": True, "amount": 480, "currency": "EUR", "comment": "ok to pay"}
    history = module_engine.inspector().job(job)["history"]  # type: ignore[index]
    assert [h["detail"] for h in history if h["event"] == "task completed"] == ["by alice"]
