# SPDX-License-Identifier: Apache-2.0
"""Lowering: checks every IR operator and turns it into a backend-neutral layer spec.

Each supported op becomes a `specs.Spec`: the int8 tensors it reads and writes, its shapes,
strides and padding, its raw weights and every quantization constant, computed here on the host
exactly as TFLM computes them (fixed_point.py). A model with anything unsupported is rejected
before any file is written, naming the op's index, its name and what to do. The backends
(compiler/backends/) turn specs into kernel calls.

Convolution biases are also given folded: bias' = bias + input_offset * sum(filter), so kernels
that use it add `filter * input` only; taps that fall into the padding then read the input zero
point, which is exactly what TFLM's "skip the tap" means once the offset is folded in. Folding
is checked here, once, to fit int32.
"""

from __future__ import annotations

import numpy as np

from mcu_mobilenet.compiler import fixed_point as q
from mcu_mobilenet.compiler import ir, specs
from mcu_mobilenet.errors import UserError

SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "AVERAGE_POOL_2D",
    "MEAN",
    "FULLY_CONNECTED",
    "RESHAPE",
    "SQUEEZE",
    "SOFTMAX",
    "PAD",
    "ADD",
    "QUANTIZE",
    "DEQUANTIZE",
)

HINTS = {
    "MAX_POOL_2D": "MobileNets use average pooling; replace the max pooling layer",
    "FLOAT": "this is a float model; quantize it to int8 first with `mcu-mobilenet quantize`",
    "SHAPE": "export the model with batch size 1 and a plain head (global average pooling, "
    "dense, softmax) so the converter emits no dynamic-shape ops",
}
HINTS["STRIDED_SLICE"] = HINTS["PACK"] = HINTS["SHAPE"]
FUSED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


class LoweringError(UserError):
    pass


def lower(graph: ir.Graph) -> list[specs.Spec]:
    """Checks the whole model, then lowers every op; raises LoweringError on the first problem."""
    _check_graph(graph)
    lowered = []
    for op in graph.operators:
        lowerer = _LOWERERS.get(op.opcode)
        if lowerer is None:
            _reject(graph, op, "is not supported", HINTS.get(op.opcode, _supported_hint()))
        lowered.append(lowerer(_Context(graph, op)))
    return lowered


def _supported_hint() -> str:
    return "supported ops: " + ", ".join(SUPPORTED_OPS)


def _reject(graph: ir.Graph, op: ir.Operator, problem: str, hint: str) -> None:
    raise LoweringError(f"{graph.source}: op {op.index} ({op.opcode}) {problem}; {hint}")


def _check_graph(graph: ir.Graph) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise LoweringError(
            f"{graph.source}: the model has {len(graph.inputs)} inputs and "
            f"{len(graph.outputs)} outputs; only single-input, single-output image "
            "classifiers are supported"
        )
    for op in graph.operators:
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            dtype = graph.tensors[op.inputs[0]].dtype
            if dtype == "float32":
                _reject(graph, op, "computes in float32", HINTS["FLOAT"])
    for index in graph.inputs + graph.outputs:
        tensor = graph.tensors[index]
        if tensor.dtype not in ("int8", "float32"):
            raise LoweringError(
                f"{graph.source}: model {'input' if index in graph.inputs else 'output'} "
                f"{tensor.name} is {tensor.dtype}; only int8 (or float32 around "
                "QUANTIZE/DEQUANTIZE) is supported: convert with int8 input and output"
            )


