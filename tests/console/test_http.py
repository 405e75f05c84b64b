"""The console over plain HTTP (Starlette's TestClient) on a running engine: filters and paging,
the job page, actions through the reactor, and every bad input answered with one message."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from html import unescape
from pathlib import Path

from starlette.testclient import TestClient

from ee.console.guard import LOOPBACK_NAMES
from ee.console.server import BindRefused, check_token
from tests.console.conftest import APPROVAL, ECHO, INVOICE_TASK, MANUAL, console_client
from tests.support.stack import Stack, poll

_ERROR = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.S)


def errors(html: str) -> list[str]:
    return [unescape(found) for found in _ERROR.findall(html)]


def job_ids(html: str) -> list[str]:
    return re.findall(r'<td><a href="/jobs/([^"]+)">', html)


def parked(stack: Stack, job_id: str) -> str:
    """The job's one parked wait, once it is parked."""
    def found() -> str | None:
        waits = [e for e in stack.inspector().events(job=job_id) if e.get("status") == "parked"]
        return str(waits[0]["event_id"]) if waits else None

    return poll(found, 30, 0.05, f"job {job_id} to park")


def test_jobs_filters_and_paging(module_engine: Stack, console: TestClient) -> None:
    waiting = [module_engine.submit(APPROVAL, job_id=f"filter-wait-{i}") for i in range(3)]
    done = [module_engine.submit(ECHO, {"n": i}, job_id=f"filter-echo-{i}") for i in range(2)]
    module_engine.wait_jobs(done)
    for job_id in waiting:
        parked(module_engine, job_id)

    page = console.get("/jobs", params={"status": "parked", "workflow": "console_approval"})
    assert page.status_code == 200 and not errors(page.text)
    assert sorted(job_ids(page.text)) == sorted(waiting)
    page = console.get("/jobs", params={"workflow": "console_echo", "since": "1h"})
    assert sorted(job_ids(page.text)) == sorted(done)
    assert job_ids(console.get("/jobs", params={"workflow": "console_echo", "until": "1h"}).text) == []

    first = console.get("/jobs", params={"workflow": "console_approval", "limit": "2"})
    listed = job_ids(first.text)
    assert len(listed) == 2
    after = re.search(r'href="/jobs\?([^"]*after=[^"]*)" class="next"', first.text)
    assert after is not None, first.text
    second = console.get("/jobs?" + after.group(1).replace("&amp;", "&"))
    rest = job_ids(second.text)
    assert sorted(listed + rest) == sorted(waiting) and not set(listed) & set(rest)

    # The live region asks for itself: only the fragment comes back.
    live = console.get("/jobs", params={"status": "parked"}, headers={"HX-Request": "true", "HX-Target": "live"})
    assert "<html" not in live.text and set(waiting) <= set(job_ids(live.text))


def test_bad_filters_show_one_message(console: TestClient) -> None:
    for params, field in (({"status": "sleeping"}, "status"), ({"since": "yesterday-ish"}, "since"),
                          ({"limit": "0"}, "limit"), ({"limit": "lots"}, "limit"), ({"workflow": "a b{"}, "workflow"),
                          ({"since": "1h", "until": "2h"}, "since"), ({"after": "no-such-job"}, "after")):
        page = console.get("/jobs", params=params)
        assert page.status_code == 400, params
        found = errors(page.text)
        assert len(found) == 1 and found[0].startswith(field), (params, found)
        assert "Traceback" not in page.text
    for params, field in (({"kind": "nap"}, "kind"), ({"older_than": "long"}, "older_than"),
                          ({"job": "x~y{"}, "job"), ({"stranded": "maybe"}, "stranded")):
        page = console.get("/waits", params=params)
        assert page.status_code == 400 and [e.split(":")[0] for e in errors(page.text)] == [field], params
    page = console.get("/jobs/" + "x" * 300)
    assert page.status_code == 400 and len(errors(page.text)) == 1
    page = console.get("/jobs/never-submitted")
    assert page.status_code == 404 and "no job 'never-submitted'" in errors(page.text)[0]


