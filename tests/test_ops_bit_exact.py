# SPDX-License-Identifier: Apache-2.0
"""Every supported op, alone, over seeded random shapes, strides, paddings, channel counts,
zero points and activations: generated C (host gcc, ASan + UBSan) against TFLM, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest
import tflite_builders as build

from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.workflow.validation import validate_on_host

CASE_SEED = 20261128


def _random_conv_cases(count: int, depthwise: bool) -> list:
    rng = np.random.default_rng(CASE_SEED + depthwise)
    cases = []
    for number in range(count):
        kernel = tuple(int(k) for k in rng.choice([1, 2, 3, 5], size=2))
        stride = int(rng.choice([1, 2, 3]))
        dilation = 1 if stride > 1 or number % 3 else int(rng.choice([1, 2]))
        padding = str(rng.choice(["SAME", "VALID"]))
        height, width = (int(v) for v in rng.integers(max(kernel) * dilation + 1, 14, size=2))
        channels = int(rng.choice([1, 2, 3, 5, 8, 13]))
        activation = str(rng.choice(["NONE", "RELU", "RELU6"]))
        low = float(rng.uniform(-3, 0.5))
        input_range = (low, low + float(rng.uniform(0.5, 6)))
        if depthwise:
            multiplier = int(rng.choice([1, 1, 2, 3]))
            args = (channels, multiplier, kernel, (stride, stride), padding, dilation, activation)
            name = f"dw{number}-k{kernel}-s{stride}-d{dilation}-{padding}-c{channels}x{multiplier}"
        else:
            outputs = int(rng.choice([1, 3, 4, 7, 16]))
            args = (channels, outputs, kernel, stride, padding, dilation, activation)
            name = f"conv{number}-k{kernel}-s{stride}-d{dilation}-{padding}-c{channels}to{outputs}"
        cases.append(
            pytest.param(
                depthwise,
                args,
                (1, height, width, channels),
                input_range,
                id=f"{name}-{activation}",
            )
        )
    return cases


@pytest.mark.parametrize(
    "depthwise, args, shape, input_range",
    _random_conv_cases(10, depthwise=False) + _random_conv_cases(8, depthwise=True),
)
def test_convolutions(tmp_path, depthwise, args, shape, input_range):
    rng = build.case_rng(args)
    model = (build.depthwise if depthwise else build.conv2d)(rng, *args)
    path = build.convert(model, shape, tmp_path / "op.tflite", rng, input_range)
    _assert_bit_exact(path)


def test_pointwise_conv_odd_pixel_count(tmp_path):
    """The 1x1 kernel computes two pixels per step; an odd count leaves a last single pixel."""
    rng = np.random.default_rng(1)
    model = build.conv2d(rng, 7, 9, (1, 1), 1, "SAME", 1, "RELU6")
    _assert_bit_exact(build.convert(model, (1, 5, 3, 7), tmp_path / "op.tflite", rng))


@pytest.mark.parametrize(
    "kernel, stride, padding, shape",
    [
        ((2, 2), 2, "VALID", (1, 8, 8, 3)),
        ((3, 3), 2, "SAME", (1, 7, 9, 5)),
        ((3, 2), 1, "SAME", (1, 5, 6, 4)),
        ((7, 7), 1, "VALID", (1, 7, 7, 16)),
    ],
)
def test_average_pool(tmp_path, kernel, stride, padding, shape):
    rng = np.random.default_rng(2)
    path = build.convert(
        build.average_pool(kernel, stride, padding), shape, tmp_path / "op.tflite", rng, (-2.0, 1.0)
    )
    _assert_bit_exact(path)


@pytest.mark.parametrize("keepdims, shape", [(True, (1, 7, 7, 24)), (False, (1, 4, 6, 13))])
def test_mean_over_height_and_width(tmp_path, keepdims, shape):
    rng = np.random.default_rng(3)
    path = build.convert(build.mean(keepdims), shape, tmp_path / "op.tflite", rng, (-0.5, 3.0))
    _assert_bit_exact(path)


@pytest.mark.parametrize("depth, outputs, activation", [(32, 10, "NONE"), (27, 5, "RELU")])
def test_fully_connected(tmp_path, depth, outputs, activation):
    rng = np.random.default_rng(4)
    model = build.fully_connected(rng, depth, outputs, activation)
    path = build.convert(model, (1, depth), tmp_path / "op.tflite", rng, (-1.0, 2.0))
    _assert_bit_exact(path)


@pytest.mark.parametrize(
    "depth, input_range",
    [(2, (-4.0, 4.0)), (10, (-8.0, 3.0)), (100, (-1.0, 1.0)), (17, (-20.0, 20.0))],
)
def test_softmax(tmp_path, depth, input_range):
    rng = np.random.default_rng(5)
    path = build.convert(build.softmax(), (1, depth), tmp_path / "op.tflite", rng, input_range)
    _assert_bit_exact(path)


def test_pad(tmp_path):
    rng = np.random.default_rng(6)
    model = build.pad([[0, 0], [1, 2], [0, 3], [0, 0]])
    _assert_bit_exact(build.convert(model, (1, 5, 4, 3), tmp_path / "op.tflite", rng, (0.2, 3.0)))


@pytest.mark.parametrize("activation", ["NONE", "RELU6"])
def test_add_of_two_branches(tmp_path, activation):
    rng = np.random.default_rng(7)
    model = build.add_of_branches(rng, 6, activation)
    _assert_bit_exact(build.convert(model, (1, 6, 5, 6), tmp_path / "op.tflite", rng))


def test_squeeze_shares_its_input_bytes(tmp_path):
    rng = np.random.default_rng(8)
    model = build.conv_squeeze(rng, 12)
    _assert_bit_exact(build.convert(model, (1, 1, 1, 12), tmp_path / "op.tflite", rng))


def test_float_edges_quantize_and_dequantize(tmp_path):
    """Float input and output: QUANTIZE at the model's input, DEQUANTIZE at its output."""
    rng = np.random.default_rng(9)
    model = build.conv2d(rng, 3, 4, (3, 3), 2, "SAME", 1, "RELU6")
    path = build.convert(model, (1, 9, 9, 3), tmp_path / "op.tflite", rng, int8_io=False)

    ops = [layer.op for layer in analyze(path).layers]
    assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE"
    _assert_bit_exact(path)


def _assert_bit_exact(path):
    report = validate_on_host(path, inputs=6, seed=11, per_layer=True)
    assert report.inputs == 6
    assert report.mismatches == [], report.mismatches
    assert report.first_layer_mismatch is None, report.first_layer_mismatch
    assert report.bit_exact == 6
