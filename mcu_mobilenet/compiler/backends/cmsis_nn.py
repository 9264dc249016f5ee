# SPDX-License-Identifier: Apache-2.0
"""The cmsis-nn backend: every layer CMSIS-NN can run, as a call to CMSIS-NN's public API.

Each layer spec that CMSIS-NN implements becomes a call to its kernel, every argument computed
here from the spec, following the conventions of TFLM's CMSIS-NN kernels (which are bit-exact
with TFLM's reference kernels, our oracle):

- input_offset = -(input zero point), output_offset = +(output zero point): CMSIS-NN adds
  both (a comment in its arm_nn_types.h calls the output offset "negative"; the code adds it);
- filter_offset = 0 for FULLY_CONNECTED (int8 weights are symmetric);
- the model's own biases, unfolded: CMSIS-NN applies the input offset itself;
- depthwise filters in TFLite's own [1, H, W, C_OUT] layout, convolution filters in
  [C_OUT, H, W, C_IN], fully connected filters in [C_OUT, DEPTH];
- per-channel multipliers and shifts from the spec (`fixed_point.py` reproduces TFLM's
  host-side arithmetic).

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

from mcu_mobilenet import cmsis_nn_release
from mcu_mobilenet.compiler import fixed_point as q
from mcu_mobilenet.compiler import ir, specs
from mcu_mobilenet.compiler.backends.base import Backend, Lowered
from mcu_mobilenet.compiler.backends.cmsis_nn_buffers import (
    BUFFER_SIZE_FUNCTIONS,
    BufferQuery,
    buffer_sizes,
)
from mcu_mobilenet.compiler.backends.cmsis_nn_library import cmsis_nn_files
from mcu_mobilenet.compiler.backends.portable import portable_layer
from mcu_mobilenet.compiler.kernel_call import ConstArray, Layer
from mcu_mobilenet.compiler.lowering import LoweringError
from mcu_mobilenet.compiler.target import ANY_CORTEX_M, MVE, Target

NAME = "cmsis-nn"
FULLY_CONNECTED_KERNELS = ("arm_fully_connected_s8", "arm_fully_connected_per_channel_s8")
# CMSIS-NN's Helium depthwise kernels read up to 3 elements past the end of the filter and
# per-channel arrays when the channel count is not a multiple of 4 (arm_nnfunctions.h).
HELIUM_OVERREAD_ELEMENTS = 4


@dataclass
class _Call:
    layer: Layer
    query: BufferQuery | None = None


def _lower(graph: ir.Graph, layer_specs: list[specs.Spec], target: Target | None) -> Lowered:
    """Every layer CMSIS-NN runs as a CMSIS-NN call (the others on the portable kernels), and
    the CMSIS-NN files those calls need. Each layer's scratch_bytes is CMSIS-NN's own figure."""
    root = cmsis_nn_release.require()
    target = target or ANY_CORTEX_M
    calls = [
        make(spec, target) if (make := _MAKERS.get(type(spec))) else _Call(portable_layer(spec))
        for spec in layer_specs
    ]
    with_queries = [call for call in calls if call.query is not None]
    sizes = buffer_sizes(root, [call.query for call in with_queries], target.code_paths)
    for call, size in zip(with_queries, sizes, strict=True):
        _set_buffer_need(call.layer, max(size.values()))
    layers = [call.layer for call in calls]
    functions = {layer.kernel for layer in layers if layer.library == NAME}
    functions |= {BUFFER_SIZE_FUNCTIONS[name] for name in functions & BUFFER_SIZE_FUNCTIONS.keys()}
    return Lowered(layers, cmsis_nn_files(root, cmsis_nn_release.VERSION, functions))


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


def _offsets(spec, input_zero_point: int) -> dict:
    """input_offset = -input zero point, output_offset = +output zero point (TFLM's kernels)."""
    return dict(
        input_offset=-input_zero_point,
        output_offset=spec.output_zero_point,
        act_min=spec.act_min,
        act_max=spec.act_max,
    )


def _quant_arrays(spec) -> list[ConstArray]:
    return [
        ConstArray("multiplier", "int32_t", np.asarray(spec.multipliers, dtype=np.int32)),
        ConstArray("shift", "int32_t", np.asarray(spec.shifts, dtype=np.int32)),
    ]


def _layer(spec: specs.Spec, kernel: str, constants: list[ConstArray], params: dict) -> Layer:
    return Layer(spec, kernel, NAME, constants=constants, params=params)


def _conv(spec: specs.Conv, target: Target) -> _Call:
    if spec.depthwise:
        return _depthwise(spec, target)
    out_c = spec.out_channels
    params = dict(
        _offsets(spec, spec.input_zero_point),
        stride=spec.stride,
        padding=spec.padding,
        dilation=spec.dilation,
        input_dims=spec.input_dims,
        filter_dims=tuple(spec.filter.shape),  # [C_OUT, H, W, C_IN], as TFLite stores it
        bias_dims=(1, 1, 1, out_c),
        output_dims=spec.output_dims,
    )
    constants = [
        ConstArray("filter", "int8_t", spec.filter),
        ConstArray("bias", "int32_t", spec.bias.astype(np.int32)),
        *_quant_arrays(spec),
    ]
    layer = _layer(spec, "arm_convolve_wrapper_s8", constants, params)
    return _Call(layer, BufferQuery("conv", _conv_arguments(params)))


def _depthwise(spec: specs.Conv, target: Target) -> _Call:
    out_c = spec.out_channels
    k_h, k_w = spec.kernel_size
    params = dict(
        _offsets(spec, spec.input_zero_point),
        ch_mult=spec.depth_multiplier,
        stride=spec.stride,
        padding=spec.padding,
        dilation=spec.dilation,
        input_dims=spec.input_dims,
        filter_dims=(1, k_h, k_w, out_c),  # TFLite's [1, H, W, C_OUT]
        bias_dims=(1, 1, 1, out_c),
        output_dims=spec.output_dims,
    )
    arrays = {
        "filter": spec.filter.reshape(-1),
        "bias": spec.bias.astype(np.int32),
        "multiplier": np.asarray(spec.multipliers, dtype=np.int32),
        "shift": np.asarray(spec.shifts, dtype=np.int32),
    }
    pad = (-out_c) % HELIUM_OVERREAD_ELEMENTS if MVE in target.code_paths else 0
    constants = [
        ConstArray(name, "int8_t" if name == "filter" else "int32_t", _zero_padded(values, pad))
        for name, values in arrays.items()
    ]
    layer = _layer(spec, "arm_depthwise_conv_wrapper_s8", constants, params)
    arguments = (params["input_offset"], params["output_offset"], params["ch_mult"])
    return _Call(layer, BufferQuery("depthwise", arguments + _conv_arguments(params)[2:]))


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


def _average_pool(spec: specs.AveragePool, target: Target) -> _Call:
    params = dict(
        stride=spec.stride,
        padding=spec.padding,
        act_min=spec.act_min,
        act_max=spec.act_max,
        input_dims=tuple(spec.inputs[0].shape),
        filter_dims=(1, spec.filter_size[0], spec.filter_size[1], 1),
        output_dims=tuple(spec.output.shape),
    )
    layer = _layer(spec, "arm_avgpool_s8", [], params)
    _, _, out_w, channels = params["output_dims"]
    return _Call(layer, BufferQuery("avgpool", (out_w, channels)))


def _fully_connected(spec: specs.FullyConnected, target: Target) -> _Call:
    batches, depth, out_c = spec.batches, spec.depth, spec.output_depth
    params = dict(
        _offsets(spec, spec.input_zero_point),
        filter_offset=0,
        input_dims=(batches, 1, 1, depth),
        filter_dims=(depth, 1, 1, out_c),
        bias_dims=(1, 1, 1, out_c),
        output_dims=(batches, 1, 1, out_c),
    )
    bias = spec.bias.astype(np.int32)
    constants = [ConstArray("filter", "int8_t", spec.filter), ConstArray("bias", "int32_t", bias)]
    if spec.per_channel:
        kernel = "arm_fully_connected_per_channel_s8"
        constants += _quant_arrays(spec)
    else:
        kernel = "arm_fully_connected_s8"
        params.update(multiplier=int(spec.multipliers[0]), shift=int(spec.shifts[0]))
    if MVE in target.code_paths:
        constants.append(_kernel_sums(spec, bias, params["input_offset"]))
    layer = _layer(spec, kernel, constants, params)
    return _Call(layer, BufferQuery("fc", params["filter_dims"]))


def _kernel_sums(spec: specs.FullyConnected, bias: np.ndarray, input_offset: int) -> ConstArray:
    """What arm_vector_sum_s8(sums, depth, out_c, filter, input_offset, 0, bias) computes:
    bias + input_offset * (sum of each filter row), the Helium kernels' starting sums."""
    sums = bias.astype(np.int64) + input_offset * spec.filter.astype(np.int64).sum(axis=1)
    if sums.min() < q.INT32_MIN or sums.max() > q.INT32_MAX:
        raise LoweringError(
            f"op {spec.index} (FULLY_CONNECTED) has kernel sums beyond int32, which CMSIS-NN's "
            "Helium kernels cannot hold; use the portable backend (--backend portable)"
        )
    return ConstArray("kernel_sums", "int32_t", sums.astype(np.int32))


def _softmax(spec: specs.Softmax, target: Target) -> _Call:
    params = dict(
        rows=spec.rows,
        depth=spec.depth,
        input_multiplier=spec.input_multiplier,
        input_left_shift=spec.input_left_shift,
        diff_min=spec.diff_min,
    )
    return _Call(_layer(spec, "arm_softmax_s8", [], params))


def _add(spec: specs.Add, target: Target) -> _Call:
    params = dict(portable_layer(spec).params)  # the same arithmetic parameters
    return _Call(_layer(spec, "arm_elementwise_add_s8", [], params))


def _pad(spec: specs.Pad, target: Target) -> _Call:
    params = dict(
        input_dims=spec.input_dims, before=spec.before, after=spec.after, value=spec.value
    )
    return _Call(_layer(spec, "arm_pad_s8", [], params))


_MAKERS: dict[type, Callable[[specs.Spec, Target], _Call]] = {
    specs.Conv: _conv,
    specs.AveragePool: _average_pool,
    specs.FullyConnected: _fully_connected,
    specs.Softmax: _softmax,
    specs.Add: _add,
    specs.Pad: _pad,
}


def _files(layers: list[Layer]) -> list[tuple[str, Path]]:
    return []  # CMSIS-NN's own files travel as the Lowered library (cmsis-nn/ in the output)


BACKEND = Backend(
    name=NAME,
    summary=f"CMSIS-NN {cmsis_nn_release.VERSION}'s kernels (plain C, DSP or Helium code)",
    calls_template="cmsis_nn_calls.c.j2",
    lower=_lower,
    kernel_files=_files,
    headers=lambda layers: ["arm_nnfunctions.h"],
    needs_target=True,
    requires=cmsis_nn_release.require,
)
