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

import numpy as np

from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler import quantization as q
from mcu_mobilenet.compiler.lowering import ConstArray, Layer, _window_stream
from mcu_mobilenet.compiler.target import MVE, Target

LIBRARY = "native"
MAX_SHIFT = 23  # rounding = 2^(e-1) + zero_point * 2^e stays within int32
SATURATE, CLAMP = "MM_NATIVE_OUTPUT_SATURATE", "MM_NATIVE_OUTPUT_CLAMP"
GEMM_SCRATCH_BYTES_PER_GROUP = 16  # MM_NATIVE_GEMM_SCRATCH_BYTES in mm_native.h
CONV_SCRATCH_BYTES_PER_GROUP = 24  # MM_NATIVE_CONV_SCRATCH_BYTES


def retarget(graph: ir.Graph, layers: list[Layer], target: Target | None = None) -> list[Layer]:
    """The layers, each one a native kernel can run exactly replaced by its native call.

    A target with Helium gets the layouts of native_helium.py; any other, or none, these."""
    if target is not None and target.features == MVE:
        from mcu_mobilenet.compiler.backends import native_helium

        return native_helium.retarget(graph, layers)
    retargeted = []
    for layer in layers:
        make = _RETARGETERS.get(layer.kernel)
        native = make(graph, graph.operators[layer.index], layer) if make else None
        retargeted.append(native or layer)
    return retargeted


def _output_mode(layer: Layer, multipliers: np.ndarray, output_zero_point: int) -> str | None:
    p = layer.params
    if p["act_min"] == output_zero_point == q.INT8_MIN and p["act_max"] == q.INT8_MAX:
        return SATURATE
    # The clamp mode reads the sign of t from the accumulator's, equal when m > 2^30.
    return CLAMP if int(multipliers.min()) > 1 << 30 else None


def _channels(
    layer: Layer, bias: np.ndarray, weight_magnitudes: np.ndarray, output_zero_point: int
) -> tuple[np.ndarray, str] | None:
    """The mm_native_channel records (bias, multiplier, rounding, shift) and the output mode,
    or None when the requantization shortcut would not be exact."""
    multipliers = _constant(layer, "multiplier").values.astype(np.int64)
    shifts = -_constant(layer, "shift").values.astype(np.int64)
    if shifts.min() < 1 or shifts.max() > MAX_SHIFT or multipliers.min() < 1 << 30:
        return None
    mode = _output_mode(layer, multipliers, output_zero_point)
    if mode is None:
        return None
    doubled_bias = 2 * bias.astype(np.int64)
    bound = np.abs(doubled_bias) + 2 * 128 * weight_magnitudes
    if bound.max() > q.INT32_MAX:
        return None
    rounding = (1 << (shifts - 1)) + output_zero_point * (1 << shifts)
    records = np.stack([doubled_bias, multipliers, rounding, shifts], axis=1)
    return records.astype(np.int32), mode


def _constant(layer: Layer, name: str) -> ConstArray:
    return next(c for c in layer.constants if c.name == name)


def _words(values: np.ndarray) -> np.ndarray:
    """int8 values (a multiple of 4) as little-endian int32 words."""
    return np.ascontiguousarray(values.astype(np.int8)).view("<i4").astype(np.int32)


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


def _native_layer(layer: Layer, kernel: str, constants, params, streams, scratch=0) -> Layer:
    return Layer(
        layer.index,
        layer.op,
        kernel,
        layer.inputs,
        layer.output,
        macs=layer.macs,
        constants=constants,
        params=params,
        streams=streams,
        library=LIBRARY,
        scratch_bytes=scratch,
    )


def _gemm(graph: ir.Graph, op: ir.Operator, layer: Layer, rows: np.ndarray):
    """Channel records, filter words, group count and output mode of a matrix layer."""
    y = graph.tensors[op.outputs[0]]
    bias = _constant(layer, "bias").values
    channels = _channels(layer, bias, np.abs(rows.astype(np.int64)).sum(axis=1), _zp(y))
    if channels is None:
        return None
    records, mode = channels
    filter_words, groups = _matrix_filter(rows)
    constants = [
        ConstArray("channels", "int32_t", records.reshape(-1)),
        ConstArray("filter", "int32_t", filter_words),
    ]
    return constants, groups, mode


def _zp(tensor: ir.Tensor) -> int:
    return tensor.quantization.zero_point


