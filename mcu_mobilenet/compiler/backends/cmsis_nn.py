# SPDX-License-Identifier: Apache-2.0
"""The cmsis-nn backend: every layer CMSIS-NN can run, retargeted to CMSIS-NN's public API.

`lowering.lower` makes layers for the portable kernels (biases folded, depthwise filters
transposed). `retarget` replaces each layer CMSIS-NN implements with a call to its kernel,
every argument computed here from the IR, following the conventions of TFLM's CMSIS-NN kernels
(which are bit-exact with TFLM's reference kernels, our oracle):

- input_offset = -(input zero point), output_offset = +(output zero point): CMSIS-NN adds
  both (a comment in its arm_nn_types.h calls the output offset "negative"; the code adds it);
- filter_offset = 0 for FULLY_CONNECTED (int8 weights are symmetric);
- the model's own biases, unfolded: CMSIS-NN applies the input offset itself;
- depthwise filters in TFLite's own [1, H, W, C_OUT] layout, convolution filters in
  [C_OUT, H, W, C_IN], fully connected filters in [C_OUT, DEPTH];
- per-channel multipliers and shifts exactly as the portable kernels get them
  (`fixed_point.py` reproduces TFLM's host-side arithmetic).

MEAN, QUANTIZE and DEQUANTIZE stay on the portable kernels (CMSIS-NN has no int8 MEAN, and the
others touch float32); RESHAPE and SQUEEZE stay aliases. CMSIS-NN's kernels do not promise the
access order the planner's in-place overlaps rely on, so their layers declare no streams: their
outputs never overlap their inputs.

Scratch: each layer's need comes from CMSIS-NN's *_get_buffer_size functions for every code
path the target may use (cmsis_nn_buffers.py); the model shares one scratch buffer of the
largest need. On Helium, CMSIS-NN's fully connected kernels expect precomputed kernel sums in
their context buffer (what TFLM computes with arm_vector_sum_s8 at Prepare); they depend only on
constants, so they are computed here and stored in flash instead of the scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcu_mobilenet.cmsis_nn_release import VERSION
from mcu_mobilenet.compiler import fixed_point as q
from mcu_mobilenet.compiler import ir
from mcu_mobilenet.compiler.backends.cmsis_nn_buffers import (
    BUFFER_SIZE_FUNCTIONS,
    BufferQuery,
    buffer_sizes,
)
from mcu_mobilenet.compiler.backends.cmsis_nn_library import LibraryFiles, cmsis_nn_files
from mcu_mobilenet.compiler.lowering import ConstArray, Layer, LoweringError
from mcu_mobilenet.compiler.target import MVE, Target

LIBRARY = "cmsis-nn"
FULLY_CONNECTED_KERNELS = ("arm_fully_connected_s8", "arm_fully_connected_per_channel_s8")
# CMSIS-NN's Helium depthwise kernels read up to 3 elements past the end of the filter and
# per-channel arrays when the channel count is not a multiple of 4 (arm_nnfunctions.h).
HELIUM_OVERREAD_ELEMENTS = 4


@dataclass
class _Retargeted:
    layer: Layer
    query: BufferQuery | None = None


def retarget(
    graph: ir.Graph, layers: list[Layer], target: Target, root: Path
) -> tuple[list[Layer], LibraryFiles]:
    """The layers with every layer CMSIS-NN runs replaced by a CMSIS-NN call, and the CMSIS-NN
    files those calls need. Each layer's scratch_bytes is CMSIS-NN's own figure."""
    done = [
        make(graph.operators[layer.index], graph, layer, target)
        if (make := _RETARGETERS.get(layer.kernel))
        else _Retargeted(layer)
        for layer in layers
    ]
    with_queries = [result for result in done if result.query is not None]
    sizes = buffer_sizes(root, [result.query for result in with_queries], target.code_paths)
    for result, size in zip(with_queries, sizes, strict=True):
        _set_buffer_need(result.layer, max(size.values()))
    retargeted = [result.layer for result in done]
    functions = {layer.kernel for layer in retargeted if layer.library == LIBRARY}
    functions |= {BUFFER_SIZE_FUNCTIONS[name] for name in functions & BUFFER_SIZE_FUNCTIONS.keys()}
    return retargeted, cmsis_nn_files(root, VERSION, functions)


def _set_buffer_need(layer: Layer, need: int) -> None:
    """Records CMSIS-NN's buffer need of a layer, and which of its functions the generated init
    asks again on the device."""
    layer.params["buffer_check"] = BUFFER_SIZE_FUNCTIONS[layer.kernel]
    if layer.kernel not in FULLY_CONNECTED_KERNELS:
        layer.scratch_bytes = need
        layer.params["shared_context"] = True
        return
    # Fully connected: the buffer holds the kernel sums (Helium only), kept in flash.
    sums = next((c for c in layer.constants if c.name == "kernel_sums"), None)
    held = sums.nbytes if sums is not None else 0
    if need > held:
        raise AssertionError(
            f"layer {layer.index}: CMSIS-NN wants a {need}-byte fully connected buffer, "
            f"the kernel sums hold {held}"
        )
    layer.params["context_bytes"] = held
    layer.params["shared_context"] = held == 0


def _constant(layer: Layer, name: str) -> ConstArray:
    return next(c for c in layer.constants if c.name == name)


def _bias(graph: ir.Graph, op: ir.Operator, channels: int) -> np.ndarray:
    """The model's own int32 bias (zeros when it has none): CMSIS-NN adds the input offset."""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return np.zeros(channels, dtype=np.int32)
    return graph.tensors[op.inputs[2]].data.reshape(-1).astype(np.int32)


