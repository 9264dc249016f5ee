"""The int8 graph of a MobileNetV1 family member, built from its layer list without TensorFlow.

Its ops and shapes are those the TFLite converter emits for the Keras model of
`model/keras_builder.py` (CONV_2D, DEPTHWISE_CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX; every
convolution with a bias and fused RELU6), so lowering and planning it gives the exact arena,
weight bytes and mult-adds of the trained model, in milliseconds. The weights and scales are
placeholders: only sizes are meaningful.
"""

from __future__ import annotations

import numpy as np

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.model.family import MobileNetConfig, mobilenet_layers

_ACTIVATION = ir.Quantization((6 / 255,), (-128,))
_LOGITS = ir.Quantization((0.1,), (0,))
_SOFTMAX = ir.Quantization((1 / 256,), (-128,))


class _Builder:
    def __init__(self) -> None:
        self.tensors: list[ir.Tensor] = []
        self.operators: list[ir.Operator] = []

    def tensor(self, shape, dtype="int8", quant=_ACTIVATION, data=None) -> int:
        index = len(self.tensors)
        self.tensors.append(ir.Tensor(index, f"t{index}", tuple(shape), dtype, quant, data))
        return index

    def weights(self, shape, axis: int) -> int:
        channels = shape[axis]
        quant = ir.Quantization((0.01,) * channels, (0,) * channels)
        return self.tensor(shape, "int8", quant, np.ones(shape, dtype=np.int8))

    def bias(self, channels: int) -> int:
        return self.tensor((channels,), "int32", None, np.zeros(channels, dtype=np.int32))

    def op(self, opcode: str, inputs, output_shape, options, quant=_ACTIVATION) -> int:
        output = self.tensor(output_shape, quant=quant)
        index = len(self.operators)
        self.operators.append(ir.Operator(index, opcode, tuple(inputs), (output,), options))
        return output


def family_graph(config: MobileNetConfig) -> ir.Graph:
    build = _Builder()
    resolution, channels = config.resolution, config.channels
    x = build.tensor((1, resolution, resolution, channels), quant=ir.Quantization((1 / 128,), (0,)))
    model_input = x
    for layer in mobilenet_layers(config):
        out_shape = (1, *layer.output_shape)
        if layer.kind in ("conv", "pointwise"):
            c_in, c_out = layer.input_shape[-1], layer.output_shape[-1]
            filt = build.weights((c_out, layer.kernel, layer.kernel, c_in), axis=0)
            options = ir.Conv2DOptions("SAME", layer.stride, layer.stride, "RELU6")
            x = build.op("CONV_2D", (x, filt, build.bias(c_out)), out_shape, options)
        elif layer.kind == "depthwise":
            c = layer.output_shape[-1]
            filt = build.weights((1, layer.kernel, layer.kernel, c), axis=3)
            options = ir.DepthwiseConv2DOptions("SAME", layer.stride, layer.stride, 1, "RELU6")
            x = build.op("DEPTHWISE_CONV_2D", (x, filt, build.bias(c)), out_shape, options)
        elif layer.kind == "avgpool":
            axis = build.tensor((2,), "int32", None, np.array([1, 2], dtype=np.int32))
            x = build.op("MEAN", (x, axis), out_shape, ir.ReducerOptions(keep_dims=False))
        elif layer.kind == "dense":
            depth, classes = layer.input_shape[-1], layer.output_shape[-1]
            filt = build.weights((classes, depth), axis=0)
            options = ir.FullyConnectedOptions("NONE")
            x = build.op(
                "FULLY_CONNECTED", (x, filt, build.bias(classes)), out_shape, options, quant=_LOGITS
            )
        elif layer.kind == "softmax":
            x = build.op("SOFTMAX", (x,), out_shape, ir.SoftmaxOptions(1.0), quant=_SOFTMAX)
    return ir.Graph(
        source=f"<{config.label}>",
        sha256="",
        tensors=build.tensors,
        operators=build.operators,
        inputs=(model_input,),
        outputs=(x,),
    )
