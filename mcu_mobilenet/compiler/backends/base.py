# SPDX-License-Identifier: Apache-2.0
"""What every backend provides: a way from layer specs to kernel calls, and its C files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.backends.cmsis_nn_library import LibraryFiles
from mcu_mobilenet.compiler.kernel_call import Layer
from mcu_mobilenet.compiler.specs import Spec
from mcu_mobilenet.compiler.target import Target


@dataclass
class Lowered:
    """A model's layers as one backend runs them."""

    layers: list[Layer]
    library: LibraryFiles | None = None  # third-party sources to ship beside the model


@dataclass(frozen=True)
class Backend:
    name: str  # what --backend takes
    summary: str  # one line for help texts and reports
    calls_template: str  # the codegen/templates module with one macro per kernel it calls
    # Lowers every spec of a model (ops it has no kernel for go to the portable kernels).
    lower: Callable[[ir.Graph, list[Spec], Target | None], Lowered]
    # (name in the output's kernels/, source) of the C files its layers need.
    kernel_files: Callable[[list[Layer]], list[tuple[str, Path]]]
    # The kernel headers model.c includes for its layers.
    headers: Callable[[list[Layer]], list[str]]
    # True when its code depends on the CPU: the compiler needs a target (a board's features).
    needs_target: bool = False
    # Where its kernels come from when they are not ours (None: they ship with mcu-mobilenet).
    requires: Callable[[], Path] | None = field(default=None, compare=False)
