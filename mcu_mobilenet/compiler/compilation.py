# SPDX-License-Identifier: Apache-2.0
"""A model read, checked, lowered, retargeted for its backend and planned: everything the code
generator needs, nothing written yet.

    compilation = analyze("model.tflite", backend=registry.NATIVE, target=board_target(board))

`workflow.compile.compile_model` writes the C sources of a compilation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.backends.cmsis_nn_library import LibraryFiles
from mcu_mobilenet.compiler.backends.registry import DEFAULT, get_backend
from mcu_mobilenet.compiler.kernel_call import Layer
from mcu_mobilenet.compiler.lowering import lower
from mcu_mobilenet.compiler.model_checker import check_model
from mcu_mobilenet.compiler.planner import Plan, plan_memory
from mcu_mobilenet.compiler.target import ANY_CORTEX_M, Target
from mcu_mobilenet.compiler.tflite_reader import read_tflite
from mcu_mobilenet.tensor_info import TensorInfo


@dataclass
class Compilation:
    """A model read, lowered and planned: everything but the files."""

    graph: ir.Graph
    layers: list[Layer]
    plan: Plan
    backend: str
    target: Target | None = None  # the CPU a target-dependent backend built for, else None
    library: LibraryFiles | None = None  # the CMSIS-NN files the layers call

    @property
    def scratch_bytes(self) -> int:
        """One scratch buffer shared by every layer: the largest need."""
        return max((layer.scratch_bytes for layer in self.layers), default=0)

    @property
    def weights_bytes(self) -> int:
        """Flash for the constants: weights, biases, per-channel multipliers and shifts."""
        return sum(layer.weight_bytes for layer in self.layers)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference."""
        return sum(layer.macs for layer in self.layers)

    @property
    def input(self) -> TensorInfo:
        return self.graph.tensors[self.graph.inputs[0]].info()

    @property
    def output(self) -> TensorInfo:
        return self.graph.tensors[self.graph.outputs[0]].info()

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
            "weights_bytes": self.weights_bytes,
            "macs": self.macs,
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


def analyze(
    model_path: str | Path, backend: str = DEFAULT, target: Target | None = None
) -> Compilation:
    """Reads, checks, lowers and plans a model without writing anything.

    `target` matters to backends whose code depends on the CPU (cmsis-nn sizes its scratch
    for the CPU's features); without one, the code is sized to run on any Cortex-M."""
    chosen = get_backend(backend)
    if chosen.requires is not None:
        chosen.requires()  # fails first, on one line, saying how to get the library
    return compile_graph(read_tflite(model_path), backend, target)


def compile_graph(
    graph: ir.Graph, backend: str = DEFAULT, target: Target | None = None
) -> Compilation:
    """Checks, lowers, retargets for the backend and plans a graph already read."""
    chosen = get_backend(backend)
    target = (target or ANY_CORTEX_M) if chosen.needs_target else None
    check_model(graph)
    lowered = chosen.lower(graph, lower(graph), target)
    plan = plan_memory(graph, lowered.layers)
    return Compilation(graph, lowered.layers, plan, backend, target, lowered.library)
