# SPDX-License-Identifier: Apache-2.0
"""Text forms of the reports that more than one front end prints: the CLI commands and
`make bench` (benchmarks.py). Each report's data is a dict or dataclass that the --json twin
prints as it is."""

from __future__ import annotations

from mcu_mobilenet.sweep.results import Point
from mcu_mobilenet.table import format_table


def format_bench_report(report: dict) -> str:
    """The report of `workflow.benchmark.bench_on_board`."""
    unit = report["time_unit"]
    memory = report["memory"]
    rows = [
        [f"{unit} per inference (median)", report["time_per_inference"]],
        [f"{unit} min / max", f"{report['time_min']:,} / {report['time_max']:,}"],
        [f"{unit} per mult-add", report["time_per_mac"]],
        ["mult-adds", report["macs"]],
        ["flash: weights", memory["flash_weights"]],
        ["flash: code and data", memory["flash_code_and_data"]],
        ["flash: total", memory["flash_total"]],
        ["  of which inference code (kernels, model code)", memory["flash_inference_code"]],
        ["RAM: arena (activations and scratch)", memory["ram_arena"]],
        ["  of which scratch", report["scratch_bytes"]],
        ["RAM: static data", memory["ram_static"]],
        ["RAM: stack reserved (used)", f"{memory['ram_stack']:,} ({report['stack_bytes_used']:,})"],
        ["RAM: total", memory["ram_total"]],
    ]
    if report["tflm_arena_bytes"] is not None:
        rows.append(["TFLM arena, for comparison", report["tflm_arena_bytes"]])
    note = (
        "emulated instructions, not cycles"
        if unit == "instructions"
        else "core clock cycles (DWT CYCCNT)"
    )
    title = (
        f"{report['model']} on {report['board']} ({report['backend']} backend), "
        f"{report['runs']} runs ({note})"
    )
    return title + "\n" + format_table(["figure", "value"], rows, right={1})


def format_sweep_points(points: list[Point]) -> str:
    """One row per sweep point: accuracy, mult-adds, parameters, flash, RAM and time."""

    def percent(value):
        return "" if value is None else f"{100 * value:.1f}"

    rows = [
        [
            p.alpha,
            p.resolution,
            p.status,
            percent(p.float_accuracy),
            percent(p.int8_accuracy),
            p.macs or "",
            p.params or "",
            p.flash_bytes or "",
            p.ram_bytes or "",
            f"{p.time_per_inference:,} {p.time_unit}" if p.time_per_inference else "",
            p.error if p.status != "done" else "",
        ]
        for p in points
    ]
    headers = [
        "alpha",
        "res",
        "status",
        "float %",
        "int8 %",
        "MACs",
        "params",
        "flash B",
        "RAM B",
        "time",
        "note",
    ]
    if any(p.worker for p in points):  # a cluster sweep: which worker ran each point
        headers.insert(-1, "worker")
        for row, point in zip(rows, points, strict=True):
            row.insert(-1, point.worker)
    return format_table(headers, rows, right={0, 1, 3, 4, 5, 6, 7, 8, 9})
