# SPDX-License-Identifier: Apache-2.0
"""Builds the Keras 3 model of one MobileNetV1 family member from its layer list.

Every convolution uses "same" padding and no bias (batch norm follows and the converter
folds it in), so the int8 graph holds only CONV_2D, DEPTHWISE_CONV_2D, MEAN,
FULLY_CONNECTED and SOFTMAX. The input takes images scaled to [-1, 1].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcu_mobilenet.model.family import Layer, MobileNetConfig, mobilenet_layers

if TYPE_CHECKING:
    import keras


def build_mobilenet(config: MobileNetConfig, batch_size: int | None = None) -> keras.Model:
    """The network; `batch_size=1` gives the static-shape graph that the converter exports."""
    import keras

    inputs = keras.Input(
        shape=(config.resolution, config.resolution, config.channels),
        batch_size=batch_size,
        name="image",
    )
    tensor = inputs
    for layer in mobilenet_layers(config):
        tensor = _add_layer(layer, tensor, config)
    name = f"mobilenet_v1_{config.alpha:g}_{config.resolution}".replace(".", "_")
    return keras.Model(inputs, tensor, name=name)


def _add_layer(layer: Layer, tensor, config: MobileNetConfig):
    from keras import layers

    if layer.kind in ("conv", "pointwise"):
        tensor = layers.Conv2D(
            layer.output_shape[-1],
            layer.kernel,
            strides=layer.stride,
            padding="same",
            use_bias=False,
            name=layer.name,
        )(tensor)
        return _batch_norm_relu6(layer.name, tensor)
    if layer.kind == "depthwise":
        tensor = layers.DepthwiseConv2D(
            layer.kernel, strides=layer.stride, padding="same", use_bias=False, name=layer.name
        )(tensor)
        return _batch_norm_relu6(layer.name, tensor)
    if layer.kind == "avgpool":
        return layers.GlobalAveragePooling2D(name=layer.name)(tensor)
    if layer.kind == "dropout":
        return layers.Dropout(config.dropout, name=layer.name)(tensor)
    if layer.kind == "dense":
        return layers.Dense(layer.output_shape[-1], name=layer.name)(tensor)
    return layers.Softmax(name=layer.name)(tensor)


def _batch_norm_relu6(name: str, tensor):
    from keras import layers

    tensor = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(tensor)
    return layers.ReLU(6.0, name=f"{name}_relu")(tensor)