def _offsets(layer: Layer, graph: ir.Graph, op: ir.Operator) -> dict:
    """input_offset = -input zero point, output_offset = +output zero point (TFLM's kernels)."""
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    return dict(
        input_offset=-x.quantization.zero_point,
        output_offset=y.quantization.zero_point,
        act_min=layer.params["act_min"],
        act_max=layer.params["act_max"],
    )


def _cmsis_layer(layer: Layer, kernel: str, constants: list[ConstArray], params: dict) -> Layer:
    return Layer(
        layer.index,
        layer.op,
        kernel,
        layer.inputs,
        layer.output,
        macs=layer.macs,
        constants=constants,
        params=params,
        library=LIBRARY,
    )


def _conv(op: ir.Operator, graph: ir.Graph, layer: Layer, target: Target) -> _Retargeted:
    p = layer.params
    out_c = p["output_dims"][3]
    params = dict(
        _offsets(layer, graph, op),
        stride=p["stride"],
        padding=p["padding"],
        dilation=p["dilation"],
        input_dims=tuple(p["input_dims"]),
        filter_dims=tuple(p["filter_dims"]),  # [C_OUT, H, W, C_IN], as TFLite stores it
        bias_dims=(1, 1, 1, out_c),
        output_dims=tuple(p["output_dims"]),
    )
    constants = [
        _constant(layer, "filter"),
        ConstArray("bias", "int32_t", _bias(graph, op, out_c)),
        _constant(layer, "multiplier"),
        _constant(layer, "shift"),
    ]
    new = _cmsis_layer(layer, "arm_convolve_wrapper_s8", constants, params)
    return _Retargeted(new, BufferQuery("conv", _conv_arguments(params)))


def _depthwise(op: ir.Operator, graph: ir.Graph, layer: Layer, target: Target) -> _Retargeted:
    p = layer.params
    out_c = p["output_dims"][3]
    filt = graph.tensors[op.inputs[1]]
    params = dict(
        _offsets(layer, graph, op),
        ch_mult=p["depth_multiplier"],
        stride=p["stride"],
        padding=p["padding"],
        dilation=p["dilation"],
        input_dims=tuple(p["input_dims"]),
        filter_dims=(1, filt.shape[1], filt.shape[2], out_c),  # TFLite's [1, H, W, C_OUT]
        bias_dims=(1, 1, 1, out_c),
        output_dims=tuple(p["output_dims"]),
    )
    arrays = {
        "filter": filt.data.reshape(-1),
        "bias": _bias(graph, op, out_c),
        "multiplier": _constant(layer, "multiplier").values,
        "shift": _constant(layer, "shift").values,
    }
    pad = (-out_c) % HELIUM_OVERREAD_ELEMENTS if MVE in target.code_paths else 0
    constants = [
        ConstArray(name, "int8_t" if name == "filter" else "int32_t", _zero_padded(values, pad))
        for name, values in arrays.items()
    ]
    new = _cmsis_layer(layer, "arm_depthwise_conv_wrapper_s8", constants, params)
    arguments = (params["input_offset"], params["output_offset"], params["ch_mult"])
    return _Retargeted(new, BufferQuery("depthwise", arguments + _conv_arguments(params)[2:]))


def _zero_padded(values: np.ndarray, count: int) -> np.ndarray:
    flat = np.ascontiguousarray(values).reshape(-1)
    return np.concatenate([flat, np.zeros(count, dtype=flat.dtype)]) if count else flat


