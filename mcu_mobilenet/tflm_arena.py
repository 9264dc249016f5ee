"""TFLM's arena size for a model, for comparison in reports.

TFLM's recording allocator prints its totals from C++ (to stderr), so it runs in a child
process whose output is parsed (and an abort there cannot take the caller down)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np


def tflm_arena_bytes(model_path: str | Path) -> int | None:
    """Arena bytes TFLM's reference interpreter allocates; None if TFLM cannot run it."""
    command = [sys.executable, "-m", "mcu_mobilenet.tflm_arena", str(model_path)]
    result = subprocess.run(command, capture_output=True, text=True)
    match = re.search(r"Arena allocation total (\d+) bytes", result.stdout + result.stderr)
    return int(match.group(1)) if match and result.returncode == 0 else None


def _print_allocations(model_path: str) -> None:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(
        model_path, intrepreter_config=runtime.InterpreterConfig.kAllocationRecording
    )
    details = interpreter.get_input_details(0)
    interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
    interpreter.invoke()
    sys.stdout.flush()
    interpreter.print_allocations()


if __name__ == "__main__":
    _print_allocations(sys.argv[1])
