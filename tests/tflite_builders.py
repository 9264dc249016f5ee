# SPDX-License-Identifier: Apache-2.0
"""Small int8 .tflite models made with TensorFlow inside the tests, one op (or a few) each.

Weights and calibration data come from a seeded generator; the calibration range sets the
input's zero point, so different ranges exercise different zero points.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np


def case_rng(args) -> np.random.Generator:
    """A generator seeded by a test case's arguments, the same in every process and run."""
    return np.random.default_rng(zlib.crc32(repr(args).encode()))


def convert(
    function,
    input_shape,
    path: Path,
    rng: np.random.Generator,
    input_range=(-1.0, 1.0),
    int8_io: bool = True,
    quantize: bool = True,
    per_tensor_dense: bool = False,
) -> Path:
    """Converts a tf.function of one float input to a .tflite file at `path`.

    per_tensor_dense: quantize FULLY_CONNECTED weights per tensor (the converter's default is
    per channel)."""
    import tensorflow as tf

    concrete = function.get_concrete_function(tf.TensorSpec(input_shape, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], function)
    if quantize:
        low, high = input_range

        def representative():
            for _ in range(24):
                yield [rng.uniform(low, high, size=input_shape).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter._experimental_disable_per_channel_quantization_for_dense_layers = per_tensor_dense
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def activation_fn(name: str):
    import tensorflow as tf

    return {"NONE": tf.identity, "RELU": tf.nn.relu, "RELU6": tf.nn.relu6}[name]


def conv2d(rng, cin, cout, kernel, stride, padding, dilation, activation):
    import tensorflow as tf

    weights = tf.constant(rng.normal(0, 0.5, (kernel[0], kernel[1], cin, cout)), tf.float32)
    bias = tf.constant(rng.normal(0, 0.3, cout), tf.float32)
    act = activation_fn(activation)

    @tf.function
    def model(x):
        y = tf.nn.conv2d(x, weights, strides=stride, padding=padding, dilations=dilation)
        return act(y + bias)

    return model


def depthwise(rng, cin, multiplier, kernel, stride, padding, dilation, activation):
    import tensorflow as tf

    weights = tf.constant(rng.normal(0, 0.5, (kernel[0], kernel[1], cin, multiplier)), tf.float32)
    bias = tf.constant(rng.normal(0, 0.3, cin * multiplier), tf.float32)
    act = activation_fn(activation)

    @tf.function
    def model(x):
        y = tf.nn.depthwise_conv2d(
            x,
            weights,
            strides=(1, stride[0], stride[1], 1),
            padding=padding,
            dilations=(dilation, dilation),
        )
        return act(y + bias)

    return model


def average_pool(kernel, stride, padding):
    import tensorflow as tf

    @tf.function
    def model(x):
        return tf.nn.avg_pool2d(x, ksize=kernel, strides=stride, padding=padding)

    return model


def mean(keepdims: bool):
    import tensorflow as tf

    @tf.function
    def model(x):
        return tf.reduce_mean(x, axis=[1, 2], keepdims=keepdims)

    return model


def fully_connected(rng, depth, outputs, activation):
    import tensorflow as tf

    weights = tf.constant(rng.normal(0, 0.3, (depth, outputs)), tf.float32)
    bias = tf.constant(rng.normal(0, 0.3, outputs), tf.float32)
    act = activation_fn(activation)

    @tf.function
    def model(x):
        return act(tf.matmul(tf.reshape(x, (1, depth)), weights) + bias)

    return model


def softmax():
    import tensorflow as tf

    @tf.function
    def model(x):
        return tf.nn.softmax(x)

    return model


def pad(paddings):
    import tensorflow as tf

    @tf.function
    def model(x):
        return tf.pad(x, paddings)

    return model


def add_of_branches(rng, channels, activation):
    """x -> two 1x1 convolutions with different scales -> ADD (a graph that is not a chain)."""
    import tensorflow as tf

    first = tf.constant(rng.normal(0, 0.6, (1, 1, channels, channels)), tf.float32)
    second = tf.constant(rng.normal(0, 0.2, (1, 1, channels, channels)), tf.float32)
    act = activation_fn(activation)

    @tf.function
    def model(x):
        a = tf.nn.conv2d(x, first, 1, "SAME")
        b = tf.nn.relu(tf.nn.conv2d(x, second, 1, "SAME"))
        return act(a + b)

    return model


def conv_squeeze(rng, channels):
    """1x1 convolution to a 1x1 map, then SQUEEZE to [1, C]: an alias in the memory plan."""
    import tensorflow as tf

    weights = tf.constant(rng.normal(0, 0.5, (1, 1, channels, channels)), tf.float32)

    @tf.function
    def model(x):
        return tf.squeeze(tf.nn.conv2d(x, weights, 1, "VALID"), axis=[1, 2])

    return model


def max_pool():
    import tensorflow as tf

    @tf.function
    def model(x):
        return tf.nn.max_pool2d(x, 2, 2, "VALID")

    return model