def test_job_page_and_actions(module_engine: Stack, console: TestClient) -> None:
    job_id = module_engine.submit(MANUAL, job_id="act-resolve")
    event_id = parked(module_engine, job_id)
    page = console.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    assert re.search(r'class="node activity current" data-path="check"', page.text), page.text
    assert f'data-event="{event_id}"' in page.text and "console.by_hand" in page.text

    # Bad input: one message each, nothing sent.
    for path, form, field in ((f"/waits/{event_id}/resolve", {"by": "alice", "data": "{not json"}, "data"),
                              (f"/waits/{event_id}/resolve", {"data": "{}"}, "by"),
                              (f"/waits/{event_id}/resolve", {"by": "<script>", "data": "{}"}, "by"),
                              (f"/waits/{event_id}/extend", {"by": "alice", "timeout": "soon"}, "timeout"),
                              (f"/waits/{event_id}/extend", {"by": "alice", "timeout": "0"}, "timeout"),
                              (f"/waits/{event_id}/fail", {"by": "alice", "error": ""}, "error"),
                              ("/waits/bad{id}/resolve", {"by": "alice"}, "event_id")):
        answer = console.post(path, data=form)
        assert answer.status_code == 400, (path, form, answer.text[-500:])
        found = errors(answer.text)
        assert len(found) == 1 and found[0].startswith(field), (path, form, found)
    # Through htmx: the message alone, 200 so that htmx shows it.
    answer = console.post(f"/waits/{event_id}/extend", data={"by": "alice", "timeout": "-1"},
                          headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "<html" not in answer.text and len(errors(answer.text)) == 1
    assert module_engine.inspector().status(job_id) == "parked"

    extended = console.post(f"/waits/{event_id}/extend", data={"by": "alice", "timeout": "10m"})
    assert extended.status_code == 200 and "extended" in extended.text
    resolved = console.post(f"/waits/{event_id}/resolve", data={"by": "alice", "data": '{"ok": true}'})
    assert resolved.status_code == 200 and f"wait {event_id} fired" in resolved.text
    assert resolved.cookies.get("ee_operator") == "alice"
    finished = module_engine.wait_job(job_id)
    assert finished["status"] == "completed" and finished["output"]["checked"] == {"ok": True}
    history = module_engine.job(job_id)["history"]  # type: ignore[index]
    assert [h.get("detail") for h in history if h["event"] in ("extended", "fired") and h["node"] == "check"] == [
        "timeout 600.0 s from now by alice (console)", "operator resolve by alice (console)"], history
    again = console.post(f"/waits/{event_id}/resolve", data={"by": "alice", "data": "{}"})
    assert again.status_code in (404, 409) and len(errors(again.text)) == 1  # no longer parked

    failing = module_engine.submit(MANUAL, job_id="act-fail")
    failed_event = parked(module_engine, failing)
    answer = console.post(f"/waits/{failed_event}/fail", data={"by": "bob", "error": "form unreadable"})
    assert answer.status_code == 200, answer.text
    job = module_engine.wait_job(failing)
    assert job["status"] == "failed" and "form unreadable (failed by bob (console))" in (job["error"] or "")
    # Retried from the node it failed at, by the reactor's `retry` endpoint, with who asked.
    page = console.get(f"/jobs/{failing}")
    assert 'class="node activity failed" data-path="check"' in page.text and "/retry" in page.text
    retried = console.post(f"/jobs/{failing}/retry", data={"by": "bob"})
    assert retried.status_code == 200 and f"job {failing} retried from node check (retry 1)" in retried.text
    assert module_engine.inspector().job(failing) is not None
    again_event = parked(module_engine, failing)
    history = module_engine.job(failing)["history"]  # type: ignore[index]
    assert any(h["event"] == "retried" and "bob" in h.get("detail", "") for h in history), history
    assert console.post(f"/waits/{again_event}/resolve", data={"by": "bob", "data": '{"ok": true}'}).status_code == 200
    assert module_engine.wait_job(failing)["status"] == "completed"
    refused = console.post(f"/jobs/{job_id}/retry", data={"by": "bob"}, headers={"HX-Request": "true"})
    assert refused.status_code == 200 and len(errors(refused.text)) == 1, refused.text  # completed: not retried
    refused = console.post(f"/jobs/{job_id}/retry", data={"by": "bob"})
    assert refused.status_code == 409 and "completed" in errors(refused.text)[0], errors(refused.text)
    assert console.post(f"/jobs/{failing}x/retry", data={"by": "bob"}).status_code == 404

    cancelled = module_engine.submit(APPROVAL, job_id="act-cancel")
    parked(module_engine, cancelled)
    answer = console.post(f"/jobs/{cancelled}/cancel", data={"by": "carol", "reason": "duplicate"})
    assert answer.status_code == 200 and f"job {cancelled} cancelled" in answer.text
    job = module_engine.wait_job(cancelled)
    assert job["status"] == "cancelled"
    history = module_engine.job(cancelled)["history"]  # type: ignore[index]
    assert any(h["event"] == "cancelled" and h.get("detail") == "cancelled by carol (console): duplicate"
               for h in history), history


def test_overview_waits_and_bots_pages(module_engine: Stack, console: TestClient) -> None:
    job_id = module_engine.submit(APPROVAL, job_id="overview-wait")
    parked(module_engine, job_id)
    overview = console.get("/")
    assert overview.status_code == 200 and 'href="/waits?kind=signal"' in overview.text
    inspector = module_engine.inspector()
    ages = inspector.wait_ages((60.0, 3600.0, float("inf")))
    for kind, counts in ages.items():  # every open wait in one bucket, by the index alone
        assert sum(counts) == len(inspector.events(kind=kind)), (kind, counts)
    assert ages["signal"][0] >= 1 and ages["timer"] == [0, 0, 0]
    waits = console.get("/waits", params={"kind": "signal", "job": job_id})
    assert waits.status_code == 200 and job_ids(waits.text) == [job_id]
    assert job_ids(console.get("/waits", params={"kind": "timer", "job": job_id}).text) == []
    assert console.get("/bots").status_code == 200
    assert console.get("/tasks").status_code == 200


def test_token_is_required_when_set(module_engine: Stack) -> None:
    token = "t0ken-for-the-console-test"
    with console_client(module_engine, token) as client:
        assert client.get("/").status_code == 401
        assert client.get("/", params={"token": "wrong-token-wrong-token"}).status_code == 401
        assert client.get("/healthz").status_code == 200
        assert client.get("/", headers={"X-EE-UI-Token": token}).status_code == 200
        assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        entry = client.get("/jobs", params={"token": token}, follow_redirects=False)
        assert entry.status_code == 303 and "token" not in entry.headers["location"]
        assert client.get("/jobs").status_code == 200  # the cookie set above
        assert client.post("/jobs/x/cancel", data={"by": "eve"},
                           headers={"Origin": "http://elsewhere.example"}).status_code == 403


def test_only_loopback_host_names_on_a_loopback_bind(module_engine: Stack) -> None:
    with console_client(module_engine, allowed_hosts=LOOPBACK_NAMES) as client:
        assert client.get("/", headers={"Host": "127.0.0.1:8233"}).status_code == 200
        assert client.get("/", headers={"Host": "localhost"}).status_code == 200
        assert client.get("/", headers={"Host": "rebound.example:8233"}).status_code == 400


def test_a_non_loopback_bind_needs_the_token(module_engine: Stack) -> None:
    assert check_token("127.0.0.1", None) is None
    for host in ("0.0.0.0", "192.0.2.7", "console.internal"):
        try:
            check_token(host, None)
        except BindRefused as exc:
            assert "EE_UI_TOKEN" in str(exc)
        else:
            raise AssertionError(f"{host}: started without a token")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        out = subprocess.run([sys.executable, "-m", "ee", "ui", "--port", str(taken.getsockname()[1])],
                             env=module_engine.env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.startswith("ee: cannot listen on 127.0.0.1:"), out.stderr
    env = module_engine.env()
    env.pop("EE_UI_TOKEN", None)
    out = subprocess.run([sys.executable, "-m", "ee", "ui", "--host", "0.0.0.0", "--port", "1"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "EE_UI_TOKEN" in out.stderr, out.stderr


def test_task_form_checked_on_the_server_with_one_message(module_engine: Stack, console: TestClient) -> None:
    """The Tasks page: a bad filter and bad form data each one message naming the field; good
    data completes the task through the reactor, recorded with the operator's name."""
    job_id = module_engine.submit(INVOICE_TASK, {"invoice": "INV-9"}, job_id="http-task-9")
    task_id = parked(module_engine, job_id)
    page = console.get("/tasks", params={"assignee": "group:finance"})
    assert page.status_code == 200 and task_id in page.text and 'name="f.amount"' in page.text
    bad = console.get("/tasks", params={"assignee": "no one"})
    assert bad.status_code == 400 and len(errors(bad.text)) == 1 and errors(bad.text)[0].startswith("assignee: ")
    url = f"/tasks/{task_id}/complete"
    for form, message in (
            ({"by": "alice", "f.approved": "on", "f.amount": "-5"}, "field 'amount': -5 is less than the minimum of 0"),
            ({"by": "alice", "f.approved": "on"}, "field 'amount': is required"),
            ({"by": "alice", "f.amount": "1", "f.currency": '"GBP"'}, "field 'currency': 'GBP' is not one of "
                                                                         "['EUR', 'USD']"),
            ({"by": "alice", "f.amount": "ten"}, "field 'amount': 'ten' is not of type 'number'"),
            ({"f.amount": "1"}, "by: your name is required (it goes into the job's history)")):
        refused = console.post(url, data=form)
        assert refused.status_code == 400, (form, refused.text)
        assert errors(refused.text) == [message], (form, errors(refused.text))
    assert module_engine.inspector().status(job_id) == "parked"
    done = console.post(url, data={"by": "alice", "f.approved": "on", "f.amount": "12.5", "f.currency": '"USD"'},
                        headers={"HX-Request": "true"})
    assert done.status_code == 200 and "completed by alice" in done.text, done.text
    assert module_engine.wait_job(job_id)["output"] == {"approved": True, "amount": 12.5, "currency": "USD"}
    again = console.post(url, data={"by": "bob", "f.amount": "1"})
    assert again.status_code == 404 and errors(again.text) == [f"unknown task {task_id!r}"]


def test_a_task_is_claimed_and_reassigned_from_the_tasks_page(module_engine: Stack, console: TestClient) -> None:
    """Claim and Reassign on the Tasks page go through the reactor's task endpoint as ``ee task
    claim`` and ``ee task reassign`` do; a bad assignee is one message naming the field."""
    job_id = module_engine.submit(INVOICE_TASK, {"invoice": "INV-10"}, job_id="http-task-10")
    task_id = parked(module_engine, job_id)
    page = console.get("/tasks", params={"assignee": "group:finance"})
    assert f'action="/tasks/{task_id}/claim"' in page.text and f'action="/tasks/{task_id}/reassign"' in page.text
    claimed = console.post(f"/tasks/{task_id}/claim", data={"by": "alice"}, headers={"HX-Request": "true"})
    assert claimed.status_code == 200 and f"task {task_id} claimed by alice" in claimed.text, claimed.text
    shown = console.get("/tasks", params={"assignee": "group:finance"})
    assert "claimed by alice" in shown.text and f'action="/tasks/{task_id}/claim"' not in shown.text
    for form, message in (({"by": "alice", "to": "no one"}, "to: "),
                          ({"by": "alice", "to": "group:" + "x" * 100_000}, "to: "),
                          ({"by": "alice", "to": "\x00{[\n"}, "to: "),
                          ({"by": "a" * 5000, "to": "bob"}, "by: "),
                          ({"by": "alice"}, "to: the assignee to reassign to is required")):
        refused = console.post(f"/tasks/{task_id}/reassign", data=form)
        assert refused.status_code == 400 and len(errors(refused.text)) == 1, (form, refused.text)
        assert errors(refused.text)[0].startswith(message), (form, errors(refused.text))
    moved = console.post(f"/tasks/{task_id}/reassign", data={"by": "alice", "to": "bob"},
                         headers={"HX-Request": "true"})
    assert moved.status_code == 200 and f"task {task_id} reassigned to bob by alice" in moved.text, moved.text
    assert task_id in console.get("/tasks", params={"assignee": "bob"}).text
    assert task_id not in console.get("/tasks", params={"assignee": "group:finance"}).text
    history = [(h["event"], h.get("detail", "")) for h in (module_engine.job(job_id) or {})["history"]]
    assert ("task claimed", "by alice") in history, history
    assert ("task reassigned", "from group:finance to bob by alice") in history, history
    missing = console.post("/tasks/nobody~1.0/claim", data={"by": "alice"})
    assert missing.status_code == 404 and len(errors(missing.text)) == 1, missing.text
    for bad_id in ("x" * 300, "%00"):
        garbage = console.post(f"/tasks/{bad_id}/claim", data={"by": "alice"})
        assert garbage.status_code in (400, 404) and len(errors(garbage.text)) == 1, garbage.text
    assert (module_engine.job(job_id) or {})["status"] == "parked"  # none of it touched the job


def test_limits_and_schedules_page_pauses_and_resumes(module_engine: Stack, console: TestClient,
                                                      tmp_path: Path) -> None:
    workflow = tmp_path / "nightly.json"
    workflow.write_text(json.dumps(ECHO))
    for args in (("limit", "set", "console-erp", "--concurrency", "2", "--rate", "10/1m"),
                 ("schedule", "add", "console-nightly", "--cron", "0 7 * * 1-5", "--tz", "Europe/Berlin",
                  "--workflow", str(workflow))):
        done = subprocess.run([sys.executable, "-m", "ee", *args], env=module_engine.env(), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    page = console.get("/flow")
    assert page.status_code == 200 and not errors(page.text), page.text
    assert "console-erp" in page.text and "console-nightly" in page.text and "0 7 * * 1-5" in page.text
    paused = console.post("/schedules/console-nightly/pause", data={"by": "alice"})
    assert paused.status_code == 200 and "schedule console-nightly paused" in paused.text
    assert ">paused<" in console.get("/flow").text
    assert "resumed" in console.post("/schedules/console-nightly/resume", data={"by": "alice"}).text
    for path, form, status in (("/schedules/console-nightly/explode", {"by": "alice"}, 400),
                               ("/schedules/console-nightly/pause", {}, 400),
                               ("/schedules/no-such/pause", {"by": "alice"}, 404)):
        answer = console.post(path, data=form)
        assert (answer.status_code, len(errors(answer.text))) == (status, 1), (path, errors(answer.text))
