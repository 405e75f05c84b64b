"""The interpreter as a table: workflow, checkpoint and the result of the wait that fired in,
a Park or a Finish out. Pure: no servers, no clock to wait on, a millisecond a case.

Each row names the node kind or the failure it is about; ``history`` is the (node, event)
entries the step adds, the detail of a ``failed`` entry being the job's error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from executor.interpreter import MAX_STEPS, Finish, Park, advance
from shared.messages import (
    ActivityWait,
    BotLockWait,
    Checkpoint,
    EventResult,
    FinalStatus,
    FiredEvent,
    SignalWait,
    TaskWait,
    TimerWait,
    Wait,
)
from shared.workflow import Workflow, decode_workflow

Nodes = dict[str, dict[str, Any]]

END = {"kind": "end", "output": "vars"}
FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
TASK = {"kind": "human_task", "title": "Approve", "details": "input.invoice", "assignee": "group:finance",
        "form": FORM, "output": "answer", "next": "end"}


@dataclass(frozen=True)
class Parked:
    wait: Wait
    vars: dict[str, Any] = field(default_factory=dict)
    bot: str | None = None
    release: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Finished:
    status: FinalStatus
    output: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    nodes: Nodes
    expect: Parked | Finished
    history: list[tuple[str, str]]
    at: str = "a"
    result: EventResult | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    bot: str | None = None
    steps: int = 0
    input: dict[str, Any] = field(default_factory=dict)


def ok(output: Any = None) -> EventResult:
    return EventResult(ok=True, output=output)


def failed(error: str, error_type: str | None = None) -> EventResult:
    return EventResult(ok=False, error=error, error_type=error_type)


def activity(next_: str = "end", **fields: Any) -> dict[str, Any]:
    return {"kind": "activity", "activity": "demo.echo", "next": next_, **fields}


RETRY = {"max_attempts": 3, "backoff_s": 0.5, "multiplier": 3.0, "max_backoff_s": 10.0}

CASES = [
    # ---- activity -------------------------------------------------------------
    Case("activity parks with its input evaluated",
         {"a": activity(input={"x": "input.n", "missing": "input.nothing.here", "lit": "`7`"}), "end": END},
         Parked(ActivityWait(node="a", activity="demo.echo", input={"x": 3, "missing": None, "lit": 7})),
         [("a", "entered"), ("a", "parked")], input={"n": 3}),
    Case("activity with a retry policy and a timeout hands both to the reactor",
         {"a": activity(retry=RETRY, timeout_s=5), "end": END},
         Parked(ActivityWait(node="a", activity="demo.echo", timeout_s=5, max_attempts=3, backoff_s=0.5,
                             multiplier=3.0, max_backoff_s=10.0)),
         [("a", "entered"), ("a", "parked")]),
    Case("activity result stored in its output variable, then on to the end",
         {"a": activity(output="got"), "end": END},
         Finished("completed", {"got": {"y": 1}}),
         [("a", "resumed"), ("end", "entered"), ("end", "completed")], result=ok({"y": 1})),
    Case("activity result without an output variable is dropped",
         {"a": activity(), "end": END},
         Finished("completed", {}), [("a", "resumed"), ("end", "entered"), ("end", "completed")],
         result=ok({"y": 1})),
    Case("activity failure without retries fails the job",
         {"a": activity(), "end": END},
         Finished("failed", error="node 'a': activity 'demo.echo' failed: boom"),
         [("a", "resumed"), ("a", "failed")], result=failed("boom")),
    Case("activity failure after its retries ran out fails the job once",
         {"a": activity(retry=RETRY), "end": END},
         Finished("failed", error="node 'a': activity 'demo.echo' failed: boom (attempt 3)"),
         [("a", "resumed"), ("a", "failed")], result=failed("boom (attempt 3)")),
    Case("activity timeout fails the job",
         {"a": activity(timeout_s=5), "end": END},
         Finished("failed", error="node 'a': activity 'demo.echo' failed: activity timed out after 5 s (attempt 1)"),
         [("a", "resumed"), ("a", "failed")], result=failed("activity timed out after 5 s (attempt 1)")),
    Case("activity cancelled on its worker fails like any failure",
         {"a": activity(), "end": END},
         Finished("failed", error="node 'a': activity 'demo.echo' failed: activity cancelled: its job was cancelled"),
         [("a", "resumed"), ("a", "failed")], result=failed("activity cancelled: its job was cancelled")),
    Case("activity failed by an operator",
         {"a": activity(), "end": END},
         Finished("failed", error="node 'a': activity 'demo.echo' failed: stuck", ),
         [("a", "resumed"), ("a", "failed")], result=failed("stuck", "operator")),
    Case("activity on_bot runs on the bot the job holds",
         {"a": activity(on_bot=True), "end": END},
         Parked(ActivityWait(node="a", activity="demo.echo", bot="b1"), bot="b1"),
         [("a", "entered"), ("a", "parked")], bot="b1"),
    Case("activity on_bot without a bot fails the job",
         {"a": activity(on_bot=True), "end": END},
         Finished("failed", error="node 'a' runs on_bot but the job holds no bot"),
         [("a", "entered"), ("a", "failed")]),
    Case("activity input whose expression fails at run time fails the job",
         {"a": activity(input={"x": "abs(input.s)"}), "end": END},
         Finished("failed", error="node 'a': expression 'abs(input.s)' failed: In function abs(), invalid "
                  "type for value: text, expected one of: ['number'], received: \"string\""),
         [("a", "entered"), ("a", "failed")], input={"s": "text"}),
    # ---- branch ---------------------------------------------------------------
    Case("branch takes the first case that holds",
         {"a": {"kind": "branch", "default": "small",
                "cases": [{"when": "input.n > `100`", "next": "big"}, {"when": "input.n > `10`", "next": "mid"}]},
          "big": {"kind": "end", "output": "'big'"}, "mid": {"kind": "end", "output": "'mid'"},
          "small": {"kind": "end", "output": "'small'"}},
         Finished("completed", "mid"), [("a", "entered"), ("mid", "entered"), ("mid", "completed")],
         input={"n": 50}),
    Case("branch without a case that holds takes its default",
         {"a": {"kind": "branch", "default": "small", "cases": [{"when": "vars.big", "next": "big"}]},
          "big": {"kind": "end", "output": "'big'"}, "small": {"kind": "end", "output": "'small'"}},
         Finished("completed", "small"), [("a", "entered"), ("small", "entered"), ("small", "completed")]),
    Case("branch whose condition fails at run time fails the job",
         {"a": {"kind": "branch", "default": "end", "cases": [{"when": "abs(input.s)", "next": "end"}]}, "end": END},
         Finished("failed", error="node 'a': expression 'abs(input.s)' failed: In function abs(), invalid "
                  "type for value: t, expected one of: ['number'], received: \"string\""),
         [("a", "entered"), ("a", "failed")], input={"s": "t"}),
    Case("a loop without waits stops after MAX_STEPS",
         {"a": {"kind": "branch", "default": "a", "cases": []}},
         Finished("failed", error=f"job exceeded {MAX_STEPS} steps (a loop without waits?)"),
         [("a", "entered")] * MAX_STEPS + [("a", "failed")]),
    Case("steps count across parks: a job resumed near the bound stops at it",
         {"a": activity("b"), "b": {"kind": "branch", "default": "b", "cases": []}},
         Finished("failed", error=f"job exceeded {MAX_STEPS} steps (a loop without waits?)"),
         [("a", "resumed"), ("b", "entered"), ("b", "entered"), ("b", "failed")],
         result=ok(), steps=MAX_STEPS - 3),
    # ---- wait_signal ----------------------------------------------------------
    Case("wait_signal parks on its signal",
         {"a": {"kind": "wait_signal", "signal": "approve", "timeout_s": 60, "next": "end"}, "end": END},
         Parked(SignalWait(node="a", signal="approve", timeout_s=60)), [("a", "entered"), ("a", "parked")]),
    Case("signal data stored in the output variable",
         {"a": {"kind": "wait_signal", "signal": "approve", "output": "answer", "next": "end"}, "end": END},
         Finished("completed", {"answer": {"ok": True}}),
         [("a", "resumed"), ("end", "entered"), ("end", "completed")], result=ok({"ok": True})),
    Case("signal wait timeout fails the job",
         {"a": {"kind": "wait_signal", "signal": "approve", "timeout_s": 1, "next": "end"}, "end": END},
         Finished("failed", error="node 'a': signal 'approve': signal wait timed out"),
         [("a", "resumed"), ("a", "failed")], result=failed("signal wait timed out")),
    # ---- human_task ------------------------------------------------------------
    Case("human_task parks on a task wait with the value of its details",
         {"a": TASK, "end": END},
         Parked(TaskWait(node="a", title="Approve", assignee="group:finance", form=FORM, details={"n": 7})),
         [("a", "entered"), ("a", "parked")], input={"invoice": {"n": 7}}),
    Case("human_task escalates at due when it has somebody to escalate to",
         {"a": {**TASK, "due_s": 60, "escalate_to": "boss", "catch": [{"error": "timeout", "next": "end"}]},
          "end": END},
         Parked(TaskWait(node="a", title="Approve", assignee="group:finance", form=FORM, details={"n": 7},
                         due_s=60, escalate_to="boss", on_due="escalate")),
         [("a", "entered"), ("a", "parked")], input={"invoice": {"n": 7}}),
    Case("human_task with a catch on timeout fails at due",
         {"a": {**TASK, "due_s": 60, "catch": [{"error": "timeout", "next": "end"}]}, "end": END},
         Parked(TaskWait(node="a", title="Approve", assignee="group:finance", form=FORM, details=None,
                         due_s=60, on_due="fail")),
         [("a", "entered"), ("a", "parked")]),
    Case("human_task with only a catch-all goes overdue at due (the catch-all does not count)",
         {"a": {**TASK, "due_s": 60, "catch": [{"error": "*", "next": "end"}]}, "end": END},
         Parked(TaskWait(node="a", title="Approve", assignee="group:finance", form=FORM, details=None,
                         due_s=60, on_due="overdue")),
         [("a", "entered"), ("a", "parked")]),
    Case("a completed human_task puts its data in its output",
         {"a": TASK, "end": END},
         Finished("completed", {"answer": {"ok": True}}),
         [("a", "resumed"), ("end", "entered"), ("end", "completed")], result=ok({"ok": True})),
    Case("a human_task not done by its due time, with a catch on timeout, is routed",
         {"a": {**TASK, "due_s": 1, "catch": [{"error": "timeout", "next": "late", "output": "why"}]},
          "late": {"kind": "end", "output": "vars.why.type"}, "end": END},
         Finished("completed", "timeout"),
         [("a", "resumed"), ("a", "caught"), ("late", "entered"), ("late", "completed")],
         result=failed("human task not completed by its due time", "timeout")),
    # ---- sleep ----------------------------------------------------------------
    Case("sleep parks on a timer",
         {"a": {"kind": "sleep", "seconds": 2.5, "next": "end"}, "end": END},
         Parked(TimerWait(node="a", seconds=2.5)), [("a", "entered"), ("a", "parked")]),
    Case("sleep of zero seconds does not park",
         {"a": {"kind": "sleep", "seconds": 0, "next": "end"}, "end": END},
         Finished("completed", {}), [("a", "entered"), ("end", "entered"), ("end", "completed")]),
    Case("sleep over goes on",
         {"a": {"kind": "sleep", "seconds": 1, "next": "end"}, "end": END},
         Finished("completed", {}), [("a", "resumed"), ("end", "entered"), ("end", "completed")], result=ok()),
    Case("sleep failed by an operator fails the job",
         {"a": {"kind": "sleep", "seconds": 1, "next": "end"}, "end": END},
         Finished("failed", error="node 'a': sleep: not today"),
         [("a", "resumed"), ("a", "failed")], result=failed("not today", "operator")),
    # ---- bots -----------------------------------------------------------------
    Case("lock_bot parks on its pool",
         {"a": {"kind": "lock_bot", "pool": "p", "timeout_s": 30, "next": "end"}, "end": END},
         Parked(BotLockWait(node="a", pool="p", timeout_s=30)), [("a", "entered"), ("a", "parked")]),
    Case("a granted bot is held, and the next on_bot activity runs on it",
         {"a": {"kind": "lock_bot", "pool": "p", "output": "lock", "next": "b"},
          "b": activity(on_bot=True), "end": END},
         Parked(ActivityWait(node="b", activity="demo.echo", bot="b7"), vars={"lock": {"bot": "b7"}}, bot="b7"),
         [("a", "resumed"), ("b", "entered"), ("b", "parked")], result=ok({"bot": "b7"})),
    Case("lock_bot timeout fails the job",
         {"a": {"kind": "lock_bot", "pool": "p", "timeout_s": 1, "next": "end"}, "end": END},
         Finished("failed", error="node 'a': lock_bot 'p': timed out waiting for a bot"),
         [("a", "resumed"), ("a", "failed")], result=failed("timed out waiting for a bot")),
    Case("a grant that names no bot fails the job",
         {"a": {"kind": "lock_bot", "pool": "p", "next": "end"}, "end": END},
         Finished("failed", error="node 'a': lock_bot 'p' was granted no bot (got 'b7')"),
         [("a", "resumed"), ("a", "failed")], result=ok("b7")),
    Case("unlock_bot releases the bot held, and the next park holds none",
         {"a": {"kind": "unlock_bot", "next": "b"}, "b": {"kind": "sleep", "seconds": 1, "next": "end"}, "end": END},
         Parked(TimerWait(node="b", seconds=1), release=["b1"]),
         [("a", "entered"), ("b", "entered"), ("b", "parked")], bot="b1"),
    Case("unlock_bot without a bot releases nothing",
         {"a": {"kind": "unlock_bot", "next": "end"}, "end": END},
         Finished("completed", {}), [("a", "entered"), ("end", "entered"), ("end", "completed")]),
    # ---- end and fail ---------------------------------------------------------
    Case("end evaluates its output over input and variables",
         {"a": {"kind": "end", "output": "{n: input.n, v: vars.v}"}},
         Finished("completed", {"n": 1, "v": 2}), [("a", "entered"), ("a", "completed")],
         input={"n": 1}, vars={"v": 2}),
    Case("end without output completes with none",
         {"a": {"kind": "end"}}, Finished("completed"), [("a", "entered"), ("a", "completed")]),
    Case("fail node fails the job with its error",
         {"a": {"kind": "fail", "error": "refused by policy"}},
         Finished("failed", error="refused by policy"), [("a", "entered"), ("a", "failed")]),
    # ---- set and catch (more in tests/language) -------------------------------
    Case("set assigns each variable from an expression",
         {"a": {"kind": "set", "vars": {"x": "input.n", "y": "`[1, 2]`"}, "next": "end"}, "end": END},
         Finished("completed", {"x": 3, "y": [1, 2]}), [("a", "entered"), ("end", "entered"), ("end", "completed")],
         input={"n": 3}),
    Case("catch routes a business failure, with its error, class, code and node",
         {"a": activity(catch=[{"error": "timeout", "next": "end"},
                               {"error": "business", "output": "why", "next": "end"}]), "end": END},
         Finished("completed", {"why": {"error": "no", "type": "business", "code": "C1", "node": "a"}}),
         [("a", "resumed"), ("a", "caught"), ("end", "entered"), ("end", "completed")],
         result=EventResult(ok=False, error="no", error_type="business", error_code="C1")),
    Case("catch without a matching class fails the job",
         {"a": activity(catch=[{"error": "timeout", "next": "end"}]), "end": END},
         Finished("failed", error="node 'a': activity 'demo.echo' failed: boom"),
         [("a", "resumed"), ("a", "failed")], result=failed("boom")),
    # ---- results that do not fit the checkpoint -------------------------------
    Case("a result at a node that does not wait fails the job, not the next wait",
         {"a": {"kind": "branch", "default": "b", "cases": []}, "b": activity(), "end": END},
         Finished("failed", error="node 'a' (branch) does not wait, but the job was resumed there with a result"),
         [("a", "resumed"), ("a", "failed")], result=ok({"stray": True})),
    Case("a checkpoint at a node the workflow does not have fails the job",
         {"a": {"kind": "end"}},
         Finished("failed", error="the job is at node 'gone', which its workflow does not have"),
         [("gone", "resumed"), ("gone", "failed")], at="gone", result=ok()),
]


def workflow(nodes: Nodes) -> Workflow:
    flow = {"name": "table", "start": "a", "nodes": nodes}
    if any(n.get("on_bot") for n in nodes.values()) and not any(n["kind"] == "lock_bot" for n in nodes.values()):
        # Refused at submit (no route holds a bot); read as a stored one, to test the run-time check.
        return decode_workflow(flow, check_names=False)
    return decode_workflow(flow)


def run(case: Case) -> Park | Finish:
    checkpoint = Checkpoint(node=case.at, vars=case.vars, bot=case.bot, steps=case.steps)
    fired = [] if case.result is None else [FiredEvent(event_id="j~1.0", result=case.result)]
    return advance(workflow(case.nodes), checkpoint, case.input, fired, build="b-1")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_advance(case: Case) -> None:
    step = run(case)
    match case.expect:
        case Parked(wait=wait, vars=variables, bot=bot, release=release):
            assert isinstance(step, Park), step
            assert step.waits == [wait]
            assert step.checkpoint.node == wait.node
            assert step.checkpoint.vars == variables
            assert step.checkpoint.bot == bot
            assert step.release_bots == release
        case Finished(status=status, output=output, error=error):
            assert isinstance(step, Finish), step
            assert (step.status, step.output, step.error) == (status, output, error)
            assert step.history[-1].detail == (error or "")
    assert [(h.node, h.event) for h in step.history] == case.history
    assert {h.build for h in step.history} == {"b-1"}


def test_steps_carry_into_the_checkpoint() -> None:
    """The step count parks with the job, so that a loop through waits is bounded too."""
    step = run(Case("", {"a": {"kind": "branch", "default": "b", "cases": []},
                         "b": {"kind": "sleep", "seconds": 1, "next": "a"}},
                    Finished("completed"), [], steps=40))
    assert isinstance(step, Park)
    assert step.checkpoint.steps == 42


def test_advance_leaves_the_checkpoint_it_was_given_alone() -> None:
    """The executor may offer the same checkpoint again (a redelivered wake): it must not change."""
    checkpoint = Checkpoint(node="a", vars={"keep": 1})
    flow = workflow({"a": activity(output="got"), "end": END})
    advance(flow, checkpoint, {}, [FiredEvent(event_id="j~1.0", result=ok(2))])
    assert checkpoint.vars == {"keep": 1}
