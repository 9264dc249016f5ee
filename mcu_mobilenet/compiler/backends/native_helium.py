"""The native backend on Helium (MVE) cores: the layouts of firmware/kernels/native/mm_native_mve.h.

Chosen by backends/native.py when the target's CPU has MVE's integer instructions. Here, once
per layer, the compiler prepares what the Helium inner loops load:

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

import numpy as np

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler import quantization as q
from mcu_mobilenet.compiler.backends.native import _constant, _native_layer, _window, _zp
from mcu_mobilenet.compiler.lowering import ConstArray, Layer, _window_stream

TIES_CLAMPED, TIES_AWAY = "MM_NATIVE_MVE_TIES_CLAMPED", "MM_NATIVE_MVE_TIES_AWAY"
LANES = 4  # int32 lanes of a vector: output channels per group
CHUNK = 16  # int8 lanes: bytes of a row per VMLADAVA
DEPTHWISE_GROUP_WORDS = 32  # MM_NATIVE_MVE_DEPTHWISE_GROUP_WORDS in mm_native_mve.h
MAX_GATHER_OFFSET = 0xFFFF  # the depthwise gather's offsets are uint16 lanes
MAX_SHIFT = 31


def retarget(graph: ir.Graph, layers: list[Layer]) -> list[Layer]:
    """The layers, each one a Helium kernel can run exactly replaced by its native call."""
    retargeted = []
    for layer in layers:
        make = _RETARGETERS.get(layer.kernel)
        native = make(graph, graph.operators[layer.index], layer) if make else None
        retargeted.append(native or layer)
    return retargeted


def _requantization(
    layer: Layer, bias: np.ndarray, weight_magnitudes: np.ndarray, output_zero_point: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """Per channel (bias, multiplier, negated shift) as int64 arrays and the ties mode, or None
    when the requantization of mm_native_mve.h would not be exact for this layer."""
    p = layer.params
    multipliers = _constant(layer, "multiplier").values.astype(np.int64)
    shifts = -_constant(layer, "shift").values.astype(np.int64)
    ties = TIES_CLAMPED if p["act_min"] >= output_zero_point else TIES_AWAY
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


def _gemm(graph: ir.Graph, op: ir.Operator, layer: Layer, rows: np.ndarray):
    """The constant arrays and output params of a matrix layer, or None."""
    y = graph.tensors[op.outputs[0]]
    bias = _constant(layer, "bias").values
    weight_magnitudes = np.abs(rows.astype(np.int64)).sum(axis=1)
    requantization = _requantization(layer, bias, weight_magnitudes, _zp(y))
    if requantization is None:
        return None
    *vectors, ties = requantization
    constants = [
        ConstArray("channels", "int32_t", _channel_vectors(*vectors).reshape(-1)),
        ConstArray("filter", "int8_t", _matrix_filter(rows)),
    ]
    p = layer.params
    params = dict(
        depth=rows.shape[1],
        out_channels=rows.shape[0],
        zero_point=_zp(y),
        act_min=p["act_min"],
        act_max=p["act_max"],
        ties=ties,
    )
    return constants, params


def _pointwise(graph: ir.Graph, op: ir.Operator, layer: Layer) -> Layer | None:
    p = layer.params
    n, height, width, in_c = p["input_dims"]
    rows = _constant(layer, "filter").values.reshape(p["output_dims"][3], in_c)
    made = _gemm(graph, op, layer, rows)
    if made is None:
        return None
    constants, params = made
    params["pixels"] = n * height * width
    # Two pixels computed, then their outputs written: as the portable kernel's stream.
    return _native_layer(layer, "mm_native_mve_pointwise_s8", constants, params, layer.streams)


def _fully_connected(graph: ir.Graph, op: ir.Operator, layer: Layer) -> Layer | None:
    p = layer.params
    rows = _constant(layer, "filter").values.reshape(p["output_depth"], p["depth"])
    made = _gemm(graph, op, layer, rows)
    if made is None:
        return None
    constants, params = made
    params["pixels"] = p["batches"]
    return _native_layer(layer, "mm_native_mve_pointwise_s8", constants, params, [])


def _conv(graph: ir.Graph, op: ir.Operator, layer: Layer) -> Layer | None:
    p = layer.params
    out_c, k_h, k_w, in_c = p["filter_dims"]
    rows = _constant(layer, "filter").values.reshape(out_c, k_h * k_w * in_c)
    made = _gemm(graph, op, layer, rows)
    if made is None:
        return None
    constants, params = made
    params["window"] = _window(p, k_h, k_w)
    x = layer.inputs[0]
    stream = _window_stream(x.shape, layer.output.shape, p["stride"], p["padding"], out_c, 2)
    scratch = 2 * rows.shape[1]  # MM_NATIVE_MVE_CONV_SCRATCH_BYTES: two patches
    return _native_layer(layer, "mm_native_mve_conv_s8", constants, params, [stream], scratch)


def _depthwise(graph: ir.Graph, op: ir.Operator, layer: Layer) -> Layer | None:
    p = layer.params
    filt = graph.tensors[op.inputs[1]]
    _, k_h, k_w, out_c = filt.shape
    if (k_h, k_w) != (3, 3) or p["dilation"] != (1, 1):
        return None
    _, _, in_w, in_c = p["input_dims"]
    if 2 * in_w * in_c + 2 * in_c > MAX_GATHER_OFFSET:
        return None
    taps = filt.data[0].astype(np.int64).reshape(9, out_c).T  # [C_OUT, 9], row-major window
    y = graph.tensors[op.outputs[0]]
    bias = _constant(layer, "bias").values
    requantization = _requantization(layer, bias, np.abs(taps).sum(axis=1), _zp(y))
    if requantization is None:
        return None
    *vectors, ties = requantization
    in_channels = np.arange(out_c) // p["depth_multiplier"]
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
        window=_window(p, 3, 3),
        depth_multiplier=p["depth_multiplier"],
        out_channels=out_c,
        zero_point=_zp(y),
        act_min=p["act_min"],
        act_max=p["act_max"],
        ties=ties,
    )
    constants = [ConstArray("groups", "int32_t", words.reshape(-1).astype(np.int32))]
    x = layer.inputs[0]
    out_w = layer.output.shape[2]
    # Whole output rows in order, each after reading nothing above its first input row.
    stream = _window_stream(x.shape, layer.output.shape, p["stride"], p["padding"], out_c, out_w)
    return _native_layer(layer, "mm_native_mve_depthwise_3x3_s8", constants, params, [stream])


_RETARGETERS: dict[str, Callable[[ir.Graph, ir.Operator, Layer], Layer | None]] = {
    "mm_conv2d_1x1_s8": _pointwise,
    "mm_conv2d_s8": _conv,
    "mm_depthwise_conv2d_s8": _depthwise,
    "mm_fully_connected_s8": _fully_connected,
}
