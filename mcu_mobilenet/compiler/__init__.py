"""The ahead-of-time compiler: .tflite -> IR -> layers -> memory plan -> C sources.

    result = compile_model("model.tflite", "out/", prefix="model")

Nothing is written unless the whole model is supported and the prefix is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.backends.cmsis_nn_library import LibraryFiles
from mcu_mobilenet.compiler.lowering import Layer, lower
from mcu_mobilenet.compiler.planner import Plan, plan_memory
from mcu_mobilenet.compiler.target import ANY_CORTEX_M, Target
from mcu_mobilenet.compiler.tflite_reader import read_tflite
from mcu_mobilenet.errors import UserError

BACKENDS = ("portable", "cmsis-nn", "native")
TARGETED_BACKENDS = ("cmsis-nn", "native")  # their code depends on the CPU's features


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @classmethod
    def of(cls, tensor: ir.Tensor) -> TensorInfo:
        quant = tensor.quantization
        return cls(
            tensor.shape,
            tensor.dtype,
            quant.scale if quant else 1.0,
            quant.zero_point if quant else 0,
        )

    @property
    def nbytes(self) -> int:
        from math import prod

        return prod(self.shape) * (4 if self.dtype == "float32" else 1)


@dataclass
class Compilation:
    """A model read, lowered and planned: everything but the files."""

    graph: ir.Graph
    layers: list[Layer]
    plan: Plan
    backend: str
    target: Target | None = None  # what cmsis-nn sized its scratch for; None for portable
    library: LibraryFiles | None = None  # the CMSIS-NN files the layers call

    @property
    def scratch_bytes(self) -> int:
        """One scratch buffer shared by every layer: the largest need."""
        return max((layer.scratch_bytes for layer in self.layers), default=0)

    @property
    def input(self) -> TensorInfo:
        return TensorInfo.of(self.graph.tensors[self.graph.inputs[0]])

    @property
    def output(self) -> TensorInfo:
        return TensorInfo.of(self.graph.tensors[self.graph.outputs[0]])

    def report(self) -> dict:
        plan = self.plan
        return {
            "model": self.graph.source,
            "sha256": self.graph.sha256,
            "backend": self.backend,
            "target": self.target.name if self.target else None,
            "cmsis_nn_code_path": self.target.features if self.target else None,
            "arena_bytes": plan.arena_bytes,
            "scratch_bytes": self.scratch_bytes,
            "weights_bytes": sum(layer.weight_bytes for layer in self.layers),
            "macs": sum(layer.macs for layer in self.layers),
            "liveness_bound_bytes": plan.liveness_bound,
            "input": _tensor_report(self.input),
            "output": _tensor_report(self.output),
            "layers": [
                {
                    "index": layer.index,
                    "op": layer.op,
                    "kernel": layer.kernel or "(alias)",
                    "library": layer.library,
                    "scratch_bytes": layer.scratch_bytes,
                    "input_shapes": [list(t.shape) for t in layer.inputs],
                    "output_shape": list(layer.output.shape),
                    "macs": layer.macs,
                    "weight_bytes": layer.weight_bytes,
                    "activation_bytes": layer.output.nbytes,
                    "arena_offset": plan.offset(layer.output),
                }
                for layer in self.layers
            ],
            "plan": plan.rows(),
        }


def _tensor_report(info: TensorInfo) -> dict:
    return {
        "shape": list(info.shape),
        "dtype": info.dtype,
        "scale": info.scale,
        "zero_point": info.zero_point,
    }


@dataclass
class CompileResult(Compilation):
    out_dir: Path = Path()
    prefix: str = "model"
    sources: list[Path] = None  # every .c file to build
    include_dirs: list[Path] = None
    files: list[Path] = None  # everything written
    library_sources: list[Path] = None  # the sources among them that are CMSIS-NN's


def analyze(
    model_path: str | Path, backend: str = "portable", target: Target | None = None
) -> Compilation:
    """Reads, checks, lowers and plans a model without writing anything.

    `target` matters to the cmsis-nn backend (its scratch sizes depend on the CPU's features)
    and to native (Helium layouts for an MVE target); without one, the code runs on any
    Cortex-M."""
    _require_backend(backend)  # fails first, on one line, saying how to get CMSIS-NN
    return compile_graph(read_tflite(model_path), backend, target)


def compile_graph(
    graph: ir.Graph, backend: str = "portable", target: Target | None = None
) -> Compilation:
    """Lowers, retargets for the backend and plans a graph already read."""
    root = _require_backend(backend)
    layers = lower(graph)
    library = None
    if root is not None:
        from mcu_mobilenet.compiler.backends.cmsis_nn import retarget

        target = target or ANY_CORTEX_M
        layers, library = retarget(graph, layers, target, root)
    elif backend == "native":
        from mcu_mobilenet.compiler.backends import native

        layers = native.retarget(graph, layers, target)
        target = None
    else:
        target = None
    plan = plan_memory(graph, layers)
    return Compilation(graph, layers, plan, backend, target, library)


def _require_backend(backend: str) -> Path | None:
    """CMSIS-NN's folder for the cmsis-nn backend, None for portable."""
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if backend != "cmsis-nn":
        return None
    from mcu_mobilenet import cmsis_nn

    return cmsis_nn.require()


def compile_model(
    model_path: str | Path,
    out_dir: str | Path,
    prefix: str = "model",
    backend: str = "portable",
    force: bool = False,
    target: Target | None = None,
) -> CompileResult:
    from mcu_mobilenet.codegen.emitter import check_prefix

    check_prefix(prefix)
    return write_sources(analyze(model_path, backend, target), out_dir, prefix, force)


def write_sources(
    compilation: Compilation, out_dir: str | Path, prefix: str = "model", force: bool = False
) -> CompileResult:
    """Writes a compilation's C sources into out_dir (see codegen/emitter.py)."""
    from mcu_mobilenet.codegen.emitter import emit

    files = emit(
        compilation.graph,
        compilation.layers,
        compilation.plan,
        out_dir,
        prefix,
        force,
        library=compilation.library,
        target=compilation.target,
    )
    return CompileResult(
        compilation.graph,
        compilation.layers,
        compilation.plan,
        compilation.backend,
        compilation.target,
        compilation.library,
        out_dir=Path(out_dir),
        prefix=prefix,
        sources=files.sources,
        include_dirs=files.include_dirs,
        files=files.files,
        library_sources=files.library_sources,
    )
