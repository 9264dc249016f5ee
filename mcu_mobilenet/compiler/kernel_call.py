# SPDX-License-Identifier: Apache-2.0
"""What a backend makes of a layer: the kernel it calls, the constant arrays and parameters
of that call, and the order in which the kernel walks its tensors (for the memory planner)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.specs import Spec, nhwc
from mcu_mobilenet.tensor_info import byte_count

# The C element type of a constant array -> its numpy dtype.
C_TYPE_DTYPES = {"int8_t": "int8", "int32_t": "int32"}


@dataclass
class ConstArray:
    """A constant array for <prefix>_weights.c; the symbol is <prefix>_l<layer>_<name>."""

    name: str
    ctype: str  # "int8_t" or "int32_t"
    values: np.ndarray

    @property
    def nbytes(self) -> int:
        return byte_count(self.values.shape, C_TYPE_DTYPES[self.ctype])


@dataclass
class Stream:
    """How a kernel walks its output, for the planner's in-place overlaps.

    The kernel writes its output in `unit_bytes` units in increasing address order, `block`
    units at a time, and before writing block [a, a+block) reads nothing of input `input_slot`
    below byte `first_read[a]` (first_read is a suffix minimum: non-decreasing). The output may
    then start `max_offset()` bytes after the input (usually a negative number: before it).
    """

    input_slot: int
    first_read: np.ndarray
    unit_bytes: int
    block: int = 1

    def max_offset(self) -> int:
        units = len(self.first_read)
        starts = np.arange(0, units, self.block)
        block_ends = np.minimum(starts + self.block, units) * self.unit_bytes
        return int(np.min(self.first_read[starts] - block_ends))


def window_stream(
    input_shape, output_shape, stride, padding, unit_bytes: int, block: int = 1
) -> Stream:
    """Raster-order windowed kernels: output pixel (y, x) first reads input pixel
    (max(0, y*sh - pad_top), max(0, x*sw - pad_left))."""
    _, in_h, in_w, in_c = nhwc(input_shape)
    _, out_h, out_w, _ = nhwc(output_shape)
    rows = np.maximum(np.arange(out_h) * stride[0] - padding[0], 0)
    cols = np.maximum(np.arange(out_w) * stride[1] - padding[1], 0)
    first = (rows[:, None] * in_w + cols[None, :]).reshape(-1) * in_c
    suffix_min = np.minimum.accumulate(first[::-1])[::-1]
    return Stream(0, suffix_min.astype(np.int64), unit_bytes, block)


def elementwise_stream(slot: int, count: int, in_bytes: int, out_bytes: int) -> Stream:
    return Stream(slot, np.arange(count, dtype=np.int64) * in_bytes, out_bytes)


@dataclass
class Layer:
    """One layer as its backend runs it."""

    spec: Spec
    kernel: str  # the C function called, e.g. "mm_conv2d_1x1_s8"; "" for an alias
    library: str  # the backend whose kernel `kernel` is (a name in backends.REGISTRY)
    constants: list[ConstArray] = field(default_factory=list)
    params: dict = field(default_factory=dict)  # scalar parameters for the call template
    streams: list[Stream] = field(default_factory=list)
    scratch_bytes: int = 0  # the kernel's own scratch need (the model shares one scratch)

    @property
    def index(self) -> int:
        return self.spec.index

    @property
    def op(self) -> str:
        return self.spec.op

    @property
    def inputs(self) -> list[ir.Tensor]:
        return self.spec.inputs

    @property
    def output(self) -> ir.Tensor:
        return self.spec.output

    @property
    def macs(self) -> int:
        return self.spec.macs

    @property
    def alias(self) -> bool:
        return self.spec.alias

    @property
    def weight_bytes(self) -> int:
        return sum(c.nbytes for c in self.constants)

    def shapes(self) -> str:
        ins = ", ".join("x".join(map(str, t.shape)) for t in self.inputs)
        return f"{ins} -> {'x'.join(map(str, self.output.shape))}"
