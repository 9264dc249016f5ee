"""Flash, RAM and time of family members on a board, without training them.

- Arena, scratch, weights and mult-adds: exact, from compiling the family's graph for the
  board's backend and CPU.
- Code and static data: read from the ELF of one real firmware build for the board (the
  firmware is the same for every family member but its model's constants and arena).
- Time: a cost model (cost_model.py) fitted to per-layer times that the board itself
  measured (PROFILE) on a briefly trained MobileNet; the fit is cached per board, backend and
  compiler and kernel sources in ~/.cache/mcu-mobilenet.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mcu_mobilenet import __version__
from mcu_mobilenet.boards import Board
from mcu_mobilenet.compiler import TARGETED_BACKENDS, Compilation, compile_graph
from mcu_mobilenet.io import write_text_atomically
from mcu_mobilenet.model.family import MobileNetConfig
from mcu_mobilenet.paths import FIRMWARE_DIR, PROJECT_ROOT
from mcu_mobilenet.sweep.cost_model import CostModel, fit_cost_model
from mcu_mobilenet.sweep.family_graph import family_graph

# Two MobileNets, one wide and small, one narrow and large, so the fit sees both regimes.
CALIBRATION_MODELS = (
    dict(alpha=1.0, resolution=32, channels=3, classes=4),
    dict(alpha=0.25, resolution=96, channels=3, classes=4),
)


def plan_member(
    config: MobileNetConfig, backend: str = "portable", board: Board | None = None
) -> Compilation:
    """The family member compiled (not written) for the backend and the board's CPU."""
    from mcu_mobilenet.compiler.target import board_target

    target = board_target(board) if backend in TARGETED_BACKENDS and board is not None else None
    return compile_graph(family_graph(config), backend, target)


def macs(member: Compilation) -> int:
    return sum(layer.macs for layer in member.layers)


def weights_bytes(member: Compilation) -> int:
    return sum(layer.weight_bytes for layer in member.layers)


@dataclass(frozen=True)
class FirmwareOverhead:
    """Bytes the firmware needs beside the model's constants and arena."""

    flash_code_and_data: int
    ram_static: int
    ram_stack: int


def firmware_overhead(board: Board, backend: str = "portable") -> FirmwareOverhead:
    """Builds the firmware once around the smallest family member and reads its ELF."""
    from mcu_mobilenet.compiler import write_sources
    from mcu_mobilenet.firmware_build import ModelSources, build_firmware

    member = plan_member(MobileNetConfig(alpha=0.25, resolution=32, classes=2), backend, board)
    with tempfile.TemporaryDirectory(prefix="mcu-overhead-") as tmp:
        result = write_sources(member, Path(tmp) / "model")
        sources = ModelSources(tuple(result.sources), tuple(result.include_dirs), "model")
        memory = build_firmware(board, sources, Path(tmp), "a reference model").memory
    return FirmwareOverhead(memory.flash_code_and_data, memory.ram_static, memory.ram_stack)


def calibrated_cost_model(board: Board, backend: str, port: str | None = None) -> CostModel:
    """The board's cost model, from the cache or from a new PROFILE run."""
    cache = _cache_dir() / f"cost-{board.name}-{backend}-{_kernels_hash()}.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
        return CostModel(tuple(data["coefficients"]), data["time_unit"], data["samples"])
    model = _measure_cost_model(board, backend, port)
    write_text_atomically(cache, json.dumps(model.to_json(), indent=2) + "\n", force=True)
    return model


def _measure_cost_model(board: Board, backend: str, port: str | None) -> CostModel:
    from mcu_mobilenet.compiler import analyze
    from mcu_mobilenet.compiler.target import board_target
    from mcu_mobilenet.harness.session import open_session
    from mcu_mobilenet.model.quick import make_quantized_mobilenet
    from mcu_mobilenet.validation import random_inputs

    target = board_target(board) if backend in TARGETED_BACKENDS else None
    measurements = []
    with tempfile.TemporaryDirectory(prefix="mcu-calibrate-") as tmp:
        for number, settings in enumerate(CALIBRATION_MODELS):
            print(
                f"calibrating the time model on {board.name}: profiling MobileNet alpha "
                f"{settings['alpha']}, {settings['resolution']}x{settings['resolution']}",
                file=sys.stderr,
            )
            tflite = make_quantized_mobilenet(
                Path(tmp) / f"calibration{number}.tflite", steps=2, **settings
            )
            layers = analyze(tflite, backend, target).layers
            with open_session(tflite, board, port, backend) as session:
                sample = random_inputs(session.built.input, 1, 0)[0]
                reply = session.client.profile(sample.tobytes())
            times = [board.ticks_to_time(ticks) for ticks in reply.layer_ticks]
            measurements += list(zip(layers, times, strict=True))
    return fit_cost_model(measurements, board.time_unit)


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mcu-mobilenet"


def _kernels_hash() -> str:
    """Changes whenever the tool, the compiler, the cost model or any kernel or harness source
    changes."""
    digest = hashlib.sha256(__version__.encode())
    folders = (FIRMWARE_DIR, PROJECT_ROOT / "codegen", PROJECT_ROOT / "mcu_mobilenet" / "compiler")
    files = [path for folder in folders for path in folder.rglob("*")]
    files.append(PROJECT_ROOT / "mcu_mobilenet" / "sweep" / "cost_model.py")
    for path in sorted(files):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
