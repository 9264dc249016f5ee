# SPDX-License-Identifier: Apache-2.0
"""Timing a model on a board: the figures `bench`, the sweep and `make bench` report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mcu_mobilenet.boards import Board
from mcu_mobilenet.oracle import tflm_arena_bytes
from mcu_mobilenet.tensor_info import TensorInfo
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


def seeded_random_input(tensor: TensorInfo, seed: int = 0) -> tuple[str, np.ndarray]:
    return f"random (seed {seed})", random_inputs(tensor, 1, seed)[0]


def profile_on_board(
    model_path: str | Path,
    board: Board,
    backend: str,
    port: str | None = None,
    timeout: float | None = None,
    flash: bool = True,
    choose_input: Callable[[TensorInfo], tuple[str, np.ndarray]] = seeded_random_input,
) -> dict:
    """Builds, runs one input with the timer read after every layer: each layer's time,
    share and time per mult-add."""

    with open_session(model_path, board, port, backend, timeout, flash) as session:
        name, sample = choose_input(session.built.input)
        reply = session.client.profile(sample.tobytes())
        layer_names = session.client.info().layer_names
        compiled_layers = session.built.compile_report["layers"]
        output = session.output_values(reply.output)
        backend_used = session.built.compile_report["backend"]
    total = board.ticks_to_time(reply.ticks)
    layers = []
    for index, ticks in enumerate(reply.layer_ticks):
        time = board.ticks_to_time(ticks)
        compiled = compiled_layers[index] if index < len(compiled_layers) else {}
        macs = compiled.get("macs", 0)
        layers.append(
            {
                "index": index,
                "op": layer_names[index],
                "kernel": compiled.get("kernel", ""),
                "macs": macs,
                "time": time,
                "share": round(time / total, 4) if total else 0.0,
                "time_per_mac": round(time / macs, 3) if macs else None,
            }
        )
    return {
        "model": str(model_path),
        "board": board.name,
        "backend": backend_used,
        "input": name,
        "time_unit": board.time_unit,
        "time_per_inference": total,
        "output": output.tolist(),
        "layers": layers,
    }
