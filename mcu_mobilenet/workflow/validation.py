# SPDX-License-Identifier: Apache-2.0
"""Bit-exactness checks of generated code against the TFLM reference interpreter.

`validate_on_board` runs the inputs on a board (emulated or real) and compares its outputs
with TFLM's. `validate_on_host` compiles a model, builds the generated C with the host gcc under
AddressSanitizer and UndefinedBehaviorSanitizer, runs seeded random inputs and the given
images through it and through TFLM, and compares every output byte. With `per_layer`, every
intermediate tensor of the first input is compared too and the first layer that differs is
named.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcu_mobilenet import oracle, processes
from mcu_mobilenet.boards import Board, load_board
from mcu_mobilenet.compiler.backends import registry
from mcu_mobilenet.compiler.target import HOST
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.paths import FIRMWARE_DIR
from mcu_mobilenet.tensor_info import TensorInfo
from mcu_mobilenet.toolchain import HOST_GCC
from mcu_mobilenet.workflow.compile import CompileResult, compile_model
from mcu_mobilenet.workflow.inputs import make_samples
from mcu_mobilenet.workflow.session import open_session

HOST_DIR = FIRMWARE_DIR / "host"
HOST_CFLAGS = [
    "-std=c99",
    "-O1",
    "-g",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
# CMSIS-NN shifts negative values left (its softmax, for one). GCC defines that as two's
# complement arithmetic (its manual, "Integers implementation"), so UBSan's shift-base check is
# turned off for CMSIS-NN's own files, and for nothing else.
LIBRARY_HOST_RELAXATIONS = ["-fno-sanitize=shift-base"]


@dataclass
class Mismatch:
    input_name: str
    differing_bytes: int
    first_index: tuple[int, ...]
    ours: int
    reference: int


@dataclass
class LayerMismatch:
    index: int
    op: str
    differing_bytes: int
    total_bytes: int


@dataclass
class ValidationReport:
    model: str
    target: str
    inputs: int
    bit_exact: int
    mismatches: list[Mismatch] = field(default_factory=list)
    first_layer_mismatch: LayerMismatch | None = None
    layers_compared: int = 0
    outputs: list[dict] = field(default_factory=list)  # per input: name, ours, reference

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.first_layer_mismatch is None


def build_host_runner(result: CompileResult, build_dir: Path) -> Path:
    compiler = shutil.which(HOST_GCC)
    if compiler is None:
        raise UserError("gcc not found; install it (make setup) to validate on the host")
    executable = build_dir / "host_runner"
    includes = [f"-I{d}" for d in result.include_dirs]
    library_sources = list(result.library_sources or [])
    library_objects = _compile_library(compiler, library_sources, includes, build_dir / "library")
    command = [
        compiler,
        *HOST_CFLAGS,
        f'-DMM_MODEL_HEADER="{result.prefix}_model.h"',
        f"-DMM_PREFIX={result.prefix}",
        f"-DMM_PREFIX_UPPER={result.prefix.upper()}",
        "-include",
        str(HOST_DIR / "host_trace.h"),
        *includes,
        *(str(source) for source in result.sources if source not in library_sources),
        *map(str, library_objects),
        str(HOST_DIR / "host_runner.c"),
        "-o",
        str(executable),
        "-lm",
    ]
    completed = processes.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise _build_failure("the generated code", compiler, completed.stderr)
    return executable


def _build_failure(what: str, compiler: str, log: str) -> UserError:
    """One line: the first compiler error, and where the whole log is kept."""
    errors = [line for line in log.splitlines() if "error" in line] or log.splitlines() or ["?"]
    handle, log_path = tempfile.mkstemp(prefix="mcu-mobilenet-build-", suffix=".log")
    with os.fdopen(handle, "w") as file:
        file.write(log)
    return UserError(
        f"{what} does not build with {compiler} ({errors[0].strip()[:200]}); the whole log is "
        f"in {log_path}. With gcc 10 or later this is a bug of mcu-mobilenet: please report it "
        "with that log"
    )


def _compile_library(
    compiler: str, sources: list[Path], includes: list[str], object_dir: Path
) -> list[Path]:
    """The library's sources (CMSIS-NN's), compiled on their own with LIBRARY_HOST_RELAXATIONS."""
    if not sources:
        return []
    object_dir.mkdir(parents=True, exist_ok=True)
    command = [
        compiler, *HOST_CFLAGS, *LIBRARY_HOST_RELAXATIONS, *includes, "-c", *map(str, sources)
    ]  # fmt: skip
    completed = processes.run(command, capture_output=True, text=True, cwd=object_dir)
    if completed.returncode != 0:
        raise _build_failure("CMSIS-NN's sources", compiler, completed.stderr)
    return [object_dir / f"{source.stem}.o" for source in sources]


class KnownLibraryIssue(UserError):
    """Undefined behaviour inside a third-party library (CMSIS-NN), stopped by UBSan."""


# A sanitizer's report: "path/file.h:1538:19: runtime error: signed integer overflow: ..."
_SANITIZER_REPORT = re.compile(
    r"^(?P<file>[^\s:]+):(?P<line>\d+):\d+: runtime error: (?P<what>.*)$", re.M
)


def _raise_known_library_issue(report: str, library: tuple[Path, str]) -> None:
    """CMSIS-NN v7.0.0 computes `(1 << 31) - 1` for a requantization shift of -31
    (arm_nn_divide_by_power_of_two in arm_nnsupportfunctions.h): signed overflow, which the
    host build's UBSan stops. Said on one line as the library's issue, not as a crash."""
    folder, version = library
    match = _SANITIZER_REPORT.search(report)
    if match is None or folder not in Path(match["file"]).parents:
        return
    raise KnownLibraryIssue(
        f"known issue of CMSIS-NN {version}, not of the model or of mcu-mobilenet: its "
        f"{Path(match['file']).name}:{match['line']} has undefined behaviour on this model "
        f"({match['what'][:120]}), which the host check's UndefinedBehaviorSanitizer stops; "
        "validate the cmsis-nn backend on a board (--board NAME), or this host check with "
        "--backend portable"
    )


def run_host_runner(
    executable: Path,
    inputs: np.ndarray,
    output: TensorInfo,
    trace: bool = False,
    library: tuple[Path, str] | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Runs the host build; `library` (its folder in the output, its version) names a
    third-party library whose own undefined behaviour is a known issue, not a crash."""
    with tempfile.TemporaryDirectory(prefix="mcu-host-") as tmp:
        tmp = Path(tmp)
        (tmp / "inputs.bin").write_bytes(np.ascontiguousarray(inputs).tobytes())
        command = [str(executable), str(tmp / "inputs.bin"), str(tmp / "outputs.bin")]
        if trace:
            command.append(str(tmp / "trace.bin"))
        try:
            completed = processes.run(command, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise UserError(
                f"the generated code ran {len(inputs)} inputs for more than 600 s on the host; "
                "give fewer --inputs"
            ) from None
        if completed.returncode != 0:
            if library is not None:
                _raise_known_library_issue(completed.stderr, library)
            # Our own kernels or generated code failed a sanitizer check: a bug.
            raise RuntimeError(
                f"the generated code failed at run time (exit {completed.returncode}):\n"
                f"{completed.stderr[-4000:]}"
            )
        dtype = np.float32 if output.dtype == "float32" else np.int8
        outputs = np.frombuffer((tmp / "outputs.bin").read_bytes(), dtype=dtype)
        outputs = outputs.reshape(len(inputs), *output.shape[1:])
        layers = _read_trace(tmp / "trace.bin") if trace else {}
    return outputs, layers


def _read_trace(path: Path) -> dict[int, np.ndarray]:
    data = path.read_bytes()
    layers, position = {}, 0
    while position < len(data):
        index, size = np.frombuffer(data, dtype=np.int32, count=2, offset=position)
        position += 8
        layers[int(index)] = np.frombuffer(data, dtype=np.uint8, count=size, offset=position)
        position += int(size)
    return layers


def validate_on_host(
    model_path: str | Path,
    inputs: int = 10,
    images: list[Path] | None = None,
    seed: int = 0,
    per_layer: bool = False,
    pixel_format: str = "model",
    backend: str = registry.DEFAULT,
) -> ValidationReport:
    with tempfile.TemporaryDirectory(prefix="mcu-validate-") as tmp:
        work = Path(tmp)
        result = compile_model(
            model_path, work / "model", "model", backend, force=True, target=HOST
        )
        samples, names = make_samples(result.input, inputs, images or [], seed, pixel_format)
        executable = build_host_runner(result, work)
        library = (
            (result.out_dir / result.library.name, result.library.version)
            if result.library is not None
            else None
        )
        ours, traced = run_host_runner(
            executable, samples, result.output, trace=per_layer, library=library
        )
        reference = oracle.run_tflm(model_path, samples)
        report = ValidationReport(str(model_path), "host", len(samples), 0)
        compare_outputs(report, names, ours, reference)
        if per_layer and len(samples):
            _compare_layers(report, result, model_path, samples[0], traced)
        return report


def compare_outputs(
    report: ValidationReport, names: list[str], ours: np.ndarray, reference: np.ndarray
) -> None:
    reference = reference.reshape(ours.shape)
    for name, mine, theirs in zip(names, ours, reference, strict=True):
        report.outputs.append(
            {
                "input": name,
                "output": mine.reshape(-1).tolist(),
                "reference": theirs.reshape(-1).tolist(),
            }
        )
        differing = np.argwhere(mine.view(np.uint8) != theirs.view(np.uint8))
        if len(differing) == 0:
            report.bit_exact += 1
            continue
        first = tuple(int(i) for i in differing[0])
        report.mismatches.append(
            Mismatch(name, len(differing), first, mine[first].item(), theirs[first].item())
        )


def _compare_layers(
    report: ValidationReport,
    result: CompileResult,
    model_path,
    sample: np.ndarray,
    traced: dict[int, np.ndarray],
) -> None:
    indices = [layer.output.index for layer in result.layers]
    reference = oracle.run_tflm_all_tensors(model_path, sample, indices)
    for layer in result.layers:
        mine = traced[layer.index]
        theirs = np.ascontiguousarray(reference[layer.output.index]).view(np.uint8).reshape(-1)
        report.layers_compared += 1
        differing = int(np.count_nonzero(mine != theirs))
        if differing:
            report.first_layer_mismatch = LayerMismatch(
                layer.index, layer.op, differing, len(theirs)
            )
            return


def validate_on_board(
    model_path: str | Path,
    board: Board | str,
    port: str | None = None,
    backend: str = registry.DEFAULT,
    inputs: int = 10,
    images: list[Path] | None = None,
    seed: int = 0,
    pixel_format: str = "model",
    timeout: float | None = None,
    flash: bool = True,
) -> ValidationReport:
    """Runs seeded random inputs and `images` on the board and through TFLM; every output byte
    must match. Each entry of report.outputs also carries the board's time for that input."""
    board = board if isinstance(board, Board) else load_board(board)
    with open_session(model_path, board, port, backend, timeout, flash) as session:
        batch, names = make_samples(session.built.input, inputs, images or [], seed, pixel_format)
        outputs, times = [], []
        for sample in batch:
            reply = session.client.infer(sample.tobytes())
            outputs.append(session.output_values(reply.output))
            times.append(session.time(reply.ticks))
    reference = oracle.run_tflm(model_path, batch)
    ours = np.stack(outputs).reshape(reference.shape)
    report = ValidationReport(str(model_path), board.name, len(batch), 0)
    compare_outputs(report, names, ours, reference)
    for entry, time in zip(report.outputs, times, strict=True):
        entry["time"] = time
        entry["time_unit"] = board.time_unit
    return report
