"""The benchmark's output: a table of engine figures beside the floor, or one JSON line."""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table

__all__ = ["print_json", "print_table"]

# (engine key, label, unit, floor key the figure is compared with, target text)
ROWS = [
    ("activities_per_s", "activity round trips", "/s", "floor_rr64_per_s", ">= 3,000/s"),
    ("jobs_per_s", "jobs (chain of M)", "/s", None, ""),
    ("step_p50_ms", "step p50 (one job at a time)", "ms", "floor_rr_p50_ms", "<= 5x bare request/reply"),
    ("step_p99_ms", "step p99", "ms", "floor_rr_p50_ms", "< 15 ms"),
    ("wake_p50_ms", "wake p50 (result -> resumed)", "ms", "floor_rr_p50_ms", "< 1.5 ms"),
    ("wake_p99_ms", "wake p99", "ms", "floor_rr_p50_ms", ""),
    ("fan_out_activities_per_s", "fan-out: one job mapping N items", "/s", None, ">= 80 % of the next"),
    ("fan_out_independent_activities_per_s", "fan-out: N one-activity jobs", "/s", None, ""),
    ("fan_out_share_pct", "fan-out: map / independent jobs", "%", None, ">= 80 %"),
    ("unlimited_jobs_per_s", "limits: one-activity jobs, no limit", "/s", None, ""),
    ("limited_jobs_per_s", "limits: the same under a limit (never full)", "/s", None, ""),
    ("limited_overhead_pct", "limits: throughput lost to the limit", "%", None, "small"),
    ("limited_extra_script_calls_per_job", "limits: extra Redis script calls per job", "", None, "<= 1"),
    ("limited_extra_commands_in_redis_per_job", "limits: extra commands inside those scripts", "", None, ""),
    ("recovery_jobs_per_s", "recovery (fired, no executor)", "jobs/s", None, ">= 2,000 jobs/s"),
    ("redis_bytes_per_wait", "Redis per parked wait", "B", None, "<= 1,024 B"),
    ("redis_bytes_per_finished_job", "Redis per finished job (until EE_RETENTION)", "B", None, ""),
]
FLOOR = [
    ("floor_rr_p50_ms", "bare request/reply p50", "ms"),
    ("floor_rr64_per_s", "bare request/reply, 64 in flight", "/s"),
    ("floor_js_pub_p50_ms", "bare JetStream publish+ack p50", "ms"),
    ("floor_js_pub64_per_s", "bare JetStream publish+ack, 64 in flight", "/s"),
    ("floor_redis_lua_p50_ms", "bare Redis Lua write p50", "ms"),
    ("floor_redis_lua_pipelined_per_s", "bare Redis Lua write, pipelined", "/s"),
]


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def print_table(figures: dict[str, float], runs: int) -> None:
    console = Console()
    table = Table(title=f"ee bench (medians of {runs} run{'s' if runs > 1 else ''})")
    for column in ("figure", "engine", "floor", "ratio", "target"):
        table.add_column(column, justify="right" if column in ("engine", "floor", "ratio") else "left")
    for key, label, unit, floor_key, target in ROWS:
        value = figures.get(key)
        floor = figures.get(floor_key) if floor_key else None
        ratio = f"{value / floor:.2f}x" if value is not None and floor else ""
        table.add_row(label, f"{_fmt(value)} {unit}", f"{_fmt(floor)} {unit}" if floor else "", ratio, target)
    console.print(table)
    floor_table = Table(title="the floor, same servers, same run")
    floor_table.add_column("raw part")
    floor_table.add_column("figure", justify="right")
    for key, label, unit in FLOOR:
        floor_table.add_row(label, f"{_fmt(figures.get(key))} {unit}")
    console.print(floor_table)
    cpu = {k: v for k, v in figures.items() if k.startswith("cpu_us_per_activity_")}
    if cpu:
        cpu_table = Table(title="CPU per activity during the throughput run")
        cpu_table.add_column("process")
        cpu_table.add_column("µs", justify="right")
        for key, value in sorted(cpu.items()):
            cpu_table.add_row(key.removeprefix("cpu_us_per_activity_"), _fmt(value))
        cpu_table.add_row("total", _fmt(sum(cpu.values())))
        console.print(cpu_table)


def print_json(figures: dict[str, float]) -> None:
    print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else round(v, 4))
                      for k, v in figures.items()}))
