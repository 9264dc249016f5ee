# SPDX-License-Identifier: Apache-2.0
"""Timing a model on a board: the figures `bench`, the sweep and `make bench` report."""

from __future__ import annotations

from pathlib import Path

from mcu_mobilenet.boards import Board
from mcu_mobilenet.oracle import tflm_arena_bytes
from mcu_mobilenet.workflow.inputs import random_inputs
from mcu_mobilenet.workflow.session import open_session


def bench_on_board(
    model_path: str | Path,
    board: Board,
    backend: str,
    port: str | None = None,
    timeout: float | None = None,
    flash: bool = True,
    runs: int = 5,
    seed: int = 0,
    tflm: bool = True,
) -> dict:
    """Builds, runs `runs` timed inferences of one seeded random input, and reads the ELF."""

    with open_session(model_path, board, port, backend, timeout, flash) as session:
        sample = random_inputs(session.built.input, 1, seed)[0]
        reply = session.client.bench(sample.tobytes(), runs)
        built = session.built
    memory = built.firmware.memory
    macs = built.compile_report["macs"]
    median = board.ticks_to_time(reply.median_ticks)
    return {
        "model": str(model_path),
        "board": board.name,
        "backend": built.compile_report["backend"],
        "time_unit": board.time_unit,
        "time_per_inference": median,
        "time_min": board.ticks_to_time(reply.min_ticks),
        "time_max": board.ticks_to_time(reply.max_ticks),
        "runs": reply.runs,
        "time_per_mac": round(median / macs, 3) if macs else None,
        "macs": macs,
        "flash_bytes": memory.flash_total,
        "ram_bytes": memory.ram_total,
        "arena_bytes": memory.ram_arena,
        "scratch_bytes": built.compile_report["scratch_bytes"],
        "stack_bytes_used": reply.stack_used,
        "memory": memory.to_json(),
        "tflm_arena_bytes": tflm_arena_bytes(model_path) if tflm else None,
    }
