# SPDX-License-Identifier: Apache-2.0
"""Int8 graphs built op by op from a description rather than read from a file.

The ops, tensors and options are what the TFLite converter emits for a Keras CNN classifier
(every convolution with a per-channel quantized filter and an int32 bias, SAME padding), so
lowering and planning a built graph gives the exact arena, scratch, weight bytes and mult-adds
of the converted model. The constants are placeholders (ones and zeros) and the scales fixed
plausible values: only sizes are meaningful, not outputs.

    build = GraphBuilder("<my network>")
    x = build.input((1, 32, 32, 3))
    x = build.conv2d(x, out_channels=8, kernel=3, stride=2)
    ...
    graph = build.graph(x)
"""

from __future__ import annotations

import numpy as np

from mcu_mobilenet.compiler import ir

# Output quantization of each kind of op: [0, 6] after a fused RELU6, logits around zero, and
# the (1/256, -128) that TFLM's int8 softmax requires.
RELU6_OUTPUT = ir.Quantization((6 / 255,), (-128,))
LOGITS_OUTPUT = ir.Quantization((0.1,), (0,))
SOFTMAX_OUTPUT = ir.Quantization((1 / 256,), (-128,))
INPUT = ir.Quantization((1 / 128,), (0,))
FILTER_SCALE = 0.01


class GraphBuilder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tensors: list[ir.Tensor] = []
        self.operators: list[ir.Operator] = []
        self.inputs: list[int] = []

    def input(self, shape: tuple[int, ...], quantization: ir.Quantization = INPUT) -> int:
        index = self._tensor(shape, "int8", quantization)
        self.inputs.append(index)
        return index

    def conv2d(
        self, x: int, out_channels: int, kernel: int, stride: int, activation: str = "RELU6"
    ) -> int:
        """CONV_2D with SAME padding; filter [C_OUT, K, K, C_IN], quantized per output channel."""
        _, height, width, in_channels = self.tensors[x].shape
        filt = self._filter((out_channels, kernel, kernel, in_channels), axis=0)
        options = ir.Conv2DOptions("SAME", stride, stride, activation)
        shape = (1, _same(height, stride), _same(width, stride), out_channels)
        return self._op("CONV_2D", (x, filt, self._bias(out_channels)), shape, options)

    def depthwise_conv2d(self, x: int, kernel: int, stride: int, activation: str = "RELU6") -> int:
        """DEPTHWISE_CONV_2D, multiplier 1, SAME padding; filter [1, K, K, C]."""
        _, height, width, channels = self.tensors[x].shape
        filt = self._filter((1, kernel, kernel, channels), axis=3)
        options = ir.DepthwiseConv2DOptions("SAME", stride, stride, 1, activation)
        shape = (1, _same(height, stride), _same(width, stride), channels)
        return self._op("DEPTHWISE_CONV_2D", (x, filt, self._bias(channels)), shape, options)

    def mean_hw(self, x: int) -> int:
        """MEAN over height and width (global average pooling) -> [1, C]."""
        channels = self.tensors[x].shape[-1]
        axes = self._tensor((2,), "int32", None, np.array([1, 2], dtype=np.int32))
        options = ir.ReducerOptions(keep_dims=False)
        return self._op("MEAN", (x, axes), (1, channels), options, RELU6_OUTPUT)

    def fully_connected(self, x: int, outputs: int) -> int:
        """FULLY_CONNECTED without activation; filter [OUTPUTS, DEPTH], per channel."""
        depth = self.tensors[x].shape[-1]
        filt = self._filter((outputs, depth), axis=0)
        options = ir.FullyConnectedOptions("NONE")
        inputs = (x, filt, self._bias(outputs))
        return self._op("FULLY_CONNECTED", inputs, (1, outputs), options, LOGITS_OUTPUT)

    def softmax(self, x: int) -> int:
        shape = self.tensors[x].shape
        return self._op("SOFTMAX", (x,), shape, ir.SoftmaxOptions(1.0), SOFTMAX_OUTPUT)

    def graph(self, output: int) -> ir.Graph:
        return ir.Graph(
            source=self.source,
            sha256="",
            tensors=self.tensors,
            operators=self.operators,
            inputs=tuple(self.inputs),
            outputs=(output,),
        )

    def _tensor(self, shape, dtype, quantization, data=None) -> int:
        index = len(self.tensors)
        self.tensors.append(ir.Tensor(index, f"t{index}", tuple(shape), dtype, quantization, data))
        return index

    def _filter(self, shape: tuple[int, ...], axis: int) -> int:
        """A per-channel filter quantized along `axis`, as TFLite lays them out."""
        channels = shape[axis]
        quantization = ir.Quantization((FILTER_SCALE,) * channels, (0,) * channels, axis)
        return self._tensor(shape, "int8", quantization, np.ones(shape, dtype=np.int8))

    def _bias(self, channels: int) -> int:
        return self._tensor((channels,), "int32", None, np.zeros(channels, dtype=np.int32))

    def _op(self, opcode, inputs, shape, options, quantization=RELU6_OUTPUT) -> int:
        output = self._tensor(shape, "int8", quantization)
        index = len(self.operators)
        self.operators.append(ir.Operator(index, opcode, tuple(inputs), (output,), options))
        return output


def _same(size: int, stride: int) -> int:
    """Output size of SAME padding."""
    return (size + stride - 1) // stride
