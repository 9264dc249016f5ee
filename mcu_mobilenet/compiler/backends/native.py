# SPDX-License-Identifier: Apache-2.0
"""The native backend: our own kernels, with every constant prepared for their inner loops.

For each convolution-like layer the compiler knows all weights and quantization constants, so
it does here, once, what a run-time library does at every call (firmware/kernels/native/
mm_native.h describes the layouts):

- biases folded with the input offset and doubled, and per output channel the three
  requantization constants (multiplier, rounding with the output zero point folded in, shift);
- matrix filters (1x1, general convolutions, fully connected) zero-padded to whole words and
  interleaved by pairs of output channels, in the order the 2x2 inner loop loads them;
- depthwise 3x3 filters as doubled int16 pairs of taps.

A layer runs on a native kernel only when the requantization shortcut is exact for it (every
shift a right shift of 1 to 23 bits, doubled accumulators within int32, multipliers above 2^30
where the sign of the accumulator is needed); any other layer keeps its portable kernel, which
is what `compile`'s report shows in its kernel column.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mcu_mobilenet.compiler import fixed_point as q
from mcu_mobilenet.compiler import ir, specs
from mcu_mobilenet.compiler.backends.base import Backend, Lowered
from mcu_mobilenet.compiler.backends.native_helium import HEADER as HELIUM_HEADER
from mcu_mobilenet.compiler.backends.native_helium import SOURCES as HELIUM_SOURCES
from mcu_mobilenet.compiler.backends.native_helium import helium_call
from mcu_mobilenet.compiler.backends.portable import portable_layer
from mcu_mobilenet.compiler.kernel_call import ConstArray, Layer, window_stream
from mcu_mobilenet.compiler.target import MVE, Target
from mcu_mobilenet.paths import FIRMWARE_DIR

NAME = "native"
KERNELS_DIR = FIRMWARE_DIR / "kernels" / "native"
HEADERS = ("mm_native.h", "mm_native_simd.h")
# Each kernel's sources; the 2x2 matrix core serves the pointwise, conv and FC kernels.
SOURCES = {
    "mm_native_pointwise_s8": ("mm_native_pointwise_s8.c", "mm_native_gemm_pair_s8.c"),
    "mm_native_conv_s8": ("mm_native_conv_s8.c", "mm_native_gemm_pair_s8.c"),
    "mm_native_depthwise_3x3_s8": ("mm_native_depthwise_3x3_s8.c",),
    **HELIUM_SOURCES,  # emitted for Helium targets only; their header refuses any other CPU
}
MAX_SHIFT = 23  # rounding = 2^(e-1) + zero_point * 2^e stays within int32
SATURATE, CLAMP = "MM_NATIVE_OUTPUT_SATURATE", "MM_NATIVE_OUTPUT_CLAMP"
GEMM_SCRATCH_BYTES_PER_GROUP = 16  # MM_NATIVE_GEMM_SCRATCH_BYTES in mm_native.h
CONV_SCRATCH_BYTES_PER_GROUP = 24  # MM_NATIVE_CONV_SCRATCH_BYTES


def _lower(graph: ir.Graph, layer_specs: list[specs.Spec], target: Target | None) -> Lowered:
    """Each layer a native kernel runs exactly as its native call, the others portable. A
    target with Helium gets the Helium kernels and layouts (native_helium.py); any other, or
    none, the DSP ones, which are plain C on cores without the DSP extension."""
    helium = target is not None and target.features == MVE
    layers = []
    for spec in layer_specs:
        native = _helium_layer(spec) if helium else _dsp_layer(spec)
        layers.append(native or portable_layer(spec))
    return Lowered(layers)


def _dsp_layer(spec: specs.Spec) -> Layer | None:
    make = _MAKERS.get(type(spec))
    return make(spec) if make else None


def _helium_layer(spec: specs.Spec) -> Layer | None:
    call = helium_call(spec)
    if call is None:
        return None
    return Layer(
        spec, call.kernel, NAME, call.constants, call.params, call.streams, call.scratch_bytes
    )


def _output_mode(spec, multipliers: np.ndarray) -> str | None:
    if spec.act_min == spec.output_zero_point == q.INT8_MIN and spec.act_max == q.INT8_MAX:
        return SATURATE
    # The clamp mode reads the sign of t from the accumulator's, equal when m > 2^30.
    return CLAMP if int(multipliers.min()) > 1 << 30 else None


def _channels(spec, folded_bias: np.ndarray, weight_magnitudes: np.ndarray):
    """The mm_native_channel records (bias, multiplier, rounding, shift) and the output mode,
    or None when the requantization shortcut would not be exact."""
    multipliers = np.asarray(spec.multipliers, dtype=np.int64)
    shifts = -np.asarray(spec.shifts, dtype=np.int64)
    if shifts.min() < 1 or shifts.max() > MAX_SHIFT or multipliers.min() < 1 << 30:
        return None
    mode = _output_mode(spec, multipliers)
    if mode is None:
        return None
    doubled_bias = 2 * folded_bias.astype(np.int64)
    bound = np.abs(doubled_bias) + 2 * 128 * weight_magnitudes
    if bound.max() > q.INT32_MAX:
        return None
    rounding = (1 << (shifts - 1)) + spec.output_zero_point * (1 << shifts)
    records = np.stack([doubled_bias, multipliers, rounding, shifts], axis=1)
    return records.astype(np.int32), mode


def _matrix_filter(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """[C_OUT, L] int8 rows as the 2x2 loop reads them (mm_native.h), and the group count."""
    out_c, length = rows.shape
    groups = -(-length // 4)
    padded = np.zeros((out_c, 4 * groups), dtype=np.int8)
    padded[:, :length] = rows
    words = padded.view("<i4").reshape(out_c, groups)  # one word per channel and group
    pairs = out_c // 2
    interleaved = words[: 2 * pairs].reshape(pairs, 2, groups).transpose(0, 2, 1).reshape(-1)
    return np.concatenate([interleaved, words[2 * pairs :].reshape(-1)]).astype(np.int32), groups


def _native_layer(spec: specs.Spec, kernel: str, constants, params, streams, scratch=0) -> Layer:
    return Layer(spec, kernel, NAME, constants, params, streams, scratch)


def _gemm(spec, rows: np.ndarray, folded_bias: np.ndarray):
    """Channel records, filter words, group count and output mode of a matrix layer, or None
    when the native requantization would not be exact."""
    channels = _channels(spec, folded_bias, np.abs(rows.astype(np.int64)).sum(axis=1))
    if channels is None:
        return None
    records, mode = channels
    filter_words, groups = _matrix_filter(rows)
    constants = [
        ConstArray("channels", "int32_t", records.reshape(-1)),
        ConstArray("filter", "int32_t", filter_words),
    ]
    return constants, groups, mode


def _gemm_params(spec, groups: int, out_channels: int, mode: str, **more) -> dict:
    return dict(
        groups=groups,
        out_channels=out_channels,
        act_min=spec.act_min,
        act_max=spec.act_max,
        mode=mode,
        **more,
    )


def _conv(spec: specs.Conv) -> Layer | None:
    if spec.depthwise:
        return _depthwise(spec)
    made = _gemm(spec, spec.filter_rows(), spec.folded_bias)
    if made is None:
        return None
    constants, groups, mode = made
    x, out_c = spec.inputs[0], spec.out_channels
    if spec.pointwise:
        n, height, width, in_c = spec.input_dims
        params = _gemm_params(
            spec, groups, out_c, mode, pixels=n * height * width, in_channels=in_c
        )
        # Two pixels read, then their outputs written: the portable 1x1 kernel's order.
        stream = window_stream(x.shape, spec.output.shape, (1, 1), (0, 0), out_c, 2)
        scratch = GEMM_SCRATCH_BYTES_PER_GROUP * groups
        return _native_layer(spec, "mm_native_pointwise_s8", constants, params, [stream], scratch)
    k_h, k_w = spec.kernel_size
    params = _gemm_params(spec, groups, out_c, mode, window=spec.window(k_h, k_w))
    stream = window_stream(x.shape, spec.output.shape, spec.stride, spec.padding, out_c, 2)
    scratch = CONV_SCRATCH_BYTES_PER_GROUP * groups
    return _native_layer(spec, "mm_native_conv_s8", constants, params, [stream], scratch)


def _fully_connected(spec: specs.FullyConnected) -> Layer | None:
    made = _gemm(spec, spec.filter, spec.folded_bias)
    if made is None:
        return None
    constants, groups, mode = made
    params = _gemm_params(
        spec, groups, spec.output_depth, mode, pixels=spec.batches, in_channels=spec.depth
    )
    scratch = GEMM_SCRATCH_BYTES_PER_GROUP * groups
    return _native_layer(spec, "mm_native_pointwise_s8", constants, params, [], scratch)


def _depthwise(spec: specs.Conv) -> Layer | None:
    if spec.kernel_size != (3, 3) or spec.dilation != (1, 1) or spec.stride[1] not in (1, 2):
        return None
    taps = spec.filter_rows().astype(np.int64)  # [C_OUT, 9], row-major window
    channels = _channels(spec, spec.folded_bias, np.abs(taps).sum(axis=1))
    if channels is None:
        return None
    records, mode = channels
    out_c = spec.out_channels
    doubled = 2 * taps
    zeros = np.zeros(out_c, dtype=np.int64)
    pairs = [
        (doubled[:, 0], doubled[:, 3]),
        (doubled[:, 1], doubled[:, 4]),
        (doubled[:, 2], doubled[:, 5]),
        (doubled[:, 6], doubled[:, 7]),
        (doubled[:, 8], zeros),
    ]
    words = np.stack([(low & 0xFFFF) | ((high & 0xFFFF) << 16) for low, high in pairs], axis=1)
    params = dict(
        window=spec.window(3, 3),
        depth_multiplier=spec.depth_multiplier,
        act_min=spec.act_min,
        act_max=spec.act_max,
        mode=mode,
    )
    constants = [
        ConstArray("channels", "int32_t", records.reshape(-1)),
        ConstArray("taps", "int32_t", words.reshape(-1).astype(np.uint32).view(np.int32)),
    ]
    x, out_w = spec.inputs[0], spec.output.shape[2]
    # Whole output rows, each after reading nothing above its first input row.
    stream = window_stream(x.shape, spec.output.shape, spec.stride, spec.padding, out_c, out_w)
    return _native_layer(spec, "mm_native_depthwise_3x3_s8", constants, params, [stream])


_MAKERS: dict[type, Callable[[specs.Spec], Layer | None]] = {
    specs.Conv: _conv,
    specs.FullyConnected: _fully_connected,
}


def native_files(layers: list[Layer]) -> list[tuple[str, Path]]:
    sources = sorted({name for layer in layers for name in SOURCES[layer.kernel]})
    names = [*HEADERS, *sources] if sources else []
    return [(name, KERNELS_DIR / name) for name in names]


BACKEND = Backend(
    name=NAME,
    summary="mcu-mobilenet's own kernels, laid out at compile time (DSP code on Cortex-M4/M7/M55)",
    calls_template="native_calls.c.j2",
    lower=_lower,
    kernel_files=native_files,
    headers=lambda layers: [
        HELIUM_HEADER if any(layer.kernel in HELIUM_SOURCES for layer in layers) else "mm_native.h"
    ],
    needs_target=True,  # the Helium layouts differ from the DSP ones
)
