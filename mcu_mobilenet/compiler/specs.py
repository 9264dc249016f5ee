# SPDX-License-Identifier: Apache-2.0
"""What lowering knows of each layer, independent of any kernel library.

Lowering checks every operator and turns it into one of these typed records: its tensors, its
shapes, strides and padding, its quantization constants exactly as TFLM computes them
(fixed_point.py), and its raw weights in TFLite's own layouts. Each backend
(compiler/backends/) derives from a spec its own weight layout, parameters and kernel call;
none of them reads the IR again, and none undoes what another did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcu_mobilenet.compiler import ir


@dataclass
class Spec:
    index: int  # the operator's position in the model
    op: str  # the model's op name, e.g. "CONV_2D"
    inputs: list[ir.Tensor]  # activation inputs (constants are fields of the spec)
    output: ir.Tensor
    macs: int = 0

    @property
    def alias(self) -> bool:
        """True when the output is the input's bytes (RESHAPE, SQUEEZE): no code at all."""
        return False


def nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A shape as four NHWC extents, lower ranks padded with leading 1s."""
    return tuple(shape) if len(shape) == 4 else (1,) * (4 - len(shape)) + tuple(shape)


@dataclass
class Conv(Spec):
    """CONV_2D or DEPTHWISE_CONV_2D, per-channel quantized, symmetric int8 filter."""

    depthwise: bool = False
    filter: np.ndarray = None  # int8, TFLite's layout: [C_OUT, KH, KW, C_IN] or [1, KH, KW, C_OUT]
    bias: np.ndarray = None  # int64 [C_OUT], the model's own (zeros when it has none)
    folded_bias: np.ndarray = None  # int32 [C_OUT]: bias - input_zero_point * sum(filter)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)  # rows above and columns left of the input
    input_zero_point: int = 0
    output_zero_point: int = 0
    act_min: int = -128
    act_max: int = 127
    multipliers: tuple[int, ...] = ()  # per output channel, Q31
    shifts: tuple[int, ...] = ()
    depth_multiplier: int = 1

    @property
    def input_dims(self) -> tuple[int, int, int, int]:
        return tuple(self.inputs[0].shape)

    @property
    def output_dims(self) -> tuple[int, int, int, int]:
        return tuple(self.output.shape)

    @property
    def kernel_size(self) -> tuple[int, int]:
        return int(self.filter.shape[1]), int(self.filter.shape[2])

    @property
    def out_channels(self) -> int:
        return int(self.output.shape[3])

    @property
    def pointwise(self) -> bool:
        """A 1x1 convolution of stride 1 without padding: a matrix product over pixels."""
        return (
            not self.depthwise
            and self.kernel_size == (1, 1)
            and self.stride == (1, 1)
            and self.padding == (0, 0)
        )

    def window(self, kernel_h: int, kernel_w: int) -> dict:
        """The window geometry as the native kernels' mm_native_window fields."""
        _, in_h, in_w, in_c = self.input_dims
        _, out_h, out_w, _ = self.output_dims
        return dict(
            in_h=in_h,
            in_w=in_w,
            in_c=in_c,
            kernel_h=kernel_h,
            kernel_w=kernel_w,
            stride_h=self.stride[0],
            stride_w=self.stride[1],
            dilation_h=self.dilation[0],
            dilation_w=self.dilation[1],
            pad_top=self.padding[0],
            pad_left=self.padding[1],
            out_h=out_h,
            out_w=out_w,
            input_zero_point=self.input_zero_point,
        )

    def filter_rows(self) -> np.ndarray:
        """Each output channel's taps as one row, [C_OUT, KH * KW * C_IN] (window order)."""
        if self.depthwise:
            return np.ascontiguousarray(self.filter[0].reshape(-1, self.out_channels).T)
        return self.filter.reshape(self.out_channels, -1)


@dataclass
class AveragePool(Spec):
    stride: tuple[int, int] = (1, 1)
    filter_size: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    act_min: int = -128
    act_max: int = 127


@dataclass
class Mean(Spec):
    """The mean over height and width (global average pooling)."""

    multiplier: int = 0  # input/output scale with 1/(H*W) folded in
    shift: int = 0
    input_zero_point: int = 0
    output_zero_point: int = 0


@dataclass
class FullyConnected(Spec):
    filter: np.ndarray = None  # int8 [C_OUT, DEPTH]
    bias: np.ndarray = None  # int64 [C_OUT]
    folded_bias: np.ndarray = None  # int32 [C_OUT]
    batches: int = 1
    depth: int = 0
    output_depth: int = 0
    per_channel: bool = False
    multipliers: tuple[int, ...] = ()  # per output channel (a per-tensor value repeated)
    shifts: tuple[int, ...] = ()
    input_zero_point: int = 0
    output_zero_point: int = 0
    act_min: int = -128
    act_max: int = 127


@dataclass
class Softmax(Spec):
    rows: int = 1
    depth: int = 0
    input_multiplier: int = 0
    input_left_shift: int = 0
    diff_min: int = 0


@dataclass
class Pad(Spec):
    input_dims: tuple[int, int, int, int] = (1, 1, 1, 1)
    output_dims: tuple[int, int, int, int] = (1, 1, 1, 1)
    before: tuple[int, int, int, int] = (0, 0, 0, 0)
    value: int = 0  # the output zero point

    @property
    def after(self) -> tuple[int, int, int, int]:
        return tuple(
            o - i - b
            for o, i, b in zip(self.output_dims, self.input_dims, self.before, strict=True)
        )


@dataclass
class Add(Spec):
    size: int = 0
    input1_offset: int = 0  # minus the zero points
    input2_offset: int = 0
    output_offset: int = 0
    left_shift: int = 0
    input1_multiplier: int = 0
    input1_shift: int = 0
    input2_multiplier: int = 0
    input2_shift: int = 0
    output_multiplier: int = 0
    output_shift: int = 0
    act_min: int = -128
    act_max: int = 127


@dataclass
class Quantize(Spec):
    """float32 model input -> int8."""

    size: int = 0
    scale: float = 1.0
    zero_point: int = 0


@dataclass
class Requantize(Spec):
    """QUANTIZE from int8 to int8."""

    size: int = 0
    multiplier: int = 0
    shift: int = 0
    input_zero_point: int = 0
    output_zero_point: int = 0


@dataclass
class Dequantize(Spec):
    """int8 -> float32 model output."""

    size: int = 0
    scale: float = 1.0
    zero_point: int = 0


@dataclass
class Reshape(Spec):
    """RESHAPE or SQUEEZE: the output shares the input's bytes."""

    @property
    def alias(self) -> bool:
        return True
