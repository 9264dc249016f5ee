# SPDX-License-Identifier: Apache-2.0
"""Mult-adds and parameters counted the way the MobileNets paper counts them.

Mult-adds: a standard or pointwise convolution costs K*K*C_in*C_out per output pixel, a
depthwise convolution K*K*C per output pixel (the paper's equations (2) and (4), at the
layer's output resolution), and the fully connected classifier C_in*classes. Pooling,
batch norm, activations and softmax are not counted.

Parameters: the weights of the convolutions, depthwise convolutions and the classifier. No
biases and no batch-norm values: the convolutions have none of their own (batch norm follows
each), and the paper's figures leave the classifier's bias out too (its Table 2 gives the
classifier 24.33% of the parameters: 1,024,000 of 4,209,088).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcu_mobilenet.model.family import Layer, MobileNetConfig, mobilenet_layers


@dataclass(frozen=True)
class LayerCost:
    layer: Layer
    macs: int
    params: int


def layer_cost(layer: Layer) -> LayerCost:
    in_channels = layer.input_shape[-1]
    out_channels = layer.output_shape[-1]
    taps = layer.kernel * layer.kernel
    if layer.kind in ("conv", "pointwise"):
        weights = taps * in_channels * out_channels
        return LayerCost(layer, weights * _pixels(layer), weights)
    if layer.kind == "depthwise":
        weights = taps * in_channels
        return LayerCost(layer, weights * _pixels(layer), weights)
    if layer.kind == "dense":
        weights = in_channels * out_channels
        return LayerCost(layer, weights, weights)
    return LayerCost(layer, 0, 0)


def network_costs(layers: list[Layer]) -> list[LayerCost]:
    return [layer_cost(layer) for layer in layers]


@dataclass(frozen=True)
class NetworkCount:
    """A family member's per-layer costs and the network's totals."""

    layers: tuple[LayerCost, ...]

    @property
    def macs(self) -> int:
        return sum(cost.macs for cost in self.layers)

    @property
    def params(self) -> int:
        return sum(cost.params for cost in self.layers)


def count_network(config: MobileNetConfig) -> NetworkCount:
    return NetworkCount(tuple(network_costs(mobilenet_layers(config))))


def _pixels(layer: Layer) -> int:
    return math.prod(layer.output_shape[:-1])
