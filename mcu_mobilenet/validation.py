"""Bit-exactness checks of generated code against the TFLM reference interpreter.

`validate_on_host` compiles a model, builds the generated C with the host gcc under
AddressSanitizer and UndefinedBehaviorSanitizer, runs seeded random inputs and the given
images through it and through TFLM, and compares every output byte. With `per_layer`, every
intermediate tensor of the first input is compared too and the first layer that differs is
named.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcu_mobilenet import oracle, processes
from mcu_mobilenet.compiler import CompileResult, TensorInfo, compile_model
from mcu_mobilenet.compiler.target import HOST
from mcu_mobilenet.errors import UserError
from mcu_mobilenet.paths import FIRMWARE_DIR

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
PIXEL_FORMATS = ("model", "raw")


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


def random_inputs(info: TensorInfo, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (count, *info.shape[1:]) if info.shape and info.shape[0] == 1 else (count, *info.shape)
    if info.dtype == "float32":
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    return rng.integers(-128, 128, size=shape, dtype=np.int8)


def image_input(path: Path, info: TensorInfo, pixel_format: str = "model") -> np.ndarray:
    """One image as the model's input.

    model: pixels scaled to [-1, 1] as mcu-mobilenet's training feeds them, then quantized with
    the input's scale and zero point. raw: pixel bytes reinterpreted as int8 values (how
    TFLM's person detection example feeds its test images).
    """
    from PIL import UnidentifiedImageError

    from mcu_mobilenet.model.data import quantize_input, read_image, to_model_input

    if len(info.shape) != 4:
        raise UserError(f"--image needs a model with an NHWC image input, not {list(info.shape)}")
    _, height, width, channels = info.shape
    try:
        pixels = read_image(path, height, width, channels)
    except FileNotFoundError:
        raise UserError(f"{path}: no such image") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable image ({error})") from None
    if pixel_format == "raw":
        if info.dtype != "int8":
            raise UserError("--pixels raw needs a model with int8 input")
        return pixels.view(np.int8)
    real = to_model_input(pixels)
    if info.dtype == "float32":
        return real
    return quantize_input(real, info.scale, info.zero_point)


def build_host_runner(result: CompileResult, build_dir: Path) -> Path:
    compiler = shutil.which("gcc")
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
        raise RuntimeError(f"the generated code does not build:\n{completed.stderr}")
    return executable


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
        raise RuntimeError(f"CMSIS-NN's sources do not build for the host:\n{completed.stderr}")
    return [object_dir / f"{source.stem}.o" for source in sources]


def run_host_runner(
    executable: Path, inputs: np.ndarray, output: TensorInfo, trace: bool = False
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    with tempfile.TemporaryDirectory(prefix="mcu-host-") as tmp:
        tmp = Path(tmp)
        (tmp / "inputs.bin").write_bytes(np.ascontiguousarray(inputs).tobytes())
        command = [str(executable), str(tmp / "inputs.bin"), str(tmp / "outputs.bin")]
        if trace:
            command.append(str(tmp / "trace.bin"))
        completed = processes.run(command, capture_output=True, text=True, timeout=600)
        if completed.returncode != 0:
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
    backend: str = "portable",
) -> ValidationReport:
    with tempfile.TemporaryDirectory(prefix="mcu-validate-") as tmp:
        work = Path(tmp)
        result = compile_model(
            model_path, work / "model", "model", backend, force=True, target=HOST
        )
        samples, names = make_samples(result.input, inputs, images or [], seed, pixel_format)
        executable = build_host_runner(result, work)
        ours, traced = run_host_runner(executable, samples, result.output, trace=per_layer)
        reference = oracle.run_tflm(model_path, samples)
        report = ValidationReport(str(model_path), "host", len(samples), 0)
        compare_outputs(report, names, ours, reference)
        if per_layer and len(samples):
            _compare_layers(report, result, model_path, samples[0], traced)
        return report


def make_samples(
    info: TensorInfo, count: int, images: list[Path], seed: int, pixel_format: str
) -> tuple[np.ndarray, list[str]]:
    """`count` seeded random inputs then the images, as one array, with a name for each."""
    if count < 0:
        raise UserError("--inputs must be 0 or more")
    if count == 0 and not images:
        raise UserError("nothing to run: give --inputs N (N > 0) or --image FILE")
    parts = [random_inputs(info, count, seed)]
    names = [f"random #{i} (seed {seed})" for i in range(count)]
    for path in images:
        parts.append(image_input(Path(path), info, pixel_format)[np.newaxis])
        names.append(str(path))
    return np.concatenate(parts), names


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
