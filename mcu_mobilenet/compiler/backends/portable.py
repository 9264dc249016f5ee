# SPDX-License-Identifier: Apache-2.0
"""The portable backend: plain C99 kernels (firmware/kernels/) for every supported op.

Layouts: convolution filters stay [C_OUT, KH, KW, C_IN]; depthwise filters are transposed to
[C_OUT, KH, KW] so one channel's taps are contiguous; biases are folded with the input offset
(specs.Conv.folded_bias). Every windowed kernel writes its output in raster order after reading
only input rows at or below its window (a `Stream`), so the planner may overlap them. The
other backends use these kernels for the ops they do not implement.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mcu_mobilenet.compiler import ir, specs
from mcu_mobilenet.compiler.backends.base import Backend, Lowered
from mcu_mobilenet.compiler.kernel_call import (
    ConstArray,
    Layer,
    elementwise_stream,
    window_stream,
)
from mcu_mobilenet.compiler.target import Target
from mcu_mobilenet.paths import FIRMWARE_DIR

NAME = "portable"
KERNELS_DIR = FIRMWARE_DIR / "kernels"
COMMON_HEADERS = ("mm_types.h", "mm_fixed_point.h")
# Kernel -> the source family (kernels/<family>.c and .h) that defines it.
FAMILIES = {
    "mm_conv2d_s8": "mm_conv",
    "mm_conv2d_1x1_s8": "mm_conv",
    "mm_depthwise_conv2d_s8": "mm_depthwise_conv",
    "mm_avg_pool2d_s8": "mm_pooling",
    "mm_mean_hw_s8": "mm_pooling",
    "mm_fully_connected_s8": "mm_fully_connected",
    "mm_softmax_s8": "mm_softmax",
    "mm_add_s8": "mm_elementwise",
    "mm_pad_s8": "mm_elementwise",
    "mm_quantize_f32_s8": "mm_elementwise",
    "mm_dequantize_s8_f32": "mm_elementwise",
    "mm_requantize_s8": "mm_elementwise",
}


def _quant_arrays(multipliers, shifts) -> list[ConstArray]:
    return [
        ConstArray("multiplier", "int32_t", np.asarray(multipliers, dtype=np.int32)),
        ConstArray("shift", "int32_t", np.asarray(shifts, dtype=np.int32)),
    ]


def _layer(spec: specs.Spec, kernel: str, **fields) -> Layer:
    return Layer(spec, kernel, NAME, **fields)


def _conv(spec: specs.Conv) -> Layer:
    out_c = spec.out_channels
    k_h, k_w = spec.kernel_size
    if spec.depthwise:
        kernel = "mm_depthwise_conv2d_s8"
        layout = np.ascontiguousarray(spec.filter[0].transpose(2, 0, 1))  # -> [C_OUT, KH, KW]
        filter_dims = (out_c, k_h, k_w, 1)  # the layout's dims, as n, h, w, c
    else:
        kernel = "mm_conv2d_1x1_s8" if spec.pointwise else "mm_conv2d_s8"
        layout = spec.filter  # [C_OUT, KH, KW, C_IN]
        filter_dims = tuple(spec.filter.shape)
    block = 2 if spec.pointwise else 1  # the 1x1 kernel computes two pixels per step
    x = spec.inputs[0]
    return _layer(
        spec,
        kernel,
        constants=[
            ConstArray("filter", "int8_t", layout),
            ConstArray("bias", "int32_t", spec.folded_bias),
            *_quant_arrays(spec.multipliers, spec.shifts),
        ],
        params=dict(
            input_dims=spec.input_dims,
            filter_dims=filter_dims,
            output_dims=spec.output_dims,
            stride=spec.stride,
            dilation=spec.dilation,
            padding=spec.padding,
            input_zero_point=spec.input_zero_point,
            output_offset=spec.output_zero_point,
            act_min=spec.act_min,
            act_max=spec.act_max,
            depth_multiplier=spec.depth_multiplier,
        ),
        streams=[
            window_stream(x.shape, spec.output.shape, spec.stride, spec.padding, out_c, block)
        ],
    )


def _average_pool(spec: specs.AveragePool) -> Layer:
    x = spec.inputs[0]
    return _layer(
        spec,
        "mm_avg_pool2d_s8",
        params=dict(
            input_dims=x.shape,
            output_dims=spec.output.shape,
            stride=spec.stride,
            filter=spec.filter_size,
            padding=spec.padding,
            act_min=spec.act_min,
            act_max=spec.act_max,
        ),
        streams=[window_stream(x.shape, spec.output.shape, spec.stride, spec.padding, x.shape[3])],
    )


def _mean(spec: specs.Mean) -> Layer:
    return _layer(
        spec,
        "mm_mean_hw_s8",
        params=dict(
            input_dims=spec.inputs[0].shape,
            multiplier=spec.multiplier,
            shift=spec.shift,
            input_zero_point=spec.input_zero_point,
            output_zero_point=spec.output_zero_point,
        ),
    )


def _fully_connected(spec: specs.FullyConnected) -> Layer:
    return _layer(
        spec,
        "mm_fully_connected_s8",
        constants=[
            ConstArray("filter", "int8_t", spec.filter),
            ConstArray("bias", "int32_t", spec.folded_bias),
            *_quant_arrays(spec.multipliers, spec.shifts),
        ],
        params=dict(
            batches=spec.batches,
            depth=spec.depth,
            output_depth=spec.output_depth,
            output_offset=spec.output_zero_point,
            act_min=spec.act_min,
            act_max=spec.act_max,
        ),
    )


def _softmax(spec: specs.Softmax) -> Layer:
    return _layer(
        spec,
        "mm_softmax_s8",
        params=dict(
            rows=spec.rows,
            depth=spec.depth,
            input_multiplier=spec.input_multiplier,
            input_left_shift=spec.input_left_shift,
            diff_min=spec.diff_min,
        ),
    )


def _pad(spec: specs.Pad) -> Layer:
    params = dict(
        input_dims=spec.input_dims,
        output_dims=spec.output_dims,
        before=spec.before,
        value=spec.value,
    )
    return _layer(spec, "mm_pad_s8", params=params)


def _add(spec: specs.Add) -> Layer:
    names = (
        "size input1_offset input2_offset output_offset left_shift input1_multiplier "
        "input1_shift input2_multiplier input2_shift output_multiplier output_shift act_min "
        "act_max"
    ).split()
    count = spec.size
    return _layer(
        spec,
        "mm_add_s8",
        params={name: getattr(spec, name) for name in names},
        streams=[elementwise_stream(0, count, 1, 1), elementwise_stream(1, count, 1, 1)],
    )


def _quantize(spec: specs.Quantize) -> Layer:
    params = dict(size=spec.size, scale=spec.scale, zero_point=spec.zero_point)
    streams = [elementwise_stream(0, spec.size, 4, 1)]
    return _layer(spec, "mm_quantize_f32_s8", params=params, streams=streams)


def _requantize(spec: specs.Requantize) -> Layer:
    params = dict(
        size=spec.size,
        multiplier=spec.multiplier,
        shift=spec.shift,
        input_zero_point=spec.input_zero_point,
        output_zero_point=spec.output_zero_point,
    )
    streams = [elementwise_stream(0, spec.size, 1, 1)]
    return _layer(spec, "mm_requantize_s8", params=params, streams=streams)


def _dequantize(spec: specs.Dequantize) -> Layer:
    params = dict(size=spec.size, scale=spec.scale, zero_point=spec.zero_point)
    streams = [elementwise_stream(0, spec.size, 1, 4)]
    return _layer(spec, "mm_dequantize_s8_f32", params=params, streams=streams)


def _reshape(spec: specs.Reshape) -> Layer:
    return _layer(spec, "")


_MAKERS: dict[type, Callable[..., Layer]] = {
    specs.Conv: _conv,
    specs.AveragePool: _average_pool,
    specs.Mean: _mean,
    specs.FullyConnected: _fully_connected,
    specs.Softmax: _softmax,
    specs.Pad: _pad,
    specs.Add: _add,
    specs.Quantize: _quantize,
    specs.Requantize: _requantize,
    specs.Dequantize: _dequantize,
    specs.Reshape: _reshape,
}


def portable_layer(spec: specs.Spec) -> Layer:
    """The portable kernel call of any spec (also what other backends fall back to)."""
    return _MAKERS[type(spec)](spec)


def _lower(graph: ir.Graph, layer_specs: list[specs.Spec], target: Target | None) -> Lowered:
    return Lowered([portable_layer(spec) for spec in layer_specs])


def portable_files(layers: list[Layer]) -> list[tuple[str, Path]]:
    """(name in the output's kernels/, source) of the portable kernels these layers call."""
    families = sorted({FAMILIES[layer.kernel] for layer in layers if not layer.alias})
    if not families:
        return []
    names = [*COMMON_HEADERS] + [f"{f}{suffix}" for f in families for suffix in (".h", ".c")]
    return [(name, KERNELS_DIR / name) for name in names]


BACKEND = Backend(
    name=NAME,
    summary="plain C99 kernels, for any CPU",
    calls_template="portable_calls.c.j2",
    lower=_lower,
    kernel_files=portable_files,
    headers=lambda layers: sorted({f"{FAMILIES[layer.kernel]}.h" for layer in layers}),
)