def _conv_arguments(params: dict) -> tuple[int, ...]:
    """In the order cmsis_nn_buffer_sizes.c reads them: tiles are (w, h), dims n, h, w, c."""
    values = [params["input_offset"], params["output_offset"]]
    for tile in ("stride", "padding", "dilation"):
        values += [params[tile][1], params[tile][0]]
    values += [params["act_min"], params["act_max"]]
    for dims in ("input_dims", "filter_dims", "output_dims"):
        values += list(params[dims])
    return tuple(int(v) for v in values)


def _avgpool(op: ir.Operator, graph: ir.Graph, layer: Layer, target: Target) -> _Retargeted:
    p = layer.params
    params = dict(
        stride=p["stride"],
        padding=p["padding"],
        act_min=p["act_min"],
        act_max=p["act_max"],
        input_dims=tuple(p["input_dims"]),
        filter_dims=(1, p["filter"][0], p["filter"][1], 1),
        output_dims=tuple(p["output_dims"]),
    )
    new = _cmsis_layer(layer, "arm_avgpool_s8", [], params)
    _, _, out_w, channels = params["output_dims"]
    return _Retargeted(new, BufferQuery("avgpool", (out_w, channels)))


def _fully_connected(op: ir.Operator, graph: ir.Graph, layer: Layer, target: Target) -> _Retargeted:
    p = layer.params
    filt = graph.tensors[op.inputs[1]]
    batches, depth, out_c = p["batches"], p["depth"], p["output_depth"]
    params = dict(
        _offsets(layer, graph, op),
        filter_offset=0,
        input_dims=(batches, 1, 1, depth),
        filter_dims=(depth, 1, 1, out_c),
        bias_dims=(1, 1, 1, out_c),
        output_dims=(batches, 1, 1, out_c),
    )
    bias = _bias(graph, op, out_c)
    constants = [_constant(layer, "filter"), ConstArray("bias", "int32_t", bias)]
    per_channel = filt.quantization.per_channel
    multipliers, shifts = _constant(layer, "multiplier"), _constant(layer, "shift")
    if per_channel:
        kernel = "arm_fully_connected_per_channel_s8"
        constants += [multipliers, shifts]
    else:
        kernel = "arm_fully_connected_s8"
        params.update(multiplier=int(multipliers.values[0]), shift=int(shifts.values[0]))
    if MVE in target.code_paths:
        constants.append(_kernel_sums(layer, filt, bias, params["input_offset"]))
    new = _cmsis_layer(layer, kernel, constants, params)
    return _Retargeted(new, BufferQuery("fc", params["filter_dims"]))


def _kernel_sums(layer: Layer, filt: ir.Tensor, bias: np.ndarray, input_offset: int):
    """What arm_vector_sum_s8(sums, depth, out_c, filter, input_offset, 0, bias) computes:
    bias + input_offset * (sum of each filter row), the Helium kernels' starting sums."""
    sums = bias.astype(np.int64) + input_offset * filt.data.astype(np.int64).sum(axis=1)
    if sums.min() < q.INT32_MIN or sums.max() > q.INT32_MAX:
        raise LoweringError(
            f"op {layer.index} (FULLY_CONNECTED) has kernel sums beyond int32, which CMSIS-NN's "
            "Helium kernels cannot hold; use the portable backend (--backend portable)"
        )
    return ConstArray("kernel_sums", "int32_t", sums.astype(np.int32))


def _softmax(op: ir.Operator, graph: ir.Graph, layer: Layer, target: Target) -> _Retargeted:
    return _Retargeted(_cmsis_layer(layer, "arm_softmax_s8", [], dict(layer.params)))


def _add(op: ir.Operator, graph: ir.Graph, layer: Layer, target: Target) -> _Retargeted:
    return _Retargeted(_cmsis_layer(layer, "arm_elementwise_add_s8", [], dict(layer.params)))


def _pad(op: ir.Operator, graph: ir.Graph, layer: Layer, target: Target) -> _Retargeted:
    p = layer.params
    before = tuple(p["before"])
    after = tuple(
        o - i - b for o, i, b in zip(p["output_dims"], p["input_dims"], before, strict=True)
    )
    params = dict(input_dims=tuple(p["input_dims"]), before=before, after=after, value=p["value"])
    return _Retargeted(_cmsis_layer(layer, "arm_pad_s8", [], params))


_RETARGETERS: dict[str, Callable[..., _Retargeted]] = {
    "mm_conv2d_s8": _conv,
    "mm_conv2d_1x1_s8": _conv,
    "mm_depthwise_conv2d_s8": _depthwise,
    "mm_avg_pool2d_s8": _avgpool,
    "mm_fully_connected_s8": _fully_connected,
    "mm_softmax_s8": _softmax,
    "mm_add_s8": _add,
    "mm_pad_s8": _pad,
}