class _Context:
    """One op being lowered, with accessors that reject bad tensors with the op's name."""

    def __init__(self, graph: ir.Graph, op: ir.Operator):
        self.graph = graph
        self.op = op

    def reject(self, problem: str, hint: str = "") -> None:
        _reject(self.graph, self.op, problem, hint or _supported_hint())

    def tensor(self, slot: int, *, io: str = "in") -> ir.Tensor | None:
        indices = self.op.inputs if io == "in" else self.op.outputs
        if slot >= len(indices) or indices[slot] < 0:
            return None
        return self.graph.tensors[indices[slot]]

    def activation(self, slot: int = 0, *, io: str = "in", dtype: str = "int8") -> ir.Tensor:
        tensor = self.tensor(slot, io=io)
        if tensor is None:
            self.reject(f"has no {io}put {slot}", "the model file is incomplete")
        if tensor.is_constant:
            self.reject(
                f"has a constant {io}put {slot} ({tensor.name})",
                "fold constant computations before converting",
            )
        self._check_int8(tensor, dtype)
        return tensor

    def constant(self, slot: int, dtype: str, what: str) -> ir.Tensor:
        tensor = self.tensor(slot)
        if tensor is None or not tensor.is_constant:
            self.reject(
                f"has a {what} that is not a constant",
                "only models with constant weights are supported",
            )
        if tensor.dtype != dtype:
            self.reject(
                f"has a {tensor.dtype} {what} ({tensor.name}); {dtype} is required",
                HINTS["FLOAT"] if tensor.dtype == "float32" else _supported_hint(),
            )
        return tensor

    def _check_int8(self, tensor: ir.Tensor, dtype: str) -> None:
        if tensor.dtype != dtype:
            hint = HINTS["FLOAT"] if tensor.dtype == "float32" else "convert the model to int8"
            self.reject(f"has {tensor.dtype} tensor {tensor.name} where {dtype} is required", hint)
        if dtype == "int8":
            quant = tensor.quantization
            if quant is None or quant.per_channel:
                self.reject(
                    f"tensor {tensor.name} is not quantized per tensor",
                    "convert with full-integer int8 quantization",
                )

    def options(self, kind: type):
        if not isinstance(self.op.options, kind):
            self.reject("has no options", "the model file is incomplete or corrupt")
        return self.op.options

    def activation_fn(self, activation: str) -> None:
        if activation not in FUSED_ACTIVATIONS:
            self.reject(
                f"has fused activation {activation}",
                "only NONE, RELU, RELU6 and RELU_N1_TO_1 are supported",
            )

    def spec(self, kind: type, inputs: list[ir.Tensor], output: ir.Tensor, **fields):
        return kind(self.op.index, self.op.opcode, inputs, output, **fields)


