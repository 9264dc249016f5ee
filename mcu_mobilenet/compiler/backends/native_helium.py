# SPDX-License-Identifier: Apache-2.0
"""The native backend on Helium (MVE) cores: the layouts of kernels/native/mm_native_mve.h.

Chosen by backends/native.py (which wraps each call into a Layer) when the target's CPU has
MVE's integer instructions. Here, once per layer, the compiler prepares what the Helium inner
loops load:

- per group of four output channels, the folded biases, the multipliers and the negated
  shifts as three int32 vectors (VLDRW), the requantization of mm_native_mve.h;
- matrix filters (1x1, general convolutions, fully connected) in groups of four output
  channels and chunks of 16 bytes, zero-padded, in the order the 2x4 VMLADAVA loop reads them;
- depthwise 3x3 filters as eight int8 taps per channel (VLDRB.S16) beside the group's tap-8
  values, input channels and tap 8's gather offsets.

A layer runs on a Helium kernel only when that requantization is exact for it (right shifts
of 1 to 31 bits, or 0 to 31 where the activation clamps every negative result, and
accumulators that cannot leave int32); any other layer keeps its portable kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mcu_mobilenet.compiler import fixed_point as q
from mcu_mobilenet.compiler import specs
from mcu_mobilenet.compiler.kernel_call import ConstArray, Stream, window_stream

TIES_CLAMPED, TIES_AWAY = "MM_NATIVE_MVE_TIES_CLAMPED", "MM_NATIVE_MVE_TIES_AWAY"
LANES = 4  # int32 lanes of a vector: output channels per group
CHUNK = 16  # int8 lanes: bytes of a row per VMLADAVA
DEPTHWISE_GROUP_WORDS = 32  # MM_NATIVE_MVE_DEPTHWISE_GROUP_WORDS in mm_native_mve.h
MAX_GATHER_OFFSET = 0xFFFF  # the depthwise gather's offsets are uint16 lanes
MAX_SHIFT = 31
HEADER = "mm_native_mve.h"
MATRIX_CORE = (HEADER, "mm_native_mve_gemm_pair_s8.c")
SOURCES = {
    "mm_native_mve_pointwise_s8": (*MATRIX_CORE, "mm_native_mve_pointwise_s8.c"),
    "mm_native_mve_conv_s8": (*MATRIX_CORE, "mm_native_mve_conv_s8.c"),
    "mm_native_mve_depthwise_3x3_s8": (HEADER, "mm_native_mve_depthwise_3x3_s8.c"),
}


@dataclass
class HeliumCall:
    """A Helium kernel call, before native.py makes it a Layer."""

    kernel: str
    constants: list[ConstArray]
    params: dict
    streams: list[Stream] = field(default_factory=list)
    scratch_bytes: int = 0


def helium_call(spec: specs.Spec) -> HeliumCall | None:
    """The Helium kernel call of a spec, or None when no Helium kernel runs it exactly."""
    make = _MAKERS.get(type(spec))
    return make(spec) if make else None


def _requantization(
    spec, bias: np.ndarray, weight_magnitudes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """Per channel (bias, multiplier, negated shift) as int64 arrays and the ties mode, or None
    when the requantization of mm_native_mve.h would not be exact for this layer."""
    multipliers = np.asarray(spec.multipliers, dtype=np.int64)
    shifts = -np.asarray(spec.shifts, dtype=np.int64)
    ties = TIES_CLAMPED if spec.act_min >= spec.output_zero_point else TIES_AWAY
    lowest_shift = 0 if ties == TIES_CLAMPED else 1
    if shifts.min() < lowest_shift or shifts.max() > MAX_SHIFT or multipliers.min() < 0:
        return None
    bias = bias.astype(np.int64)
    if (np.abs(bias) + 128 * weight_magnitudes).max() > q.INT32_MAX:
        return None
    return bias, multipliers, -shifts, ties


def _pad_channels(values: np.ndarray, groups: int) -> np.ndarray:
    """Channel-major values padded with zeros to `groups` whole groups of channels."""
    padded = np.zeros((groups * LANES, *values.shape[1:]), dtype=values.dtype)
    padded[: len(values)] = values
    return padded


def _channel_vectors(*per_channel: np.ndarray) -> np.ndarray:
    """[groups, len(per_channel), 4] int32: each group's vectors, one after the other."""
    groups = -(-len(per_channel[0]) // LANES)
    vectors = [_pad_channels(v, groups).reshape(groups, 1, LANES) for v in per_channel]
    return np.concatenate(vectors, axis=1).astype(np.int32)


def _matrix_filter(rows: np.ndarray) -> np.ndarray:
    """[C_OUT, L] int8 rows as the 2x4 loop reads them: [group][chunk][channel][16 bytes]."""
    out_c, length = rows.shape
    groups, chunks = -(-out_c // LANES), -(-length // CHUNK)
    padded = np.zeros((groups * LANES, chunks * CHUNK), dtype=np.int8)
    padded[:out_c, :length] = rows
    return padded.reshape(groups, LANES, chunks, CHUNK).transpose(0, 2, 1, 3).reshape(-1)


def _gemm(spec, rows: np.ndarray, folded_bias: np.ndarray):
    """The constant arrays and output params of a matrix layer, or None."""
    weight_magnitudes = np.abs(rows.astype(np.int64)).sum(axis=1)
    requantization = _requantization(spec, folded_bias, weight_magnitudes)
    if requantization is None:
        return None
    *vectors, ties = requantization
    constants = [
        ConstArray("channels", "int32_t", _channel_vectors(*vectors).reshape(-1)),
        ConstArray("filter", "int8_t", _matrix_filter(rows)),
    ]
    params = dict(
        depth=rows.shape[1],
        out_channels=rows.shape[0],
        zero_point=spec.output_zero_point,
        act_min=spec.act_min,
        act_max=spec.act_max,
        ties=ties,
    )
    return constants, params


def _conv(spec: specs.Conv) -> HeliumCall | None:
    if spec.depthwise:
        return _depthwise(spec)
    made = _gemm(spec, spec.filter_rows(), spec.folded_bias)
    if made is None:
        return None
    constants, params = made
    x, out_c = spec.inputs[0], spec.out_channels
    if spec.pointwise:
        n, height, width, _ = spec.input_dims
        params["pixels"] = n * height * width
        # Two pixels computed, then their outputs written: as the portable kernel's stream.
        stream = window_stream(x.shape, spec.output.shape, (1, 1), (0, 0), out_c, 2)
        return HeliumCall("mm_native_mve_pointwise_s8", constants, params, [stream])
    k_h, k_w = spec.kernel_size
    params["window"] = spec.window(k_h, k_w)
    stream = window_stream(x.shape, spec.output.shape, spec.stride, spec.padding, out_c, 2)
    scratch = 2 * params["depth"]  # MM_NATIVE_MVE_CONV_SCRATCH_BYTES: two patches
    return HeliumCall("mm_native_mve_conv_s8", constants, params, [stream], scratch)


def _fully_connected(spec: specs.FullyConnected) -> HeliumCall | None:
    made = _gemm(spec, spec.filter, spec.folded_bias)
    if made is None:
        return None
    constants, params = made
    params["pixels"] = spec.batches
    return HeliumCall("mm_native_mve_pointwise_s8", constants, params)


def _depthwise(spec: specs.Conv) -> HeliumCall | None:
    if spec.kernel_size != (3, 3) or spec.dilation != (1, 1):
        return None
    _, _, in_w, in_c = spec.input_dims
    if 2 * in_w * in_c + 2 * in_c > MAX_GATHER_OFFSET:
        return None
    out_c = spec.out_channels
    taps = spec.filter_rows().astype(np.int64)  # [C_OUT, 9], row-major window
    requantization = _requantization(spec, spec.folded_bias, np.abs(taps).sum(axis=1))
    if requantization is None:
        return None
    *vectors, ties = requantization
    in_channels = np.arange(out_c) // spec.depth_multiplier
    groups = -(-out_c // LANES)
    # Padding channels read the last input channel (through zero filters): never outside.
    padded_inputs = np.full(groups * LANES, in_channels[-1])
    padded_inputs[:out_c] = in_channels
    tap8_offset = 2 * in_w * in_c + 2 * in_c  # of tap 8 (row 2, column 2) in the window
    head = _channel_vectors(*vectors, taps[:, 8])
    inputs = np.stack([padded_inputs, padded_inputs + tap8_offset]).reshape(2, groups, LANES)
    head = np.concatenate([head, inputs.transpose(1, 0, 2)], axis=1)
    taps_0_7 = _pad_channels(taps[:, :8].astype(np.int8), groups).reshape(groups, LANES * 8)
    words = np.concatenate(
        [head.reshape(groups, -1).astype(np.int32), taps_0_7.view("<i4")], axis=1
    )
    assert words.shape[1] == DEPTHWISE_GROUP_WORDS
    params = dict(
        window=spec.window(3, 3),
        depth_multiplier=spec.depth_multiplier,
        out_channels=out_c,
        zero_point=spec.output_zero_point,
        act_min=spec.act_min,
        act_max=spec.act_max,
        ties=ties,
    )
    constants = [ConstArray("groups", "int32_t", words.reshape(-1).astype(np.int32))]
    x, out_w = spec.inputs[0], spec.output.shape[2]
    # Whole output rows in order, each after reading nothing above its first input row.
    stream = window_stream(x.shape, spec.output.shape, spec.stride, spec.padding, out_c, out_w)
    return HeliumCall("mm_native_mve_depthwise_3x3_s8", constants, params, [stream])


_MAKERS: dict[type, Callable[..., HeliumCall | None]] = {
    specs.Conv: _conv,
    specs.FullyConnected: _fully_connected,
}
