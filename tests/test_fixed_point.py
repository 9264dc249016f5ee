# SPDX-License-Identifier: Apache-2.0
"""Host-side quantization constants, against values derived by hand from TFLM's formulas."""

import math

import numpy as np
import pytest

from mcu_mobilenet.compiler import fixed_point as q
from mcu_mobilenet.errors import UserError


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.5, 1),
        (-0.5, -1),
        (2.5, 3),
        (-2.5, -3),
        (1.4999999, 1),
        (0.49999999999999994, 0),
        (-0.49999999999999994, 0),
        (1e15 + 0.5, 10**15 + 1),
    ],
)
def test_round_half_away_from_zero(value, expected):
    assert q.round_half_away(value) == expected


@pytest.mark.parametrize(
    "real, expected",
    [
        (0.0, (0, 0)),
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, 1)),
        (0.25, (1 << 30, -1)),
        (0.75, (3 << 29, 0)),
        (2.0**-40, (0, 0)),  # below 2^-31 TFLM flushes to zero
        (1 - 2.0**-33, (1 << 30, 1)),  # rounds up to 2^31, renormalised
    ],
)
def test_quantize_multiplier(real, expected):
    assert q.quantize_multiplier(real) == expected


def test_quantize_multiplier_represents_the_value():
    for real in (0.0123, 0.9999, 3.7, 1e-5, 123.456):
        multiplier, shift = q.quantize_multiplier(real)
        assert 1 << 30 <= multiplier < 1 << 31
        assert math.isclose(multiplier * 2.0 ** (shift - 31), real, rel_tol=2**-30)


def test_per_tensor_scale_applies_to_every_channel():
    multipliers, shifts = q.per_channel_multipliers(0.5, (0.25,), 0.125, channels=3)
    assert multipliers == [1 << 30] * 3 and shifts == [1] * 3


def test_fully_connected_takes_the_scale_product_in_float32():
    # 0.1f * 0.3f rounds differently in float32 than in double: TFLM multiplies the floats.

    product32 = float(np.float32(0.1) * np.float32(0.3))
    product64 = float(np.float32(0.1)) * float(np.float32(0.3))
    assert product32 != product64
    assert q.fully_connected_multiplier(0.1, 0.3, 1.0) == q.quantize_multiplier(product32)


@pytest.mark.parametrize(
    "activation, scale, zero_point, expected",
    [
        ("NONE", 0.1, 3, (-128, 127)),
        ("RELU", 0.05, -128, (-128, 127)),
        ("RELU", 0.05, -20, (-20, 127)),
        ("RELU6", 6 / 255, -128, (-128, 127)),
        ("RELU6", 0.1, -128, (-128, -68)),
        ("RELU_N1_TO_1", 0.01, 0, (-100, 100)),
    ],
)
def test_activation_range(activation, scale, zero_point, expected):
    assert q.activation_range(activation, scale, zero_point) == expected


def test_softmax_params_by_hand():
    # beta * scale * 2^26 = 2^22 -> multiplier 2^30, shift 23; radius floor(31 * 2^26 / 2^23).
    params = q.softmax_params(1.0, 1 / 16)
    assert params == q.SoftmaxParams(1 << 30, 23, -248)


def test_softmax_rejects_what_tflm_aborts_on():
    with pytest.raises(UserError, match="too small"):
        q.softmax_params(1.0, 2.0**-40)


def test_mean_folds_the_element_count():
    # 1.0 -> (2^30, 1); 49 elements: shift 5, multiplier (2^30 << 5) // 49.
    multiplier, shift = q.mean_multiplier(0.5, 0.5, 49)
    assert (multiplier, shift) == ((1 << 35) // 49, 1 - 5)


def test_add_params_by_hand():
    params = q.add_params(0.5, 0.25, 1.0)
    # input1: 0.5 / 1.0 -> (2^30, 0); input2: 0.25 / 1.0 -> (2^30, -1); output 1/2^20.
    assert (params.input1_multiplier, params.input1_shift) == (1 << 30, 0)
    assert (params.input2_multiplier, params.input2_shift) == (1 << 30, -1)
    assert (params.output_multiplier, params.output_shift) == (1 << 30, -19)
    assert params.left_shift == 20