def _pointwise(graph: ir.Graph, op: ir.Operator, layer: Layer) -> Layer | None:
    p = layer.params
    _, height, width, in_c = p["input_dims"]
    out_c = p["output_dims"][3]
    rows = _constant(layer, "filter").values.reshape(out_c, in_c)
    made = _gemm(graph, op, layer, rows)
    if made is None:
        return None
    constants, groups, mode = made
    params = dict(
        groups=groups,
        out_channels=out_c,
        pixels=height * width * p["input_dims"][0],
        in_channels=in_c,
        act_min=p["act_min"],
        act_max=p["act_max"],
        mode=mode,
    )
    return _native_layer(
        layer,
        "mm_native_pointwise_s8",
        constants,
        params,
        layer.streams,  # two pixels read, then their outputs written: as the portable kernel
        GEMM_SCRATCH_BYTES_PER_GROUP * groups,
    )


def _fully_connected(graph: ir.Graph, op: ir.Operator, layer: Layer) -> Layer | None:
    p = layer.params
    rows = _constant(layer, "filter").values.reshape(p["output_depth"], p["depth"])
    made = _gemm(graph, op, layer, rows)
    if made is None:
        return None
    constants, groups, mode = made
    params = dict(
        groups=groups,
        out_channels=p["output_depth"],
        pixels=p["batches"],
        in_channels=p["depth"],
        act_min=p["act_min"],
        act_max=p["act_max"],
        mode=mode,
    )
    scratch = GEMM_SCRATCH_BYTES_PER_GROUP * groups
    return _native_layer(layer, "mm_native_pointwise_s8", constants, params, [], scratch)


def _window(p: dict, kernel_h: int, kernel_w: int) -> dict:
    _, in_h, in_w, in_c = p["input_dims"]
    _, out_h, out_w, _ = p["output_dims"]
    return dict(
        in_h=in_h,
        in_w=in_w,
        in_c=in_c,
        kernel_h=kernel_h,
        kernel_w=kernel_w,
        stride_h=p["stride"][0],
        stride_w=p["stride"][1],
        dilation_h=p["dilation"][0],
        dilation_w=p["dilation"][1],
        pad_top=p["padding"][0],
        pad_left=p["padding"][1],
        out_h=out_h,
        out_w=out_w,
        input_zero_point=p["input_zero_point"],
    )


def _conv(graph: ir.Graph, op: ir.Operator, layer: Layer) -> Layer | None:
    p = layer.params
    out_c, k_h, k_w, in_c = p["filter_dims"]
    rows = _constant(layer, "filter").values.reshape(out_c, k_h * k_w * in_c)
    made = _gemm(graph, op, layer, rows)
    if made is None:
        return None
    constants, groups, mode = made
    params = dict(
        groups=groups,
        out_channels=out_c,
        window=_window(p, k_h, k_w),
        act_min=p["act_min"],
        act_max=p["act_max"],
        mode=mode,
    )
    x = layer.inputs[0]
    stream = _window_stream(x.shape, layer.output.shape, p["stride"], p["padding"], out_c, 2)
    scratch = CONV_SCRATCH_BYTES_PER_GROUP * groups
    return _native_layer(layer, "mm_native_conv_s8", constants, params, [stream], scratch)


def _depthwise(graph: ir.Graph, op: ir.Operator, layer: Layer) -> Layer | None:
    p = layer.params
    filt = graph.tensors[op.inputs[1]]
    _, k_h, k_w, out_c = filt.shape
    if (k_h, k_w) != (3, 3) or p["dilation"] != (1, 1) or p["stride"][1] not in (1, 2):
        return None
    taps = filt.data[0].astype(np.int64).reshape(9, out_c).T  # [C_OUT, 9], row-major window
    y = graph.tensors[op.outputs[0]]
    bias = _constant(layer, "bias").values
    channels = _channels(layer, bias, np.abs(taps).sum(axis=1), _zp(y))
    if channels is None:
        return None
    records, mode = channels
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
        window=_window(p, 3, 3),
        depth_multiplier=p["depth_multiplier"],
        act_min=p["act_min"],
        act_max=p["act_max"],
        mode=mode,
    )
    constants = [
        ConstArray("channels", "int32_t", records.reshape(-1)),
        ConstArray("taps", "int32_t", words.reshape(-1).astype(np.uint32).view(np.int32)),
    ]
    x = layer.inputs[0]
    out_w = layer.output.shape[2]
    # Whole output rows, each after reading nothing above its first input row.
    stream = _window_stream(x.shape, layer.output.shape, p["stride"], p["padding"], out_c, out_w)
    return _native_layer(layer, "mm_native_depthwise_3x3_s8", constants, params, [stream])


_RETARGETERS: dict[str, Callable[[ir.Graph, ir.Operator, Layer], Layer | None]] = {
    "mm_conv2d_1x1_s8": _pointwise,
    "mm_conv2d_s8": _conv,
    "mm_depthwise_conv2d_s8": _depthwise,
    "mm_fully_connected_s8": _fully_connected,
}
