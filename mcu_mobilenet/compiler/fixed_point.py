# SPDX-License-Identifier: Apache-2.0
"""Fixed-point kernel constants (Q31 multipliers, shifts, clamps), computed on the host exactly as
TFLM's reference kernels compute them.

Bit-exactness depends on the details: which products are taken in float32 before widening to
double, how ties round (TFLM's TfLiteRound is std::round: half away from zero), and how a
multiplier of exactly one is normalised. Each function names the TFLM routine it mirrors.
All multipliers are Q31 fixed-point values with a power-of-two exponent ("shift"): positive
shifts multiply, negative shifts divide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mcu_mobilenet.errors import UserError

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def round_half_away(value: float) -> int:
    """std::round: ties go away from zero. Exact for every double (no `x + 0.5` error)."""
    magnitude = abs(value)
    floor = math.floor(magnitude)
    rounded = floor + 1 if magnitude - floor >= 0.5 else floor
    return int(math.copysign(rounded, value))


def f32(value: float) -> np.float32:
    return np.float32(value)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real ~= multiplier * 2**(shift - 31), multiplier in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q_fixed = round_half_away(fraction * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:  # every bit would be shifted out: TFLM flushes to zero
        return 0, 0
    return q_fixed, shift


def per_channel_multipliers(
    input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int
) -> tuple[list[int], list[int]]:
    """PopulateConvolutionQuantizationParams (also per-channel FULLY_CONNECTED).

    A per-tensor filter scale is used for every channel, as TFLM does.
    """
    multipliers, shifts = [], []
    for channel in range(channels):
        filter_scale = filter_scales[channel] if len(filter_scales) > 1 else filter_scales[0]
        effective = float(input_scale) * float(filter_scale) / float(output_scale)
        multiplier, shift = quantize_multiplier(effective)
        multipliers.append(multiplier)
        shifts.append(shift)
    return multipliers, shifts


def fully_connected_multiplier(
    input_scale: float, filter_scale: float, output_scale: float
) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler: the scales' product is taken in float32 first."""
    product = float(f32(input_scale) * f32(filter_scale))
    return quantize_multiplier(product / float(output_scale))


def quantize_value(real: float, scale: float, zero_point: int) -> int:
    """The Quantize helper of CalculateActivationRangeQuantized: float32 division and rounding."""
    return zero_point + round_half_away(float(f32(real) / f32(scale)))


def activation_range(
    activation: str, scale: float, zero_point: int, qmin: int = INT8_MIN, qmax: int = INT8_MAX
) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for a fused activation on the output tensor."""
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_value(0.0, scale, zero_point)), qmax
    if activation == "RELU6":
        return (
            max(qmin, quantize_value(0.0, scale, zero_point)),
            min(qmax, quantize_value(6.0, scale, zero_point)),
        )
    if activation == "RELU_N1_TO_1":
        return (
            max(qmin, quantize_value(-1.0, scale, zero_point)),
            min(qmax, quantize_value(1.0, scale, zero_point)),
        )
    raise ValueError(f"unsupported fused activation {activation}")


def mean_multiplier(input_scale: float, output_scale: float, element_count: int) -> tuple[int, int]:
    """MEAN's multiplier: input/output scale, then 1/count folded in (QuantizedMeanOrSum)."""
    multiplier, shift = quantize_multiplier(float(input_scale) / float(output_scale))
    count_shift = min(element_count.bit_length() - 1, 32, 31 + shift)
    multiplier = _trunc_div(
        (multiplier << count_shift) if count_shift >= 0 else (multiplier >> -count_shift),
        element_count,
    )
    return multiplier, shift - count_shift


@dataclass(frozen=True)
class SoftmaxParams:
    input_multiplier: int
    input_left_shift: int
    diff_min: int


SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5


def softmax_params(beta: float, input_scale: float) -> SoftmaxParams:
    """PreprocessSoftmaxScaling and CalculateInputRadius for int8 input (double rounding)."""
    bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    real = min(float(beta) * float(input_scale) * (1 << (31 - bits)), (1 << 31) - 1.0)
    multiplier, shift = quantize_multiplier(real)
    if shift < 0:
        raise UserError(
            f"softmax input scale {input_scale:g} is too small for TFLM's int8 softmax "
            "(TFLM itself aborts on this model); train the model further before quantizing"
        )
    max_input_rescaled = 1.0 * ((1 << bits) - 1) * (1 << (31 - bits)) / (1 << shift)
    return SoftmaxParams(multiplier, shift, -math.floor(max_input_rescaled))


@dataclass(frozen=True)
class AddParams:
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int


def add_params(input1_scale: float, input2_scale: float, output_scale: float) -> AddParams:
    """CalculateOpDataAdd for int8 (left shift 20, multipliers below one)."""
    left_shift = 20
    twice_max = 2 * float(max(f32(input1_scale), f32(input2_scale)))
    m1, s1 = _smaller_than_one(float(input1_scale) / twice_max)
    m2, s2 = _smaller_than_one(float(input2_scale) / twice_max)
    mo, so = _smaller_than_one(twice_max / ((1 << left_shift) * float(output_scale)))
    return AddParams(left_shift, m1, s1, m2, s2, mo, so)


def requantize_multiplier(input_scale: float, output_scale: float) -> tuple[int, int]:
    """QUANTIZE from int8 to int8 (a requantization)."""
    return quantize_multiplier(float(input_scale) / float(output_scale))


def _smaller_than_one(real: float) -> tuple[int, int]:
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:
        raise UserError(f"ADD needs a rescaling factor below one, got {real:g}")
    return multiplier, shift


def _trunc_div(numerator: int, denominator: int) -> int:
    """C's integer division (truncates toward zero)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient
