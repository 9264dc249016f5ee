# SPDX-License-Identifier: Apache-2.0
"""The native backend: our own kernels with compile-time prepared layouts, bit-exact with TFLM.

On the host the kernels build as plain C (the DSP instructions emulated exactly, under ASan and
UBSan); on the M4, M7 and netduinoplus2 boards they run their DSP code, and on the M55 the
Helium kernels the compiler lays the weights out for (test_native_helium.py checks that). Random
one-op models cover shapes, strides, paddings, channel multipliers, odd channel counts, zero
points and activations; every case also checks that the native kernel, not a fallback, ran.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tflite_builders as build
from model_fixtures import quantized_mobilenet  # noqa: F401

from mcu_mobilenet.compiler.compilation import analyze
from mcu_mobilenet.workflow.validation import validate_on_board, validate_on_host

QEMU_BOARDS = ["qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps3-an547", "qemu-netduinoplus2"]
CASE_SEED = 20261203


@pytest.fixture(scope="module")
def qemu() -> None:
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm or arm-none-eabi-gcc not installed")


def _random_cases(count: int) -> list:
    rng = np.random.default_rng(CASE_SEED)
    cases = []
    for number in range(count):
        kind = ("depthwise", "pointwise", "conv")[number % 3]
        padding = str(rng.choice(["SAME", "VALID"]))
        activation = str(rng.choice(["NONE", "RELU", "RELU6"]))
        height, width = (int(v) for v in rng.integers(3, 14, size=2))
        channels = int(rng.choice([1, 2, 3, 5, 8, 13, 16]))
        low = float(rng.uniform(-3, 0.5))
        input_range = (low, low + float(rng.uniform(0.5, 6)))
        if kind == "depthwise":
            stride = tuple(int(s) for s in rng.choice([1, 2], size=2))
            multiplier = int(rng.choice([1, 1, 2, 3, 8]))
            args = (channels, multiplier, (3, 3), stride, padding, 1, activation)
            name = f"dw{number}-s{stride}-{padding}-c{channels}x{multiplier}"
        elif kind == "pointwise":
            outputs = int(rng.choice([1, 2, 3, 7, 16, 17]))
            args = (channels, outputs, (1, 1), 1, padding, 1, activation)
            name = f"pw{number}-c{channels}to{outputs}"
        else:
            kernel = tuple(int(k) for k in rng.choice([1, 2, 3, 5], size=2))
            stride = int(rng.choice([1, 2, 3]))
            outputs = int(rng.choice([1, 4, 7, 8]))
            args = (channels, outputs, kernel, stride, padding, 1, activation)
            name = f"conv{number}-k{kernel}-s{stride}-{padding}-c{channels}to{outputs}"
        cases.append(pytest.param(kind, args, (1, height, width, channels), input_range, id=name))
    return cases


@pytest.mark.parametrize("kind, args, shape, input_range", _random_cases(21))
def test_one_op_is_bit_exact_on_the_host(tmp_path, kind, args, shape, input_range):
    rng = build.case_rng(args)
    make = build.depthwise if kind == "depthwise" else build.conv2d
    path = build.convert(make(rng, *args), shape, tmp_path / "op.tflite", rng, input_range)
    kernels = [layer.kernel for layer in analyze(path, "native").layers]
    assert all(kernel.startswith("mm_native_") for kernel in kernels), kernels
    _assert_bit_exact_on_host(path)


@pytest.mark.parametrize("depth, outputs, per_tensor", [(32, 10, False), (27, 5, True)])
def test_fully_connected_is_bit_exact_on_the_host(tmp_path, depth, outputs, per_tensor):
    rng = np.random.default_rng(depth)
    model = build.fully_connected(rng, depth, outputs, "NONE")
    path = build.convert(
        model, (1, depth), tmp_path / "fc.tflite", rng, (-1.0, 2.0), per_tensor_dense=per_tensor
    )
    assert [layer.kernel for layer in analyze(path, "native").layers] == ["mm_native_pointwise_s8"]
    _assert_bit_exact_on_host(path)


def test_a_layer_without_a_native_kernel_keeps_its_portable_kernel(tmp_path):
    """5x5 depthwise has no native kernel: the layer runs the portable one, bit-exact."""
    rng = np.random.default_rng(5)
    model = build.depthwise(rng, 4, 1, (5, 5), (1, 1), "SAME", 1, "RELU6")
    path = build.convert(model, (1, 9, 9, 4), tmp_path / "dw5.tflite", rng)
    compilation = analyze(path, "native")
    assert [(layer.kernel, layer.library) for layer in compilation.layers] == [
        ("mm_depthwise_conv2d_s8", "portable")
    ]
    _assert_bit_exact_on_host(path)


def native_zoo(rng: np.random.Generator):
    """Every native kernel and code path in one model: depthwise with stride 1 and 2 in either
    direction, SAME and VALID, multipliers 1, 2 and 8, odd channel counts and widths; pointwise
    with odd input and output channel counts; a padded 3x3 convolution and a 1x1 convolution of
    stride 2 (both through patches), and a fully connected head without activation (the clamp
    output mode)."""
    import tensorflow as tf

    def weights(*shape, scale=0.4):
        return tf.constant(rng.normal(0, scale, shape), tf.float32)

    def depthwise(x, multiplier=1, stride=(1, 1), padding="SAME"):
        w = weights(3, 3, x.shape[-1], multiplier)
        y = tf.nn.depthwise_conv2d(x, w, (1, *stride, 1), padding)
        return tf.nn.relu6(y + weights(x.shape[-1] * multiplier, scale=0.2))

    def conv(x, kernel, outputs, stride=1, padding="SAME", activation=tf.nn.relu6):
        w = weights(kernel, kernel, x.shape[-1], outputs)
        return activation(tf.nn.conv2d(x, w, stride, padding) + weights(outputs, scale=0.2))

    fc_weights = weights(3 * 2 * 7, 5, scale=1.0)

    @tf.function
    def model(x):  # 1x17x15x1
        y = depthwise(x, multiplier=8, stride=(2, 2))  # 9x8x8
        y = depthwise(y)
        y = conv(y, 1, 13)  # 9x8x13
        y = depthwise(y, stride=(2, 1))  # 5x8x13
        y = depthwise(y, multiplier=2, padding="VALID")  # 3x6x26
        y = conv(y, 1, 7)  # 3x6x7
        y = depthwise(y, stride=(1, 2))  # 3x3x7
        y = conv(y, 3, 6)  # 3x3x6, patches with padding
        y = conv(y, 1, 7, stride=(1, 2), activation=tf.nn.relu)  # 3x2x7, 1x1 of stride 2
        return tf.matmul(tf.reshape(y, (1, 3 * 2 * 7)), fc_weights)

    return model


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    rng = np.random.default_rng(2026)
    path = tmp_path_factory.mktemp("native-zoo") / "zoo.tflite"
    return build.convert(native_zoo(rng), (1, 17, 15, 1), path, rng, (-1.0, 1.0))


def test_the_zoo_runs_every_native_kernel(zoo):
    layers = analyze(zoo, "native").layers
    kernels = {layer.kernel for layer in layers if not layer.alias}
    assert kernels == {
        "mm_native_depthwise_3x3_s8",
        "mm_native_pointwise_s8",
        "mm_native_conv_s8",
    }
    modes = {layer.params["mode"] for layer in layers if layer.library == "native"}
    assert modes == {"MM_NATIVE_OUTPUT_SATURATE", "MM_NATIVE_OUTPUT_CLAMP"}
    multipliers = {layer.params.get("depth_multiplier") for layer in layers}
    assert {1, 2, 8} <= multipliers


def test_the_zoo_is_bit_exact_on_the_host(zoo):
    _assert_bit_exact_on_host(zoo)


@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_the_zoo_is_bit_exact_on_the_board(qemu, zoo, board):
    _assert_bit_exact_on_board(zoo, board)


def test_person_detect_is_bit_exact_on_the_host(person_detect, shared_models):
    images = [shared_models / "person.bmp", shared_models / "no_person.bmp"]
    report = validate_on_host(
        person_detect, inputs=3, images=images, per_layer=True, pixel_format="raw",
        backend="native",
    )  # fmt: skip
    assert report.passed and report.bit_exact == 5
    assert [o["output"] for o in report.outputs[-2:]] == [[-113, 113], [57, -57]]


@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_person_detect_is_bit_exact_on_every_qemu_board(qemu, person_detect, shared_models, board):
    images = [shared_models / "person.bmp", shared_models / "no_person.bmp"]
    report = _assert_bit_exact_on_board(person_detect, board, images, pixel_format="raw")
    assert [o["output"] for o in report.outputs[-2:]] == [[-113, 113], [57, -57]]


@pytest.mark.slow
def test_a_project_mobilenet_is_bit_exact_on_the_host_and_the_m4(qemu, quantized_mobilenet):  # noqa: F811
    model = quantized_mobilenet(alpha=0.25, resolution=32, channels=3)
    _assert_bit_exact_on_host(model)
    _assert_bit_exact_on_board(model, "qemu-mps2-an386")


def _assert_bit_exact_on_host(path: Path) -> None:
    report = validate_on_host(path, inputs=5, seed=3, per_layer=True, backend="native")
    assert report.mismatches == [], report.mismatches
    assert report.first_layer_mismatch is None, report.first_layer_mismatch
    assert report.bit_exact == 5


def _assert_bit_exact_on_board(model: Path, board: str, images=(), **options):
    report = validate_on_board(model, board, None, "native", 3, list(images), 5, **options)
    assert report.passed, (board, report.mismatches)
    assert report.bit_exact == 3 + len(images)
    return report
