# SPDX-License-Identifier: Apache-2.0
"""The int8 graph of a MobileNetV1 family member, built from its layer list without TensorFlow.

Its ops and shapes are those the TFLite converter emits for the Keras model of
`model/keras_builder.py` (CONV_2D, DEPTHWISE_CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX; every
convolution with a bias and fused RELU6), so lowering and planning it gives the exact arena,
weight bytes and mult-adds of the trained model, in milliseconds. The compiler's GraphBuilder
makes the ops; its weights and scales are placeholders: only sizes are meaningful.
"""

from __future__ import annotations

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.graph_builder import GraphBuilder
from mcu_mobilenet.model.family import MobileNetConfig, mobilenet_layers


def family_graph(config: MobileNetConfig) -> ir.Graph:
    build = GraphBuilder(f"<{config.label}>")
    x = build.input((1, config.resolution, config.resolution, config.channels))
    for layer in mobilenet_layers(config):
        if layer.kind in ("conv", "pointwise"):
            x = build.conv2d(x, layer.output_shape[-1], layer.kernel, layer.stride)
        elif layer.kind == "depthwise":
            x = build.depthwise_conv2d(x, layer.kernel, layer.stride)
        elif layer.kind == "avgpool":
            x = build.mean_hw(x)
        elif layer.kind == "dense":
            x = build.fully_connected(x, layer.output_shape[-1])
        elif layer.kind == "softmax":
            x = build.softmax(x)
        # dropout: nothing at inference
        assert build.tensors[x].shape[1:] == layer.output_shape, layer.name
    return build.graph(x)