def _out_size_and_padding(
    padding: str, size: int, filter_size: int, stride: int, dilation: int
) -> tuple[int, int]:
    """ComputeOutSize and ComputePaddingWithOffset: output size and the top/left padding."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        out = (size + stride - 1) // stride
    else:
        out = (size + stride - effective) // stride
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2


def _check_no_filter_zero_point(ctx: _Context, filt: ir.Tensor) -> None:
    if filt.quantization is None:
        ctx.reject(f"filter {filt.name} is not quantized", HINTS["FLOAT"])
    if any(z != 0 for z in filt.quantization.zero_points):
        ctx.reject(
            f"filter {filt.name} has a non-zero zero point",
            "quantize weights symmetrically (the TFLite converter does by default)",
        )


def _bias(ctx: _Context, slot: int, channels: int) -> np.ndarray:
    tensor = ctx.tensor(slot)
    if tensor is None:
        return np.zeros(channels, dtype=np.int64)
    bias = ctx.constant(slot, "int32", "bias")
    if bias.element_count != channels:
        ctx.reject(
            f"has {bias.element_count} biases for {channels} channels",
            "the model file is inconsistent",
        )
    return bias.data.reshape(-1).astype(np.int64)


def _fold_bias(ctx: _Context, bias: np.ndarray, filter_sums: np.ndarray, input_zero_point: int):
    folded = bias - input_zero_point * filter_sums
    if folded.min() < q.INT32_MIN or folded.max() > q.INT32_MAX:
        ctx.reject("has biases too large to fold into int32", "retrain or requantize the model")
    return folded.astype(np.int32)


def _conv_like(ctx: _Context, depthwise: bool) -> specs.Conv:
    options = ctx.options(ir.DepthwiseConv2DOptions if depthwise else ir.Conv2DOptions)
    ctx.activation_fn(options.activation)
    x = ctx.activation(0)
    y = ctx.activation(0, io="out")
    filt = ctx.constant(1, "int8", "filter")
    _check_no_filter_zero_point(ctx, filt)
    if len(x.shape) != 4 or len(filt.shape) != 4 or len(y.shape) != 4:
        ctx.reject("needs 4-D input, filter and output", "export images as NHWC tensors")
    if x.shape[0] != 1:
        ctx.reject(f"has batch size {x.shape[0]}", "export the model with batch size 1")
    _, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    if depthwise:
        _, k_h, k_w, filter_c = filt.shape
        multiplier = options.depth_multiplier or out_c // max(in_c, 1)
        if filter_c != out_c or out_c != in_c * multiplier:
            ctx.reject(
                f"has filter {list(filt.shape)} for {in_c} -> {out_c} channels",
                "the model file is inconsistent",
            )
    else:
        filter_out, k_h, k_w, filter_in = filt.shape
        multiplier = 1
        if filter_in != in_c:
            ctx.reject(
                f"is a grouped convolution ({in_c} input channels, filter depth {filter_in})",
                "grouped convolutions are not supported",
            )
        if filter_out != out_c:
            ctx.reject("has a filter that does not match its output", "the model is inconsistent")
    if options.padding not in ("SAME", "VALID"):
        ctx.reject(f"has padding {options.padding}", "use SAME or VALID padding")
    if min(options.stride_h, options.stride_w, options.dilation_h, options.dilation_w) < 1:
        ctx.reject("has a stride or dilation below 1", "the model file is corrupt")
    stride = (options.stride_h, options.stride_w)
    dilation = (options.dilation_h, options.dilation_w)
    exp_h, pad_top = _out_size_and_padding(options.padding, in_h, k_h, stride[0], dilation[0])
    exp_w, pad_left = _out_size_and_padding(options.padding, in_w, k_w, stride[1], dilation[1])
    if (exp_h, exp_w) != (out_h, out_w):
        ctx.reject(
            f"has output {out_h}x{out_w} where its options give {exp_h}x{exp_w}",
            "the model file is inconsistent",
        )
    quant_axis_size = len(filt.quantization.scales)
    if quant_axis_size not in (1, out_c):
        ctx.reject(
            f"has {quant_axis_size} filter scales for {out_c} channels",
            "the model file is inconsistent",
        )
    in_zp = x.quantization.zero_point
    weights = filt.data.astype(np.int64)
    if depthwise:
        filter_sums = weights.reshape(-1, out_c).sum(axis=0)
        macs_per_output = k_h * k_w
    else:
        filter_sums = weights.reshape(out_c, -1).sum(axis=1)
        macs_per_output = k_h * k_w * in_c
    bias = _bias(ctx, 2, out_c)
    multipliers, shifts = q.per_channel_multipliers(
        x.quantization.scale, filt.quantization.scales, y.quantization.scale, out_c
    )
    act_min, act_max = q.activation_range(
        options.activation, y.quantization.scale, y.quantization.zero_point
    )
    return ctx.spec(
        specs.Conv,
        [x],
        y,
        macs=out_h * out_w * out_c * macs_per_output,
        depthwise=depthwise,
        filter=filt.data,
        bias=bias,
        folded_bias=_fold_bias(ctx, bias, filter_sums, in_zp),
        stride=stride,
        dilation=dilation,
        padding=(pad_top, pad_left),
        input_zero_point=in_zp,
        output_zero_point=y.quantization.zero_point,
        act_min=act_min,
        act_max=act_max,
        multipliers=tuple(multipliers),
        shifts=tuple(shifts),
        depth_multiplier=multiplier,
    )


def _conv2d(ctx: _Context) -> specs.Conv:
    return _conv_like(ctx, depthwise=False)


def _depthwise_conv2d(ctx: _Context) -> specs.Conv:
    return _conv_like(ctx, depthwise=True)


def _average_pool2d(ctx: _Context) -> specs.AveragePool:
    options = ctx.options(ir.Pool2DOptions)
    ctx.activation_fn(options.activation)
    x, y = ctx.activation(0), ctx.activation(0, io="out")
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1:
        ctx.reject("needs 4-D batch-1 input and output", "export the model with batch size 1")
    _, in_h, in_w, channels = x.shape
    if y.shape[3] != channels:
        ctx.reject("changes the channel count", "the model file is inconsistent")
    stride = (options.stride_h, options.stride_w)
    filter_hw = (options.filter_h, options.filter_w)
    if min(stride + filter_hw) < 1:
        ctx.reject("has a filter or stride below 1", "the model file is corrupt")
    out_h, pad_top = _out_size_and_padding(options.padding, in_h, filter_hw[0], stride[0], 1)
    out_w, pad_left = _out_size_and_padding(options.padding, in_w, filter_hw[1], stride[1], 1)
    if (out_h, out_w) != tuple(y.shape[1:3]):
        ctx.reject("has an output size its options do not give", "the model file is inconsistent")
    act_min, act_max = q.activation_range(
        options.activation, y.quantization.scale, y.quantization.zero_point
    )
    return ctx.spec(
        specs.AveragePool,
        [x],
        y,
        stride=stride,
        filter_size=filter_hw,
        padding=(pad_top, pad_left),
        act_min=act_min,
        act_max=act_max,
    )


def _mean(ctx: _Context) -> specs.Mean:
    ctx.options(ir.ReducerOptions)
    x, y = ctx.activation(0), ctx.activation(0, io="out")
    axis = ctx.constant(1, "int32", "axis")
    axes = sorted(int(a) % 4 for a in axis.data.reshape(-1))
    if len(x.shape) != 4 or axes != [1, 2] or x.shape[0] != 1:
        ctx.reject(
            f"reduces axes {axis.data.reshape(-1).tolist()} of a {len(x.shape)}-D tensor",
            "only the mean over height and width of a batch-1 NHWC tensor "
            "(global average pooling) is supported",
        )
    _, height, width, channels = x.shape
    if y.element_count != channels:
        ctx.reject("has an output that does not match its input", "the model is inconsistent")
    multiplier, shift = q.mean_multiplier(
        x.quantization.scale, y.quantization.scale, height * width
    )
    return ctx.spec(
        specs.Mean,
        [x],
        y,
        multiplier=multiplier,
        shift=shift,
        input_zero_point=x.quantization.zero_point,
        output_zero_point=y.quantization.zero_point,
    )


def _fully_connected(ctx: _Context) -> specs.FullyConnected:
    options = ctx.options(ir.FullyConnectedOptions)
    ctx.activation_fn(options.activation)
    if options.weights_format != 0:
        ctx.reject("uses a shuffled weights format", "convert with the default weights format")
    x, y = ctx.activation(0), ctx.activation(0, io="out")
    filt = ctx.constant(1, "int8", "filter")
    _check_no_filter_zero_point(ctx, filt)
    if len(filt.shape) != 2:
        ctx.reject(f"has a {len(filt.shape)}-D filter", "the model file is inconsistent")
    out_c, depth = filt.shape
    if x.element_count % depth or y.shape[-1] != out_c:
        ctx.reject(
            f"has input {list(x.shape)} and filter {list(filt.shape)} that do not match",
            "the model file is inconsistent",
        )
    batches = x.element_count // depth
    per_channel = filt.quantization.per_channel
    if per_channel:
        if len(filt.quantization.scales) != out_c:
            ctx.reject("has a filter scale count that does not match", "the model is inconsistent")
        multipliers, shifts = q.per_channel_multipliers(
            x.quantization.scale, filt.quantization.scales, y.quantization.scale, out_c
        )
    else:
        multiplier, shift = q.fully_connected_multiplier(
            x.quantization.scale, filt.quantization.scale, y.quantization.scale
        )
        multipliers, shifts = [multiplier] * out_c, [shift] * out_c
    bias = _bias(ctx, 2, out_c)
    folded = _fold_bias(
        ctx, bias, filt.data.astype(np.int64).sum(axis=1), x.quantization.zero_point
    )
    act_min, act_max = q.activation_range(
        options.activation, y.quantization.scale, y.quantization.zero_point
    )
    return ctx.spec(
        specs.FullyConnected,
        [x],
        y,
        macs=batches * out_c * depth,
        filter=filt.data,
        bias=bias,
        folded_bias=folded,
        batches=batches,
        depth=depth,
        output_depth=out_c,
        per_channel=per_channel,
        multipliers=tuple(multipliers),
        shifts=tuple(shifts),
        input_zero_point=x.quantization.zero_point,
        output_zero_point=y.quantization.zero_point,
        act_min=act_min,
        act_max=act_max,
    )


def _reshape(ctx: _Context) -> specs.Reshape:
    x, y = ctx.activation(0), ctx.activation(0, io="out")
    if x.element_count != y.element_count:
        ctx.reject(
            f"changes the element count ({list(x.shape)} -> {list(y.shape)})",
            "the model file is inconsistent",
        )
    if x.quantization != y.quantization:
        ctx.reject("changes the quantization", "the model file is inconsistent")
    return ctx.spec(specs.Reshape, [x], y)


def _softmax(ctx: _Context) -> specs.Softmax:
    options = ctx.options(ir.SoftmaxOptions)
    x, y = ctx.activation(0), ctx.activation(0, io="out")
    if y.quantization.zero_point != -128 or np.float32(y.quantization.scale) != np.float32(1 / 256):
        ctx.reject(
            "has an output not quantized with scale 1/256 and zero point -128",
            "TFLM requires that for int8 softmax; convert with the TFLite converter",
        )
    params = q.softmax_params(options.beta, x.quantization.scale)
    depth = x.shape[-1]
    return ctx.spec(
        specs.Softmax,
        [x],
        y,
        rows=x.element_count // depth,
        depth=depth,
        input_multiplier=params.input_multiplier,
        input_left_shift=params.input_left_shift,
        diff_min=params.diff_min,
    )


def _pad(ctx: _Context) -> specs.Pad:
    x, y = ctx.activation(0), ctx.activation(0, io="out")
    paddings_tensor = ctx.tensor(1)
    if (
        paddings_tensor is None
        or not paddings_tensor.is_constant
        or paddings_tensor.dtype not in ("int32", "int64")
    ):
        ctx.reject(
            "has paddings that are not a constant integer tensor",
            "only constant paddings are supported",
        )
    rank = len(x.shape)
    paddings = paddings_tensor.data.reshape(rank, 2).astype(np.int64)
    if rank > 4 or paddings.min() < 0:
        ctx.reject("pads more than 4 dimensions or by a negative amount", _supported_hint())
    expected = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, paddings, strict=True))
    if expected != tuple(y.shape):
        ctx.reject("has an output shape its paddings do not give", "the model is inconsistent")
    front = [0] * (4 - rank)
    return ctx.spec(
        specs.Pad,
        [x],
        y,
        input_dims=specs.nhwc(x.shape),
        output_dims=specs.nhwc(y.shape),
        before=tuple(front + paddings[:, 0].tolist()),
        value=y.quantization.zero_point,
    )


def _add(ctx: _Context) -> specs.Add:
    options = ctx.options(ir.AddOptions)
    ctx.activation_fn(options.activation)
    a, b, y = ctx.activation(0), ctx.activation(1), ctx.activation(0, io="out")
    if a.shape != b.shape or a.shape != y.shape:
        ctx.reject(
            f"broadcasts {list(a.shape)} + {list(b.shape)}",
            "only ADD of two tensors of the same shape is supported",
        )
    params = q.add_params(a.quantization.scale, b.quantization.scale, y.quantization.scale)
    act_min, act_max = q.activation_range(
        options.activation, y.quantization.scale, y.quantization.zero_point
    )
    return ctx.spec(
        specs.Add,
        [a, b],
        y,
        size=y.element_count,
        input1_offset=-a.quantization.zero_point,
        input2_offset=-b.quantization.zero_point,
        output_offset=y.quantization.zero_point,
        left_shift=params.left_shift,
        input1_multiplier=params.input1_multiplier,
        input1_shift=params.input1_shift,
        input2_multiplier=params.input2_multiplier,
        input2_shift=params.input2_shift,
        output_multiplier=params.output_multiplier,
        output_shift=params.output_shift,
        act_min=act_min,
        act_max=act_max,
    )


def _quantize(ctx: _Context) -> specs.Quantize | specs.Requantize:
    source = ctx.tensor(0)
    y = ctx.activation(0, io="out")
    if source is None:
        ctx.reject("has no input", "the model file is incomplete")
    count = y.element_count
    if source.dtype == "float32":
        if source.index not in ctx.graph.inputs:
            ctx.reject(
                "quantizes a float tensor inside the model",
                "float computation is only supported at the model's input",
            )
        x = ctx.activation(0, dtype="float32")
        return ctx.spec(
            specs.Quantize,
            [x],
            y,
            size=count,
            scale=y.quantization.scale,
            zero_point=y.quantization.zero_point,
        )
    x = ctx.activation(0)
    multiplier, shift = q.requantize_multiplier(x.quantization.scale, y.quantization.scale)
    return ctx.spec(
        specs.Requantize,
        [x],
        y,
        size=count,
        multiplier=multiplier,
        shift=shift,
        input_zero_point=x.quantization.zero_point,
        output_zero_point=y.quantization.zero_point,
    )


def _dequantize(ctx: _Context) -> specs.Dequantize:
    x = ctx.activation(0)
    y = ctx.activation(0, io="out", dtype="float32")
    if y.index not in ctx.graph.outputs:
        ctx.reject(
            "dequantizes inside the model",
            "float computation is only supported at the model's output",
        )
    return ctx.spec(
        specs.Dequantize,
        [x],
        y,
        size=x.element_count,
        scale=x.quantization.scale,
        zero_point=x.quantization.zero_point,
    )


_LOWERERS = {
    "CONV_2D": _conv2d,
    "DEPTHWISE_CONV_2D": _depthwise_conv2d,
    "AVERAGE_POOL_2D": _average_pool2d,
    "MEAN": _mean,
    "FULLY_CONNECTED": _fully_connected,
    "RESHAPE": _reshape,
    "SQUEEZE": _reshape,
    "SOFTMAX": _softmax,
    "PAD": _pad,
    "ADD": _add,
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _dequantize,
}
