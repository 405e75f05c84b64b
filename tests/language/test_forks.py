"""parallel and map, run by the interpreter alone (tests.language.sim stands in for the reactor)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from executor.interpreter import Finish, advance
from shared.messages import ActivityWait, BranchCursor, Checkpoint, ChildWait, FiredEvent, Fork
from shared.names import child_job_id
from tests.language.sim import JOB, Sim, failed, flow, ok

END_VARS = {"kind": "end", "output": "vars"}


def act(output: str | None = None, next_: str = "e", **fields: Any) -> dict[str, Any]:
    node = {"kind": "activity", "activity": "demo.echo", "next": next_, **fields}
    if output:
        node["output"] = output
    return node


def sub(start: str, **nodes: dict[str, Any]) -> dict[str, Any]:
    return {"start": start, "nodes": nodes}


BOTH = flow(start="both", nodes={
    "both": {"kind": "parallel", "output": "both", "next": "done", "branches": {
        "erp": sub("post", post=act("p", input={"n": "input.n"}), e={"kind": "end", "output": "vars.p"}),
        "mail": sub("send", send=act(), e={"kind": "end", "output": "'sent'"})}},
    "done": {"kind": "end", "output": "vars.both"}})


@pytest.mark.parametrize("order", [["both.erp/post", "both.mail/send"], ["both.mail/send", "both.erp/post"]])
def test_parallel_branches_finish_in_either_order(order: list[str]) -> None:
    sim = Sim(BOTH, {"n": 4}).start()
    assert sim.waiting() == ["both.erp/post", "both.mail/send"]
    assert {w.branch for w in sim.open.values()} == {"both.erp", "both.mail"}
    assert sim.wait("both.erp/post") == ActivityWait(node="both.erp/post", branch="both.erp", activity="demo.echo",
                                                     input={"n": 4})
    sim.fire({order[0]: ok({"v": 1})})
    assert sim.finish is None and sim.waiting() == [order[1]]
    sim.fire({order[1]: ok({"v": 1})})
    assert sim.output == {"erp": {"v": 1}, "mail": "sent"}
    assert sim.events_of("both") == ["entered", "resumed"]
    assert sim.events_of("both.erp/post") == ["entered", "parked", "resumed"]


def test_parallel_results_arriving_together_are_applied_in_one_advance() -> None:
    sim = Sim(BOTH, {"n": 4}).start()
    sim.fire({"both.mail/send": ok(), "both.erp/post": ok(7)})
    assert sim.output == {"erp": 7, "mail": "sent"}


def test_branch_vars_are_a_copy_of_the_parents_at_the_fork() -> None:
    wf = flow({
        "a": {"kind": "set", "vars": {"x": "`1`"}, "next": "p"},
        "p": {"kind": "parallel", "output": "out", "next": "done", "branches": {
            "one": sub("s", s={"kind": "set", "vars": {"x": "`2`"}, "next": "e"},
                       e={"kind": "end", "output": "vars.x"}),
            "two": sub("e", e={"kind": "end", "output": "vars.x"})}},
        "done": {"kind": "end", "output": "vars"}})
    sim = Sim(wf).start()
    assert sim.output == {"x": 1, "out": {"one": 2, "two": 1}}


MAP = flow({
    "a": {"kind": "map", "items": "input.items", "max_concurrency": 2, "output": "posted", "next": "done",
          "body": sub("run", run=act("r", input={"item": "item", "i": "index"}),
                      e={"kind": "end", "output": "vars.r"})},
    "done": {"kind": "end", "output": "vars.posted"}})


def test_map_runs_at_most_max_concurrency_and_outputs_in_item_order() -> None:
    sim = Sim(MAP, {"items": ["a", "b", "c", "d", "e"]}).start()
    assert sim.waiting() == ["a[0]/run", "a[1]/run"]
    assert sim.wait("a[1]/run").input == {"item": "b", "i": 1}  # type: ignore[union-attr]
    # Bodies end out of order; the next item starts in the same advance.
    sim.fire({"a[1]/run": ok("B")})
    assert sim.waiting() == ["a[0]/run", "a[2]/run"]
    sim.fire({"a[2]/run": ok("C")})
    assert sim.waiting() == ["a[0]/run", "a[3]/run"]
    progress = dict(sim.checkpoint.forks())  # type: ignore[union-attr]
    assert (progress["a"].done, progress["a"].running, progress["a"].next, progress["a"].total) == (2, 2, 4, 5)
    sim.fire({"a[3]/run": ok("D"), "a[0]/run": ok("A")})
    assert sim.waiting() == ["a[4]/run"]
    sim.fire({"a[4]/run": ok("E")})
    assert sim.output == ["A", "B", "C", "D", "E"]
    assert sim.most_open == 2


def test_map_over_no_items_outputs_an_empty_list() -> None:
    assert Sim(MAP, {"items": []}).start().output == []


def test_map_items_not_a_list_fails_the_node() -> None:
    sim = Sim(MAP, {"items": {"x": 1}}).start()
    assert sim.finish is not None and sim.finish.error == "node 'a': items 'input.items' is dict, not a list"


TOLERANT = flow({
    "a": {"kind": "map", "items": "input.items", "max_concurrency": 3, "tolerated_failures": 1, "output": "o",
          "next": "done", "body": sub("run", run=act("r"), e={"kind": "end", "output": "vars.r"})},
    "done": {"kind": "end", "output": "vars.o"}})


def test_tolerated_failures_hold_their_error_in_their_slot() -> None:
    sim = Sim(TOLERANT, {"items": [1, 2, 3]}).start()
    sim.fire({"a[0]/run": ok(1), "a[1]/run": failed("rejected", "business"), "a[2]/run": ok(3)})
    assert sim.output == [1, {"error": "rejected", "type": "business"}, 3]


def test_one_failure_more_than_tolerated_fails_the_map_and_drops_the_rest() -> None:
    sim = Sim(TOLERANT, {"items": [1, 2, 3, 4]}).start()
    sim.fire({"a[0]/run": failed("boom")})
    assert sim.waiting() == ["a[1]/run", "a[2]/run", "a[3]/run"]
    running = sim.event("a[2]/run")
    sim.fire({"a[1]/run": failed("again")})
    assert sim.finish is not None and sim.finish.status == "failed"
    assert sim.finish.error == "node 'a[1]/run': activity 'demo.echo' failed: again"
    retry = sim.finish.checkpoint  # ee retry runs the whole map again
    assert retry is not None and (retry.node, retry.vars, retry.fork, retry.branches) == ("a", {}, None, {})
    assert "cancelled" in sim.events_of("a[2]/run") and running in sim.open  # a finish drops every wait


LOCKED = flow({
    "a": {"kind": "parallel", "output": "o", "next": "done",
          "catch": [{"error": "*", "output": "why", "next": "cool"}],
          "branches": {
              "x": sub("lock", lock={"kind": "lock_bot", "pool": "erp", "next": "run"},
                       run=act(on_bot=True), e={"kind": "end"}),
              "y": sub("lock", lock={"kind": "lock_bot", "pool": "erp", "next": "run"},
                       run=act(on_bot=True), e={"kind": "end"})}},
    "cool": {"kind": "sleep", "seconds": 1, "next": "done"},
    "done": {"kind": "end", "output": "vars"}})


def test_each_branch_runs_on_its_own_bot_and_a_failure_drops_siblings_and_releases_their_bots() -> None:
    sim = Sim(LOCKED).start()
    sim.fire({"a.x/lock": ok({"bot": "b1"}), "a.y/lock": ok({"bot": "b2"})})
    assert sim.wait("a.x/run").bot == "b1" and sim.wait("a.y/run").bot == "b2"  # type: ignore[union-attr]
    sibling = sim.event("a.y/run")
    sim.fire({"a.x/run": failed("boom")})
    assert sim.dropped == [sibling]
    assert sorted(sim.released) == ["b1", "b2"]
    assert sim.waiting() == ["cool"]
    sim.fire({"cool": ok()})
    assert sim.output["why"] == {"error": "boom", "type": "application", "code": None, "node": "a.x/run"}
    assert sim.events_of("a.y/run")[-1] == "cancelled"
    assert sim.events_of("a") == ["entered", "caught"]


def test_a_fired_event_of_a_dropped_branch_is_consumed_and_ignored() -> None:
    sim = Sim(LOCKED).start()
    late = sim.event("a.y/lock")
    sim.fire({"a.x/lock": failed("no bot", "timeout")})
    assert sim.dropped == [late] and sim.waiting() == ["cool"]
    # The same checkpoint offered again with the stale event: nothing happens to it.
    sim2 = Sim(LOCKED).start()
    sim2.fire({"a.x/lock": ok({"bot": "b1"})})
    checkpoint = sim2.checkpoint
    assert checkpoint is not None
    stale = FiredEvent(event_id=f"{JOB}~1.9", branch="a.gone", result=ok())
    sim2.fire({}, extra=[stale])
    assert sim2.checkpoint == checkpoint and sim2.finish is None


@pytest.mark.parametrize("first", ["a.x/lock", "a.y/lock"])
def test_a_bot_granted_in_the_same_wake_as_a_sibling_failure_is_released(first: str) -> None:
    sim = Sim(LOCKED).start()
    results = {"a.x/lock": failed("no bot", "timeout"), "a.y/lock": ok({"bot": "b2"})}
    sim.fire({first: results[first], **results})
    assert sim.released == ["b2"] and sim.dropped == [] and sim.waiting() == ["cool"]


def test_a_nested_branch_granted_a_bot_as_its_enclosing_branch_is_dropped_releases_it() -> None:
    inner = {"start": "lock", "nodes": {"lock": {"kind": "lock_bot", "pool": "erp", "next": "run"},
                                        "run": act(on_bot=True), "e": {"kind": "end"}}}
    wf = flow({"a": {"kind": "parallel", "next": "done", "catch": [{"error": "*", "next": "cool"}], "branches": {
        "x": sub("m", m={"kind": "map", "items": "input.items", "body": inner, "next": "e"}, e={"kind": "end"}),
        "y": sub("r", r=act(), e={"kind": "end"})}},
        "cool": {"kind": "sleep", "seconds": 1, "next": "done"}, "done": {"kind": "end"}})
    sim = Sim(wf, {"items": [1, 2]}).start()
    assert sim.waiting() == ["a.y/r", "a.x/m[0]/lock", "a.x/m[1]/lock"]
    sim.fire({"a.x/m[0]/lock": ok({"bot": "b1"})})
    sim.fire({"a.y/r": failed("boom"), "a.x/m[1]/lock": ok({"bot": "b2"})})
    assert sorted(sim.released) == ["b1", "b2"]
    assert sim.waiting() == ["cool"]


def test_on_bot_uses_the_bot_of_the_enclosing_branch_when_its_own_has_none() -> None:
    wf = flow({
        "a": {"kind": "lock_bot", "pool": "erp", "next": "m"},
        "m": {"kind": "map", "items": "input.items", "output": "o", "next": "free",
              "body": sub("run", run=act(on_bot=True), e={"kind": "end"})},
        "free": {"kind": "unlock_bot", "next": "done"},
        "done": {"kind": "end", "output": "vars.o"}})
    sim = Sim(wf, {"items": [1, 2]}).start()
    sim.fire({"a": ok({"bot": "top"})})
    assert [w.bot for w in sim.open.values()] == ["top", "top"]  # type: ignore[union-attr]
    sim.fire({"m[0]/run": ok(), "m[1]/run": ok()})
    assert sim.output == [None, None]


def test_map_bodies_release_the_bot_they_locked_when_they_end() -> None:
    wf = flow({"a": {"kind": "map", "items": "input.items", "max_concurrency": 1, "output": "o", "next": "done",
                     "body": sub("lock", lock={"kind": "lock_bot", "pool": "erp", "next": "run"},
                                 run=act("r", on_bot=True), e={"kind": "end", "output": "vars.r"})},
               "done": {"kind": "end", "output": "vars.o"}})
    sim = Sim(wf, {"items": [1, 2]}).start()
    sim.fire({"a[0]/lock": ok({"bot": "b1"})})
    sim.fire({"a[0]/run": ok(10)})
    assert sim.released == ["b1"] and sim.waiting() == ["a[1]/lock"]


NESTED = flow({
    "a": {"kind": "parallel", "output": "o", "next": "done", "branches": {
        "erp": sub("each", each={"kind": "map", "items": "input.items", "output": "r", "next": "e",
                                 "body": sub("run", run=act("v", input={"x": "item"}),
                                             e={"kind": "end", "output": "vars.v"})},
                   e={"kind": "end", "output": "vars.r"}),
        "mail": sub("e", e={"kind": "end", "output": "`0`"})}},
    "done": {"kind": "end", "output": "vars.o"}})


def test_nested_map_in_parallel_shows_its_paths_and_joins_in_order() -> None:
    sim = Sim(NESTED, {"items": [1, 2]}).start()
    assert sim.waiting() == ["a.erp/each[0]/run", "a.erp/each[1]/run"]
    assert sim.wait("a.erp/each[1]/run").branch == "a.erp/each[1]"
    assert sim.checkpoint is not None and sim.checkpoint.branches["a.erp/each[1]"].parent == "a.erp"
    assert [p for p, _ in sim.checkpoint.forks()] == ["a", "a.erp/each"]
    sim.fire({"a.erp/each[1]/run": ok(20)})
    sim.fire({"a.erp/each[0]/run": ok(10)})
    assert sim.output == {"erp": [10, 20], "mail": 0}
    assert "completed" in sim.events_of("a.mail/e")


def test_call_parks_on_a_child_job_derived_from_its_path() -> None:
    wf = flow({"a": {"kind": "map", "items": "input.items", "output": "o", "next": "done",
                     "body": sub("c", c={"kind": "call", "workflow": "post_invoice", "version": 2,
                                         "input": {"inv": "item"}, "output": "r", "next": "e"},
                                 e={"kind": "end", "output": "vars.r"})},
               "done": {"kind": "end", "output": "vars.o"}})
    sim = Sim(wf, {"items": ["i1"]}).start()
    wait = sim.wait("a[0]/c")
    assert isinstance(wait, ChildWait)
    assert (wait.job_id, wait.name, wait.version, wait.input) == (
        child_job_id(JOB, "a[0]/c"), "post_invoice", 2, {"inv": "i1"})
    sim.fire({"a[0]/c": ok({"posted": True})})
    assert sim.output == [{"posted": True}]


def test_call_failure_is_the_nodes_failure() -> None:
    wf = flow({"a": {"kind": "call", "workflow": "child", "next": "e"}, "e": {"kind": "end"}})
    sim = Sim(wf).start()
    assert sim.wait("a").version == 0  # type: ignore[union-attr]  # the latest
    sim.fire({"a": failed("child job j.c1 failed: boom")})
    assert sim.finish is not None and sim.finish.error == "node 'a': call 'child': child job j.c1 failed: boom"


def test_set_assigns_every_variable_from_the_scope_before_the_assignment() -> None:
    wf = flow({"a": {"kind": "set", "vars": {"x": "`1`", "y": "input.n"}, "next": "b"},
               "b": {"kind": "set", "vars": {"x": "vars.y", "y": "vars.x"}, "next": "e"}, "e": END_VARS})
    assert Sim(wf, {"n": 5}).start().output == {"x": 5, "y": 1}


def test_ten_thousand_items_stay_far_below_the_job_state_limit() -> None:
    wf = flow({"a": {"kind": "map", "items": "input.items", "max_concurrency": 100, "output": "o", "next": "done",
                     "body": sub("run", run=act("r", input={"x": "item"}), e={"kind": "end", "output": "vars.r"})},
               "done": {"kind": "end", "output": "length(vars.o)"}})
    items = [{"invoice": f"INV-{i:05}", "amount": i} for i in range(10_000)]
    sim = Sim(wf, {"items": items}).start()
    while sim.finish is None:
        sim.fire({w.node: ok({"id": i}) for i, w in enumerate(list(sim.open.values()))})
    assert sim.output == 10_000
    assert sim.most_open == 100
    assert max(sim.sizes) < 256 * 1024, max(sim.sizes)  # the limit is 1 MiB


def test_over_ten_thousand_items_fail_the_job_naming_the_node() -> None:
    sim = Sim(MAP, {"items": list(range(10_001))}).start()
    assert sim.finish is not None
    assert sim.finish.error == "node 'a': 10001 items, over the limit of 10000 a map takes"


def test_old_checkpoints_decode() -> None:
    assert msgspec.json.decode(b'{"node":"n","vars":{"x":1},"steps":3}', type=Checkpoint) == Checkpoint(
        node="n", vars={"x": 1}, steps=3)


def test_a_stored_branch_that_does_not_fit_the_workflow_fails_the_job() -> None:
    checkpoint = Checkpoint(node="both", fork=Fork(kind="parallel", total=2, next=2, running=1), branches={
        "both.zz": BranchCursor(slot="zz", node="x", events=[f"{JOB}~3.0"])})
    step = advance(BOTH, checkpoint, {}, [FiredEvent(event_id=f"{JOB}~3.0", result=ok())], job_id=JOB, fence=3)
    assert isinstance(step, Finish) and step.status == "failed"
    assert step.error == "branch 'both.zz' belongs to no fork of its workflow"
