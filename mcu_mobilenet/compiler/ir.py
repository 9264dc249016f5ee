# SPDX-License-Identifier: Apache-2.0
"""The compiler's typed intermediate representation of a .tflite model.

One subgraph: tensors (shape, dtype, quantization, constant data) and operators in execution
order with their typed options. The reader fills it; lowering checks and consumes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcu_mobilenet.tensor_info import TensorInfo, byte_count


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel."""

    scales: tuple[float, ...]  # float32 values, held exactly as Python floats
    zero_points: tuple[int, ...]
    axis: int = 0  # the quantized dimension of a per-channel tensor (the checker verifies it)

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def scale(self) -> float:
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        return self.zero_points[0]


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "int8", "int32", "float32", ...
    quantization: Quantization | None
    data: np.ndarray | None = None  # constant tensors (weights, shapes); None for activations

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def element_count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return byte_count(self.shape, self.dtype)

    def info(self) -> TensorInfo:
        quant = self.quantization
        return TensorInfo(
            self.shape,
            self.dtype,
            quant.scale if quant else 1.0,
            quant.zero_point if quant else 0,
        )


# Fused activations and paddings, as the schema names them.
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PADDINGS = {0: "SAME", 1: "VALID"}


@dataclass(frozen=True)
class Conv2DOptions:
    padding: str
    stride_h: int
    stride_w: int
    activation: str
    dilation_h: int = 1
    dilation_w: int = 1


@dataclass(frozen=True)
class DepthwiseConv2DOptions:
    padding: str
    stride_h: int
    stride_w: int
    depth_multiplier: int
    activation: str
    dilation_h: int = 1
    dilation_w: int = 1


@dataclass(frozen=True)
class Pool2DOptions:
    padding: str
    stride_h: int
    stride_w: int
    filter_h: int
    filter_w: int
    activation: str


@dataclass(frozen=True)
class FullyConnectedOptions:
    activation: str
    weights_format: int = 0  # 0 = DEFAULT; the shuffled formats are not supported
    keep_num_dims: bool = False


@dataclass(frozen=True)
class SoftmaxOptions:
    beta: float


@dataclass(frozen=True)
class AddOptions:
    activation: str


@dataclass(frozen=True)
class ReducerOptions:
    keep_dims: bool


@dataclass(frozen=True)
class NoOptions:
    """Ops whose behaviour the schema options do not change (RESHAPE, SQUEEZE, PAD, ...)."""


Options = (
    Conv2DOptions
    | DepthwiseConv2DOptions
    | Pool2DOptions
    | FullyConnectedOptions
    | SoftmaxOptions
    | AddOptions
    | ReducerOptions
    | NoOptions
)


@dataclass
class Operator:
    index: int  # position in execution order
    opcode: str  # builtin operator name, e.g. "CONV_2D"
    inputs: tuple[int, ...]  # tensor indices; -1 marks an absent optional input
    outputs: tuple[int, ...]
    options: Options | None  # None for operators the reader does not know


@dataclass
class Graph:
    source: str  # file path, for error messages
    sha256: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
