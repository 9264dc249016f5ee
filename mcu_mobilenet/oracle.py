# SPDX-License-Identifier: Apache-2.0
"""The correctness oracle: TFLM's reference interpreter, run in a child process.

TFLM aborts the whole process (SIGABRT, no exception) on some models, for example a softmax
whose input scale is tiny. A child process turns that into a readable error and keeps the
caller alive. Inputs and outputs cross the boundary as .npy files in a temporary folder.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from mcu_mobilenet import processes
from mcu_mobilenet.errors import UserError


class OracleError(UserError):
    """TFLM could not run the model."""


def run_tflm(model_path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """Runs each of `inputs` (shape [N, *input_shape]) through TFLM; returns [N, *output_shape]."""
    with tempfile.TemporaryDirectory(prefix="mcu-oracle-") as tmp:
        np.save(Path(tmp) / "inputs.npy", inputs)
        _run_worker(model_path, tmp, "outputs")
        return np.load(Path(tmp) / "outputs.npy")


def run_tflm_all_tensors(
    model_path: str | Path, single_input: np.ndarray, tensor_indices: list[int]
) -> dict[int, np.ndarray]:
    """Runs one input with every intermediate tensor kept; returns {tensor index: value}.

    TFLM crashes when asked for a tensor that does not exist, so the caller names them.
    """
    with tempfile.TemporaryDirectory(prefix="mcu-oracle-") as tmp:
        np.save(Path(tmp) / "inputs.npy", single_input[np.newaxis])
        np.save(Path(tmp) / "indices.npy", np.asarray(tensor_indices, dtype=np.int64))
        _run_worker(model_path, tmp, "tensors")
        with np.load(Path(tmp) / "tensors.npz") as archive:
            return {int(name[1:]): archive[name] for name in archive.files}


def tflm_arena_bytes(model_path: str | Path) -> int | None:
    """The arena TFLM's reference interpreter allocates for the model (its recording
    allocator's total, printed from C++); None if TFLM cannot run the model."""
    with tempfile.TemporaryDirectory(prefix="mcu-oracle-") as tmp:
        try:
            result = _run_worker(model_path, tmp, "arena")
        except OracleError:
            return None
    match = re.search(r"Arena allocation total (\d+) bytes", result.stdout + result.stderr)
    return int(match.group(1)) if match else None


def _run_worker(model_path: str | Path, tmp: str, mode: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mcu_mobilenet.oracle", mode, str(model_path), tmp]
    result = processes.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        return result
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        raise OracleError(
            f"the TFLM reference interpreter died with {name} on {model_path} "
            "(TFLM aborts on models it cannot prepare, for example a softmax input scale that "
            "is too small; train the model for a few steps before converting it)"
        )
    last = (result.stderr.strip().splitlines() or ["no message"])[-1]
    raise OracleError(f"the TFLM reference interpreter failed on {model_path}: {last}")


def _worker(mode: str, model_path: str, tmp: str) -> None:
    from tflite_micro.python.tflite_micro import runtime

    if mode == "arena":  # the default arena size, as a TFLM user would see it
        interpreter = runtime.Interpreter.from_file(model_path)
        details = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
        interpreter.invoke()
        sys.stdout.flush()
        interpreter.print_allocations()
        return
    inputs = np.load(Path(tmp) / "inputs.npy")
    config = (
        runtime.InterpreterConfig.kPreserveAllTensors
        if mode == "tensors"
        else runtime.InterpreterConfig.kAllocationRecording
    )
    # TFLM's own arena-size guess is too small for some models (and for keeping every tensor).
    arena_size = 8 * 1024 * 1024 + 4 * Path(model_path).stat().st_size
    interpreter = runtime.Interpreter.from_file(
        model_path, arena_size=arena_size, intrepreter_config=config
    )
    outputs = []
    for sample in inputs:
        interpreter.set_input(sample[np.newaxis], 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0)[0])
    if mode == "outputs":
        np.save(Path(tmp) / "outputs.npy", np.stack(outputs))
        return
    tensors = {}
    for index in np.load(Path(tmp) / "indices.npy"):
        tensors[f"t{index}"] = interpreter.GetTensor(int(index), 0)["tensor_data"]
    np.savez(Path(tmp) / "tensors.npz", **tensors)


if __name__ == "__main__":
    _worker(*sys.argv[1:4])
